//! The log cleaner (Kafka's LogCleaner, one thread): compacts topics whose
//! `cleanup.policy` includes `compact`. Each pass picks the dirtiest eligible partition
//! (see `clean::Assessment::eligible`), cleans it (`clean.rs`) and records where its dirty
//! section now starts in `<data-dir>/cleaner-offset-checkpoint` (Kafka's format); with
//! nothing to clean it sleeps `log.cleaner.backoff.ms`. A partition whose cleaning fails
//! is left alone until restart, as Kafka marks it uncleanable.

pub mod clean;
pub mod offset_map;
pub mod txn_meta;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::checkpoint;
use super::manager::LogManager;

const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// `log.cleaner.*` broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`: without it compacted topics are neither compacted nor retained.
    pub enable: bool,
    /// `log.cleaner.backoff.ms`: the sleep when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: the offset map's memory.
    pub dedupe_buffer_size: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            backoff_ms: 15_000,
            dedupe_buffer_size: 128 << 20,
        }
    }
}

/// The cleaner and its checkpoint.
#[derive(Debug)]
pub struct LogCleaner {
    logs: Arc<LogManager>,
    config: CleanerConfig,
    checkpoints: Mutex<BTreeMap<(String, i32), i64>>,
    uncleanable: Mutex<HashSet<(String, i32)>>,
    /// One round at a time: a round writes `<base>.*.cleaned` files.
    round: Mutex<()>,
}

impl LogCleaner {
    pub fn new(logs: Arc<LogManager>, config: CleanerConfig) -> Self {
        let checkpoints = checkpoint::read_offset_checkpoint(&logs.data_dir().join(CHECKPOINT_FILE));
        Self {
            logs,
            config,
            checkpoints: Mutex::new(checkpoints),
            uncleanable: Mutex::new(HashSet::new()),
            round: Mutex::new(()),
        }
    }

    /// The first dirty offset recorded for a partition.
    pub fn checkpoint(&self, topic: &str, partition: i32) -> Option<i64> {
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// Cleans the dirtiest eligible partition, if any; true if one was cleaned. Blocking.
    pub fn clean_dirtiest(&self, now: i64) -> bool {
        let _round = self.round.lock().unwrap_or_else(|e| e.into_inner());
        let skip = self.uncleanable.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut best = None;
        for topic in self.logs.topics() {
            let cfg = topic.config();
            if !cfg.cleanup_policy.compact {
                continue;
            }
            for p in &topic.partitions {
                let id = (topic.name.to_string(), p.index());
                if p.is_fenced() || skip.contains(&id) {
                    continue;
                }
                let a = clean::assess(p, &cfg, self.checkpoint(&id.0, id.1), now);
                if a.eligible(&cfg)
                    && best
                        .as_ref()
                        .is_none_or(|(b, ..): &(clean::Assessment, _, _, _)| a.ratio() > b.ratio())
                {
                    best = Some((a, p.clone(), cfg.clone(), id));
                }
            }
        }
        let Some((a, p, cfg, id)) = best else {
            return false;
        };
        match clean::clean(&p, &cfg, &a, now, self.config.dedupe_buffer_size) {
            Ok(stats) if stats.aborted => {
                tracing::info!(partition = ?p, "cleaning round stopped: part of the log went meanwhile");
                false
            }
            Ok(stats) if stats.end_offset <= a.first_dirty => {
                tracing::warn!(partition = ?p, "cleaning made no progress (is log.cleaner.dedupe.buffer.size too small?)");
                self.uncleanable.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                false
            }
            Ok(stats) => {
                self.checkpoints
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), stats.end_offset);
                if let Err(e) = self.write_checkpoint() {
                    tracing::error!(error = %e, "writing the cleaner checkpoint failed");
                }
                tracing::info!(partition = ?p, dirty_from = a.first_dirty, next_dirty = stats.end_offset, groups = stats.groups, bytes_before = stats.bytes_before, bytes_after = stats.bytes_after, "cleaned log");
                true
            }
            Err(super::LogError::PartitionDeleted) => false,
            Err(e) => {
                tracing::error!(partition = ?p, error = %e, "cleaning failed; the partition is not cleaned again until restart");
                self.uncleanable.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                false
            }
        }
    }

    /// Forgets a deleted topic's checkpoints: a topic created later under the same name
    /// starts dirty from its beginning (Kafka drops the entry on deletion).
    pub fn forget_topic(&self, topic: &str) {
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| t != topic);
        self.uncleanable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _)| t != topic);
        if let Err(e) = self.write_checkpoint() {
            tracing::error!(error = %e, "writing the cleaner checkpoint failed");
        }
    }

    /// Rewrites the checkpoint with the partitions that still exist.
    fn write_checkpoint(&self) -> Result<(), super::LogError> {
        let cps = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let entries: Vec<(String, i32, i64)> = cps
            .into_iter()
            .filter(|((t, p), _)| self.logs.partition(t, *p).is_some())
            .map(|((t, p), o)| (t, p, o))
            .collect();
        checkpoint::write_offset_checkpoint(&self.logs.data_dir().join(CHECKPOINT_FILE), &entries)
    }

    /// Cleans until `shutdown` fires, sleeping `log.cleaner.backoff.ms` when idle.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if !self.config.enable {
            return;
        }
        loop {
            let me = self.clone();
            let cleaned = tokio::task::spawn_blocking(move || me.clean_dirtiest(super::now_ms()))
                .await
                .unwrap_or(false);
            if *shutdown.borrow() {
                return;
            }
            if cleaned {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(self.config.backoff_ms.max(1))) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
