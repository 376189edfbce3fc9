//! Producer id allocation. Ids are reserved in blocks of [`BLOCK`]: the end of the current
//! block is written (and fsynced) to `<data-dir>/producer-id-block` before any id in it is
//! handed out, so after a crash the next start continues above every id ever given.
//!
//! File format: one line, `next_block_start=<i64>`.
//!
//! In a cluster, blocks come from the active controller instead ([`BlockSource`], Kafka's
//! AllocateProducerIds), so no two brokers give out the same id.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::log::LogError;
use crate::log::checkpoint;

/// Ids reserved per durable write.
pub const BLOCK: i64 = 1000;
const FILE: &str = "producer-id-block";
const KEY: &str = "next_block_start";

#[derive(Debug)]
struct Range {
    next: i64,
    end: i64,
}

/// Gets the next block of producer ids from the cluster: (first id, count).
pub type BlockSource = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(i64, i64), String>> + Send>> + Send + Sync,
>;

/// Hands out producer ids.
pub struct ProducerIdManager {
    path: PathBuf,
    range: Mutex<Range>,
    /// The cluster's blocks (set once, at start, with a quorum).
    cluster: std::sync::OnceLock<BlockSource>,
    /// The cluster block being handed out.
    cluster_range: tokio::sync::Mutex<Range>,
}

impl std::fmt::Debug for ProducerIdManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerIdManager")
            .field("path", &self.path)
            .field("cluster", &self.cluster.get().is_some())
            .finish()
    }
}

impl ProducerIdManager {
    /// Reads the reservation file of `data_dir` (no id is handed out from an old block).
    pub fn open(data_dir: &Path) -> Result<Self, LogError> {
        let path = data_dir.join(FILE);
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .strip_prefix(&format!("{KEY}="))
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .ok_or_else(|| LogError::Invalid(format!("{} is malformed: {text:?}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(LogError::io(&path, e)),
        };
        Ok(Self {
            path,
            range: Mutex::new(Range {
                next: start,
                end: start,
            }),
            cluster: std::sync::OnceLock::new(),
            cluster_range: tokio::sync::Mutex::new(Range { next: 0, end: 0 }),
        })
    }

    /// Takes blocks from `source` (the cluster's controller) from now on.
    pub fn use_cluster_blocks(&self, source: BlockSource) {
        let _ = self.cluster.set(source);
    }

    /// The next producer id: from the cluster's blocks with a quorum, else from this
    /// broker's own ([`Self::next_id`], on a blocking thread).
    pub async fn next_id_async(self: &Arc<Self>) -> Result<i64, LogError> {
        let Some(source) = self.cluster.get() else {
            let me = self.clone();
            return tokio::task::spawn_blocking(move || me.next_id())
                .await
                .map_err(|e| LogError::Invalid(format!("producer id task failed: {e}")))?;
        };
        let mut r = self.cluster_range.lock().await;
        if r.next >= r.end {
            let (start, len) = source().await.map_err(LogError::Invalid)?;
            *r = Range {
                next: start,
                end: start.saturating_add(len),
            };
        }
        let id = r.next;
        r.next += 1;
        Ok(id)
    }

    /// The next producer id; reserves a new block first when the current one is used up
    /// (blocking: a small fsynced write every [`BLOCK`] ids).
    pub fn next_id(&self) -> Result<i64, LogError> {
        let mut r = self.range.lock().unwrap_or_else(|p| p.into_inner());
        if r.next >= r.end {
            let end = r
                .next
                .checked_add(BLOCK)
                .ok_or_else(|| LogError::Invalid("producer ids exhausted".into()))?;
            checkpoint::write_atomic(&self.path, format!("{KEY}={end}\n"))?;
            r.end = end;
        }
        let id = r.next;
        r.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let a: Vec<i64> = (0..3).map(|_| m.next_id().unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(m);
        // A restart (or crash) skips the rest of the reserved block.
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.next_id().unwrap(), BLOCK);
        for _ in 0..BLOCK {
            m.next_id().unwrap();
        }
        assert_eq!(m.next_id().unwrap(), 2 * BLOCK + 1);
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert!(ProducerIdManager::open(dir.path()).is_err());
    }
}
