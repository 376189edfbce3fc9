//! A partition of a cluster's topic changes role as the metadata image says: it becomes
//! the leader at the epoch the controller gave (Kafka's `makeLeader`), so that batches it
//! appends carry that epoch and clients' epochs match it. A partition with replicas on
//! other brokers is *replicated*: its high watermark is what the in-sync replicas hold
//! (the leader advances it) or what the leader said (a follower sets it), never simply
//! its log end.

use std::sync::atomic::Ordering;

use super::{Partition, lock};
use crate::log::LogError;

impl Partition {
    /// Leads from now on at `epoch` (the image's leader epoch): the epoch starts at the log
    /// end in the leader-epoch cache (written durably) and stamps the next appends. An
    /// epoch at or below the current one changes nothing.
    pub fn become_leader_at(&self, epoch: i32) -> Result<(), LogError> {
        let st = lock(&self.append);
        if epoch <= self.leader_epoch.load(Ordering::Acquire) && self.leader_epoch.load(Ordering::Acquire) >= 0 {
            return Ok(());
        }
        let mut epochs = lock(&self.epochs);
        if epochs.assign(epoch, st.next_offset) {
            epochs.write()?;
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        Ok(())
    }
}

impl Partition {
    /// Marks the partition as replicated on other brokers (or not). Turning it off moves
    /// the high watermark to the log end, as a lone replica's appends do.
    pub fn set_replicated(&self, replicated: bool) {
        let was = self.replicated.swap(replicated, Ordering::AcqRel);
        if was && !replicated {
            let st = lock(&self.append);
            self.high_watermark.store(st.next_offset, Ordering::Release);
            drop(st);
            self.waiters.wake_all();
        }
    }

    /// The epoch of the last batch in the log (-1: none): a follower's `last_fetched_epoch`.
    pub fn latest_epoch(&self) -> i32 {
        lock(&self.epochs).latest_epoch().unwrap_or(-1)
    }

    /// Wakes every fetch and produce waiting on this partition (its role changed).
    pub fn wake_waiters(&self) {
        self.waiters.wake_all();
    }

    /// A replicated partition opened from disk does not know what its ISR held: its high
    /// watermark starts at the log start, and the replicas establish it again (the
    /// leader's followers, or the leader's word to a follower). Consumers never see a
    /// tail that may be divergent.
    pub fn forget_high_watermark(&self) {
        let st = lock(&self.append);
        self.high_watermark.store(self.log_start_offset(), Ordering::Release);
        drop(st);
    }

    /// The metadata image found this replica not leading (it follows, or has no leader):
    /// a produce waiting since before then must not be answered by a later leadership of
    /// the same log (whose tail may have been truncated in between).
    pub fn not_leading(&self) {
        self.not_leading.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times [`Self::not_leading`] was called.
    pub fn not_leading_count(&self) -> u64 {
        self.not_leading.load(Ordering::Acquire)
    }

    /// Whether other brokers hold replicas of this partition.
    pub fn is_replicated(&self) -> bool {
        self.replicated.load(Ordering::Acquire)
    }

    /// The leader's high watermark moves forward to `hw` (never back, never past the log
    /// end); fetches and acks=all produces waiting for it wake. Returns whether it moved.
    pub fn advance_high_watermark(&self, hw: i64) -> bool {
        let st = lock(&self.append);
        let hw = hw.min(st.next_offset);
        let moved = self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw;
        drop(st);
        if moved {
            self.waiters.wake_all();
        }
        moved
    }
}
