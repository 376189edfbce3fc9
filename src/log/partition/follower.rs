//! What a replica that is not the leader needs from its log, and what the metadata quorum's
//! log needs (Kafka's `UnifiedLog.appendAsFollower`, `truncateTo` and
//! `truncateFullyAndStartAt`):
//! - appending batches that already carry their offsets and leader epochs (the leader
//!   assigned them): only framing and CRC are checked, producer state and the leader-epoch
//!   cache follow the batches, the high watermark does not move (the leader says where it
//!   is, [`Partition::set_high_watermark`]);
//! - cutting a divergent tail (a log written under a leader that lost its leadership) at an
//!   offset, and replacing the whole log by an empty one starting at an offset.
//!
//! A cut never shortens a file that is mapped: readers hold zero-copy `Bytes` of published
//! bytes, and pages past a file's end fault (SIGBUS). The segment holding the cut is copied
//! up to it and swapped in as the log cleaner's output is (`.truncating` for `.cleaned`,
//! then `.swap`, `.deleted`, completed or undone by start-up), so a crash leaves either the old log or the cut one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::leader_epoch::LeaderEpochCache;
use super::producer_state::{ProducerState, list_snapshots, snapshot_path};
use super::{AppendInfo, Partition, lock, rebuild_producers};
use crate::log::record::batch::{self, BatchHeader};
use crate::log::segment::txn_index::AbortedTxn;
use crate::log::segment::{self, Segment};
use crate::log::{LogError, checkpoint};

/// The suffix of a cut segment's copy until it is swapped in (start-up removes leftovers).
pub(crate) const TRUNCATING: &str = ".truncating";

impl Partition {
    /// Appends one batch as the leader wrote it (base offset and partition leader epoch
    /// kept). Its base offset must be the log end offset: brokk's leaders never leave gaps
    /// (its cleaner keeps every batch's offsets), and crash recovery takes a gap in an
    /// appendable segment for a torn append. Returns where it went; blocking only when it
    /// rolls a segment.
    pub fn append_as_follower(&self, data: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let h = BatchHeader::parse_stored(data)?;
        if h.len() != data.len() {
            return Err(LogError::NotOneBatch(2));
        }
        let cfg = self.config();
        let mut st = lock(&self.append);
        self.writable()?;
        if h.base_offset() != st.next_offset {
            return Err(LogError::Invalid(format!(
                "a replicated batch at offset {} where the log ends at {}",
                h.base_offset(),
                st.next_offset
            )));
        }
        let rolled = self.maybe_roll(&mut st, &cfg, data, now_ms)?;
        let (base_offset, last_offset) = st.active()?.append(data, |_| {}).inspect_err(|e| {
            if matches!(e, LogError::Io { .. }) {
                self.storage_failed(e);
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "replicated append failed; partition fenced");
            }
        })?;
        st.next_offset = last_offset + 1;
        self.log_end_offset.store(st.next_offset, Ordering::Release);
        if h.partition_leader_epoch() >= 0 {
            let mut epochs = lock(&self.epochs);
            // The file is a cache: start-up completes it from the batches' epochs.
            if epochs.assign(h.partition_leader_epoch(), base_offset)
                && let Err(e) = epochs.write()
            {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the leader-epoch checkpoint failed");
            }
        }
        if h.producer_id() >= 0 {
            if !h.is_control() {
                st.producers.update(&h, base_offset, h.max_timestamp());
            } else if let Some(commit) = batch::marker_is_commit(&h) {
                let done = st.producers.complete_txn(
                    h.producer_id(),
                    h.producer_epoch(),
                    -1,
                    base_offset,
                    commit,
                    h.max_timestamp(),
                );
                if let Some(t) = done.filter(|t| !t.committed) {
                    let lso = st.producers.first_unstable_offset().unwrap_or(st.next_offset);
                    let entry = AbortedTxn {
                        producer_id: t.producer_id,
                        first_offset: t.first_offset,
                        last_offset: t.last_offset,
                        last_stable_offset: lso,
                    };
                    if let Err(e) = st.active()?.txn_index().append(entry) {
                        self.storage_failed(&e);
                        return Err(e);
                    }
                }
            }
            let fu = st.producers.first_unstable_offset().unwrap_or(-1);
            self.first_unstable.store(fu, Ordering::Release);
        }
        let needs_flush = st.next_offset - self.recovery_point() >= cfg.flush_messages;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset(),
            needs_flush,
            rolled,
        })
    }

    /// Moves the high watermark a leader announced (never past the log end offset), and
    /// wakes fetches waiting for it.
    pub fn set_high_watermark(&self, hw: i64) {
        // Under the append lock: a cut cannot lower the log end in between.
        let st = lock(&self.append);
        let hw = hw.min(st.next_offset).max(self.log_start_offset());
        let moved = self.high_watermark.swap(hw, Ordering::AcqRel) != hw;
        drop(st);
        if moved {
            self.waiters.wake_all();
        }
    }

    /// Removes every batch at or past `offset` (a batch holding `offset` goes whole, so the
    /// log end offset may end below `offset`). Returns whether anything was removed.
    pub fn truncate_to(&self, offset: i64) -> Result<bool, LogError> {
        let cfg = self.config();
        // No flush may run across a cut: it would mark as durable what it read before the
        // cut, over offsets written again after it.
        let flush_guard = lock(&self.flush_lock);
        let mut st = lock(&self.append);
        self.writable()?;
        if offset >= st.next_offset {
            // Nothing to cut but epochs begun at or past it (a leadership that wrote
            // nothing), as Kafka's `truncateTo` drops them from the cache.
            let mut epochs = lock(&self.epochs);
            if epochs.truncate_from_end(offset)
                && let Err(e) = epochs.write()
            {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the leader-epoch checkpoint failed");
            }
            return Ok(false);
        }
        if offset <= self.log_start_offset() {
            drop(st);
            drop(flush_guard);
            return self.truncate_fully_and_start_at(offset).map(|()| true);
        }
        let segs = self.segments();
        let at = segs.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let held = &segs[at];
        // The end of the last batch wholly below the cut (the segment's base if none is).
        let kept_end = held
            .batches()
            .take_while(|b| b.last_offset() < offset)
            .last()
            .map_or(held.base_offset(), |b| b.last_offset() + 1);
        let dir = self.dir.clone();
        let fence = |e: LogError| self.cut_failed(e);
        // The later segments go first: a crash from here on leaves a shorter log whose tail
        // is still divergent, which the replica truncates again after its restart.
        // Highest first: a crash midway leaves a shorter log, never one with a hole.
        for s in segs[at + 1..].iter().rev() {
            s.mark_deleted();
            segment::rename_files(&dir, s.base_offset(), "", ".deleted").map_err(fence)?;
        }
        let base = held.base_offset();
        // Its own suffix: the cleaner writes `.cleaned` files without the append lock.
        let copy = Segment::create_with_suffix(&dir, base, &cfg, held.size(), TRUNCATING).map_err(fence)?;
        for b in held.batches().take_while(|b| b.last_offset() < offset) {
            copy.append(b.bytes(), |_| {}).map_err(fence)?;
        }
        let mut aborted = vec![];
        held.txn_index().overlapping(base, kept_end, &mut aborted);
        for t in aborted.into_iter().filter(|t| t.last_offset < kept_end) {
            copy.txn_index().append(t).map_err(fence)?;
        }
        copy.trim_files(true).map_err(fence)?;
        drop(copy);
        segment::rename_files(&dir, base, TRUNCATING, ".swap").map_err(fence)?;
        checkpoint::sync_dir(&dir).map_err(fence)?;
        held.mark_deleted();
        segment::rename_files(&dir, base, "", ".deleted").map_err(fence)?;
        segment::rename_files(&dir, base, ".swap", "").map_err(fence)?;
        checkpoint::sync_dir(&dir).map_err(fence)?;
        let active = Arc::new(Segment::open(&dir, base, &cfg, true).map_err(fence)?);
        let mut next: Vec<Arc<Segment>> = segs[..at].to_vec();
        next.push(active.clone());
        self.set_segments(next);
        st.active = Some(active);
        st.next_offset = kept_end;
        self.remove_cut_files(&segs[at..]);
        self.after_truncation(&mut st, kept_end);
        tracing::info!(topic = %self.topic, partition = self.index, offset, log_end_offset = kept_end, "truncated the log");
        Ok(true)
    }

    /// Replaces the whole log by an empty one whose log start (and end) offset is `offset`
    /// (a follower far behind a leader whose log starts later).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let cfg = self.config();
        let _flush = lock(&self.flush_lock);
        let mut st = lock(&self.append);
        self.writable()?;
        let dir = self.dir.clone();
        let segs = self.segments();
        let fence = |e: LogError| self.cut_failed(e);
        for s in segs.iter().rev() {
            s.mark_deleted();
            segment::rename_files(&dir, s.base_offset(), "", ".deleted").map_err(fence)?;
        }
        let fresh = Arc::new(Segment::create(&dir, offset, &cfg, 0).map_err(fence)?);
        checkpoint::sync_dir(&dir).map_err(fence)?;
        self.remove_cut_files(&segs);
        for snapshot in list_snapshots(&dir) {
            let _ = std::fs::remove_file(snapshot_path(&dir, snapshot));
        }
        self.set_segments(vec![fresh.clone()]);
        st.active = Some(fresh);
        st.next_offset = offset;
        st.producers = ProducerState::default();
        self.log_start_offset.store(offset, Ordering::Release);
        self.high_watermark.store(offset, Ordering::Release);
        {
            let mut epochs = lock(&self.epochs);
            *epochs = LeaderEpochCache::empty(&dir);
            if let Err(e) = epochs.write() {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the leader-epoch checkpoint failed");
            }
        }
        self.after_truncation(&mut st, offset);
        tracing::info!(topic = %self.topic, partition = self.index, offset, "replaced the log by an empty one");
        Ok(())
    }

    /// A deleted or fenced partition takes no write.
    fn writable(&self) -> Result<(), LogError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::PartitionDeleted);
        }
        if self.is_fenced() {
            return Err(LogError::Fenced);
        }
        Ok(())
    }

    /// A cut that failed midway fences the partition (start-up finishes or undoes it).
    fn cut_failed(&self, e: LogError) -> LogError {
        self.storage_failed(&e);
        tracing::error!(topic = %self.topic, partition = self.index, error = %e, "truncation failed; partition fenced until restart");
        e
    }

    /// Unlinks the `.deleted` files of the segments a cut removed (start-up retries).
    fn remove_cut_files(&self, segs: &[Arc<Segment>]) {
        for s in segs {
            if let Err(e) = segment::delete_files(&self.dir, s.base_offset(), ".deleted") {
                tracing::warn!(partition = ?self, error = %e, "removing a truncated segment's files failed (start-up retries)");
            }
        }
    }

    /// What follows every cut at `end`: producer state rebuilt, epochs past it dropped, the
    /// high watermark, recovery point and stable offset no further than it.
    fn after_truncation(&self, st: &mut super::AppendState, end: i64) {
        let segs = self.segments();
        st.producers = rebuild_producers(&self.dir, &segs, self.log_start_offset(), end);
        let fu = st.producers.first_unstable_offset().unwrap_or(-1);
        self.first_unstable.store(fu, Ordering::Release);
        {
            let mut epochs = lock(&self.epochs);
            if epochs.truncate_from_end(end)
                && let Err(e) = epochs.write()
            {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the leader-epoch checkpoint failed");
            }
        }
        self.log_end_offset.store(end, Ordering::Release);
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        self.recovery_point.fetch_min(end, Ordering::AcqRel);
        self.group_commit.truncated(end);
        self.dir_dirty.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
