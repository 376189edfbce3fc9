//! Group commit: at most one fsync in flight per partition, shared by every append that
//! waits for it.
//!
//! An append that needs an fsync raises the partition's wanted durable offset and, if no
//! flusher is running, starts one on the blocking pool. The flusher fsyncs up to the
//! highest offset wanted when it starts, then again while appends arrived meanwhile; each
//! waiter watches the recovery point it publishes. So 16 produces parked on a connection,
//! or 1,000 connections writing one partition, cost a few fsyncs and at most one
//! blocking-pool thread per partition, not one each.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::log::{LogError, Partition};

/// A partition's group-commit state.
#[derive(Debug)]
pub struct GroupCommit {
    /// (highest offset wanted durable, a flusher is running).
    wanted: Mutex<(i64, bool)>,
    /// Everything below `.0` is fsynced; `.1`: an fsync failed (the partition is fenced).
    durable: watch::Sender<(i64, bool)>,
}

impl GroupCommit {
    pub fn new(recovery_point: i64) -> Self {
        GroupCommit {
            wanted: Mutex::new((recovery_point, false)),
            durable: watch::Sender::new((recovery_point, false)),
        }
    }

    /// Publishes the outcome of an fsync (called by every flush of the partition).
    pub fn published(&self, recovery_point: i64, failed: bool) {
        self.durable.send_modify(|d| {
            d.0 = d.0.max(recovery_point);
            d.1 |= failed;
        });
    }

    /// The log was cut at `end`: nothing at or past it is durable any more.
    pub fn truncated(&self, end: i64) {
        self.durable.send_modify(|d| d.0 = d.0.min(end));
        let mut w = self.lock();
        w.0 = w.0.min(end);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (i64, bool)> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Asks for every offset below `up_to` of `p` to be fsynced; the returned waiter resolves
/// once it is. Needs a tokio runtime (the flusher runs on its blocking pool).
pub fn request(p: &Arc<Partition>, up_to: i64) -> FlushWait {
    let gc = p.group_commit();
    let rx = gc.durable.subscribe();
    let start = {
        let mut w = gc.lock();
        w.0 = w.0.max(up_to);
        !std::mem::replace(&mut w.1, true)
    };
    if start {
        let p = p.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                let target = p.group_commit().lock().0;
                let failed = p.flush(target).is_err();
                let mut w = p.group_commit().lock();
                if failed || w.0 <= p.recovery_point() {
                    w.1 = false;
                    return;
                }
            }
        });
    }
    FlushWait { rx, up_to }
}

/// Waits until an append is durable (see [`request`]).
#[derive(Debug)]
pub struct FlushWait {
    rx: watch::Receiver<(i64, bool)>,
    up_to: i64,
}

impl FlushWait {
    /// Ok once everything below the append's end is fsynced; `Fenced` if an fsync failed
    /// first.
    pub async fn wait(mut self) -> Result<(), LogError> {
        let up_to = self.up_to;
        let d = *self
            .rx
            .wait_for(|&(durable, failed)| durable >= up_to || failed)
            .await
            .map_err(|_| LogError::Invalid("partition closed while an fsync was awaited".into()))?;
        if d.0 >= up_to { Ok(()) } else { Err(LogError::Fenced) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::records::Compression;

    use super::*;
    use crate::log::{LogConfig, LogManager, now_ms, test_fixture};

    fn setup() -> (tempfile::TempDir, LogManager, Arc<Partition>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        m.create_topic("t", 1, BTreeMap::new()).unwrap();
        let p = m.partition("t", 0).unwrap();
        let batch = test_fixture::batch_of(2, now_ms(), Compression::None, |i| vec![i as u8; 50]).to_vec();
        (dir, m, p, batch)
    }

    /// Many appends' waiters all resolve, once the recovery point covers them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_waiter_resolves_once_durable() {
        let (_dir, _m, p, batch) = setup();
        let mut waits = vec![];
        for _ in 0..50 {
            let info = p.append(&batch, now_ms()).unwrap();
            waits.push(request(&p, info.last_offset + 1));
        }
        for w in waits {
            w.wait().await.unwrap();
        }
        assert_eq!(p.recovery_point(), 100);
        // Already durable: answered at once.
        request(&p, 100).wait().await.unwrap();
    }

    /// A fenced partition fails its waiters instead of leaving them hanging.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fenced_partition_fails_its_waiters() {
        let (_dir, _m, p, batch) = setup();
        let info = p.append(&batch, now_ms()).unwrap();
        p.fence();
        let r = request(&p, info.last_offset + 1).wait().await;
        assert!(matches!(r, Err(LogError::Fenced)), "{r:?}");
    }
}
