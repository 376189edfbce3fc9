//! The log cleaner (Kafka's LogCleaner): `log.cleaner.threads` threads compact topics whose
//! `cleanup.policy` includes `compact`. Each pass picks the dirtiest eligible partition no
//! other thread is cleaning (see `clean::Assessment::eligible`), cleans it (`clean.rs`) and
//! records where its dirty section now starts in `<data-dir>/cleaner-offset-checkpoint`
//! (Kafka's format); with nothing to clean a thread sleeps `log.cleaner.backoff.ms`. A
//! partition whose cleaning fails is left alone until restart, as Kafka marks it
//! uncleanable. The thread count, backoff, key-map memory (shared by the threads) and I/O
//! rate limit are dynamic broker configs (`settings.rs`).

pub mod clean;
pub mod offset_map;
pub mod settings;
pub mod throttler;
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
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`: without it compacted topics are neither compacted nor retained.
    pub enable: bool,
    /// `log.cleaner.backoff.ms`: the sleep when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: the offset maps' memory, shared by the threads.
    pub dedupe_buffer_size: usize,
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.io.max.bytes.per.second`: the threads' read plus write rate limit.
    pub io_max_bytes_per_second: f64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            backoff_ms: 15_000,
            dedupe_buffer_size: 128 << 20,
            threads: 1,
            io_max_bytes_per_second: f64::MAX,
        }
    }
}

/// A partition taken by a cleaning thread, released when dropped.
struct Taken<'a>(&'a Mutex<HashSet<(String, i32)>>, (String, i32));

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

/// The cleaner and its checkpoint.
#[derive(Debug)]
pub struct LogCleaner {
    logs: Arc<LogManager>,
    config: CleanerConfig,
    checkpoints: Mutex<BTreeMap<(String, i32), i64>>,
    uncleanable: Mutex<HashSet<(String, i32)>>,
    /// Partitions a thread is cleaning (one round per partition at a time: a round writes
    /// its `<base>.*.cleaned` files).
    in_progress: Mutex<HashSet<(String, i32)>>,
    /// Serializes rewrites of the checkpoint file.
    checkpoint_file: Mutex<()>,
    throttler: throttler::Throttler,
    /// Wakes idle threads and the supervisor when the settings change.
    reconfigured: tokio::sync::Notify,
}

impl LogCleaner {
    pub fn new(logs: Arc<LogManager>, config: CleanerConfig) -> Self {
        let checkpoints = checkpoint::read_offset_checkpoint(&logs.data_dir().join(CHECKPOINT_FILE));
        Self {
            logs,
            checkpoints: Mutex::new(checkpoints),
            uncleanable: Mutex::new(HashSet::new()),
            in_progress: Mutex::new(HashSet::new()),
            checkpoint_file: Mutex::new(()),
            throttler: throttler::Throttler::new(config.io_max_bytes_per_second),
            reconfigured: tokio::sync::Notify::new(),
            config,
        }
    }

    /// The settings in force: `server.properties` with the dynamic broker configs applied
    /// (checked when they were altered).
    pub fn settings(&self) -> CleanerConfig {
        self.config
            .with_dynamic(&self.logs.dynamic_defaults())
            .unwrap_or_else(|_| self.config.clone())
    }

    /// Checks dynamic broker configs `d` as Kafka's `DynamicBrokerConfig.validate` does,
    /// with its messages: a value's type or range as ConfigDef words it, the KafkaConfig
    /// requirement on the key-map memory per thread, then `LogCleaner.validateReconfiguration`
    /// against the settings in force, whose reason Kafka logs and answers "Invalid dynamic
    /// configuration".
    pub fn check_settings(&self, d: &super::manager::broker_defaults::DynamicDefaults) -> Result<(), String> {
        let next = self.config.with_dynamic(d)?;
        next.check_dedupe_per_thread()
            .map_err(|m| format!("requirement failed: {m}"))?;
        next.validate_change(&self.settings()).map_err(|reason| {
            tracing::warn!(%reason, "refused a dynamic log cleaner configuration");
            "Invalid dynamic configuration".to_string()
        })
    }

    /// The dynamic settings changed: the rate limit applies at once, idle threads and the
    /// supervisor re-read the rest now.
    pub fn reconfigured(&self) {
        self.throttler.set_rate(self.settings().io_max_bytes_per_second);
        self.reconfigured.notify_waiters();
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
        let settings = self.settings();
        self.throttler.set_rate(settings.io_max_bytes_per_second);
        let mut skip = self.uncleanable.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        skip.extend(in_progress.iter().cloned());
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
        in_progress.insert(id.clone());
        drop(in_progress);
        // Held until the outcome is recorded, released even by a panic.
        let _taken = Taken(&self.in_progress, id.clone());
        let map_bytes = settings.dedupe_buffer_size / settings.threads.max(1);
        match clean::clean(&p, &cfg, &a, now, map_bytes, &self.throttler) {
            Ok(stats) if stats.aborted => {
                tracing::info!(partition = ?p, "cleaning round stopped: part of the log went meanwhile");
                false
            }
            Ok(stats) if stats.end_offset <= a.first_dirty => {
                tracing::warn!(partition = ?p, "cleaning made no progress (is log.cleaner.dedupe.buffer.size too small?)");
                self.uncleanable.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                false
            }
            // Deleted meanwhile (its topic, or its replica moved away): nothing to record.
            Ok(_) if p.is_deleted() => false,
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
        self.forget(|t, _| t == topic);
    }

    /// Forgets partitions `partitions` of `topic` (hosted here no more): a replica moved
    /// back later starts uncleaned.
    pub fn forget_partitions(&self, topic: &str, partitions: &[i32]) {
        self.forget(|t, p| t == topic && partitions.contains(&p));
    }

    fn forget(&self, gone: impl Fn(&str, i32) -> bool) {
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, p), _| !gone(t, *p));
        self.uncleanable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, p)| !gone(t, *p));
        if let Err(e) = self.write_checkpoint() {
            tracing::error!(error = %e, "writing the cleaner checkpoint failed");
        }
    }

    /// Rewrites the checkpoint with the partitions that still exist.
    fn write_checkpoint(&self) -> Result<(), super::LogError> {
        let _file = self.checkpoint_file.lock().unwrap_or_else(|e| e.into_inner());
        let cps = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let entries: Vec<(String, i32, i64)> = cps
            .into_iter()
            .filter(|((t, p), _)| self.logs.partition(t, *p).is_some())
            .map(|((t, p), o)| (t, p, o))
            .collect();
        checkpoint::write_offset_checkpoint(&self.logs.data_dir().join(CHECKPOINT_FILE), &entries)
    }

    /// Runs `log.cleaner.threads` cleaning threads until `shutdown` fires, following changes
    /// of the count (a thread above it ends after its round).
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if !self.config.enable {
            return;
        }
        // One slot per thread index; a thread above the count ends after its round.
        let mut threads: Vec<Option<tokio::task::JoinHandle<()>>> = Vec::new();
        loop {
            // Registered before the settings are read, so no change goes unnoticed.
            let changed = self.reconfigured.notified();
            let wanted = self.settings().threads.max(1);
            if threads.len() < wanted {
                threads.resize_with(wanted, || None);
            }
            for (index, slot) in threads.iter_mut().enumerate().take(wanted) {
                if slot.as_ref().is_none_or(|t| t.is_finished()) {
                    *slot = Some(tokio::spawn(self.clone().thread(index, shutdown.clone())));
                }
            }
            tokio::select! {
                _ = changed => {}
                _ = shutdown.changed() => break,
            }
        }
        // A round in progress finishes unthrottled.
        self.throttler.stop();
        for t in threads.into_iter().flatten() {
            let _ = t.await;
        }
    }

    /// One cleaning thread: rounds back to back, `log.cleaner.backoff.ms` apart when idle.
    async fn thread(self: Arc<Self>, index: usize, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let changed = self.reconfigured.notified();
            if *shutdown.borrow() || index >= self.settings().threads.max(1) {
                return;
            }
            let me = self.clone();
            let cleaned = tokio::task::spawn_blocking(move || me.clean_dirtiest(super::now_ms()))
                .await
                .unwrap_or(false);
            if cleaned {
                continue;
            }
            let backoff = Duration::from_millis(self.settings().backoff_ms.max(1));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = changed => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
