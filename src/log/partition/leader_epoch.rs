//! A partition's leader-epoch cache (KIP-101): the first offset written under each leader
//! epoch, as Kafka's `LeaderEpochFileCache`, persisted in the partition directory as
//! `leader-epoch-checkpoint` in Kafka's checkpoint format:
//!
//! ```text
//! 0                 version
//! 2                 entry count
//! 0 0               <epoch> <start offset>, ascending in both
//! 2 120
//! ```
//!
//! brokk is the only replica and leads every partition. As on a single KRaft broker, a new
//! partition starts at leader epoch 0, and every broker start elects the leader again two
//! epochs later (the controller first fences the restarted broker, leaving the partition
//! leaderless for one epoch); becoming leader records the new epoch at the log end offset.
//! OffsetForLeaderEpoch, ListOffsets and Fetch's truncation checks read this cache.
//!
//! The file is rewritten (temp file and rename, not fsynced) whenever an entry changes. A
//! missing or unreadable file is rebuilt from the epochs stamped on the log's batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::log::LogError;
use crate::log::segment::Segment;

pub const FILE: &str = "leader-epoch-checkpoint";

/// Epochs a broker start adds: one for the fenced leaderless state, one for re-election.
pub const EPOCHS_PER_START: i32 = 2;

/// The first offset of one leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The cache of one partition; callers serialize access.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache for a new partition in `dir`.
    pub fn empty(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE),
            entries: Vec::new(),
        }
    }

    /// Loads the cache of a partition in `dir` and becomes its leader, as `makeLeader` after
    /// the controller's new epoch:
    /// - a readable checkpoint: [`EPOCHS_PER_START`] above the last epoch in it (read before
    ///   recovery's cut, so an epoch whose data a crash lost still counts) or on the log's last
    ///   batch, whichever is larger;
    /// - no checkpoint, or an unreadable or empty one: `epoch_if_lost`, or two above the last
    ///   batch's epoch if that is larger (a new partition passes 0; a loaded one a bound no
    ///   earlier start can have reached, so epochs never go back).
    ///
    /// Entries the checkpoint lacks (it was lost, or an older version survived a crash) are
    /// recovered from the epochs stamped on the batches, then cut to `[log_start, log_end)`.
    /// The new epoch is recorded at the log end and the checkpoint rewritten (made durable by
    /// the caller's sync of the data directory before any client sees the epoch).
    pub fn become_leader(
        dir: &Path,
        segments: &[Arc<Segment>],
        log_start: i64,
        log_end: i64,
        epoch_if_lost: i32,
    ) -> Result<(i32, Self), LogError> {
        let (mut cache, last_led, last_stamped) = Self::read(dir, segments, log_start, log_end);
        let after_stamped = last_stamped.map_or(0, |e| e.saturating_add(EPOCHS_PER_START));
        let epoch = match last_led {
            Some(led) => after_stamped.max(led.saturating_add(EPOCHS_PER_START)),
            None => after_stamped.max(epoch_if_lost),
        };
        cache.assign(epoch, log_end);
        cache.write()?;
        Ok((epoch, cache))
    }

    /// The cache of a log this broker does not lead (a follower's, the metadata quorum's):
    /// the checkpoint file completed from the epochs stamped on the batches, no epoch of
    /// its own added.
    pub fn load(dir: &Path, segments: &[Arc<Segment>], log_start: i64, log_end: i64) -> Result<Self, LogError> {
        let (cache, ..) = Self::read(dir, segments, log_start, log_end);
        cache.write()?;
        Ok(cache)
    }

    /// The checkpoint file's entries completed from the log (see [`Self::become_leader`]),
    /// with the file's last epoch and the log's last stamped one.
    fn read(dir: &Path, segments: &[Arc<Segment>], log_start: i64, log_end: i64) -> (Self, Option<i32>, Option<i32>) {
        let mut cache = Self::empty(dir);
        let read = std::fs::read_to_string(&cache.path).ok().and_then(|t| parse(&t));
        let last_led = read.as_ref().and_then(|e| e.last()).map(|e| e.epoch);
        cache.entries = read.unwrap_or_default();
        let first_stamped = stamped_epoch(segments.iter().find(|s| !s.is_empty()), true);
        let last_stamped = stamped_epoch(segments.iter().rev().find(|s| !s.is_empty()), false);
        if last_stamped > cache.latest_epoch() {
            match cache.entries.last().map(|e| e.start_offset) {
                // One epoch throughout (every log older brokk wrote): no need to read it all.
                None if first_stamped == last_stamped => {
                    cache.assign(last_stamped.unwrap_or(0), log_start);
                }
                from => cache.fill_from_log(segments, from.unwrap_or(log_start)),
            }
        }
        cache.truncate_from_end(log_end);
        cache.truncate_from_start(log_start);
        (cache, last_led, last_stamped)
    }

    /// Assigns the epochs stamped on the batches at or after `from` (as Kafka's segment
    /// recovery does).
    fn fill_from_log(&mut self, segments: &[Arc<Segment>], from: i64) {
        for seg in segments.iter().filter(|s| s.end_offset() > from) {
            seg.for_each_batch(from.max(seg.base_offset()), |h| {
                self.assign(h.partition_leader_epoch(), h.base_offset().max(from));
            });
        }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, as `LeaderEpochFileCache.assign`:
    /// nothing changes if it is already the latest epoch at or before that offset;
    /// otherwise entries with a later or equal epoch or start offset are dropped first.
    /// Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.entries.last()
            && last.epoch == epoch
            && start_offset >= last.start_offset
        {
            return false;
        }
        while let Some(last) = self.entries.last() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        self.entries.push(EpochEntry { epoch, start_offset });
        true
    }

    /// The log start moved to `start`: entries that begin at or below it go, except the
    /// last of them, which now begins at `start`. Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start: i64) -> bool {
        let below = self.entries.iter().take_while(|e| e.start_offset <= start).count();
        if below == 0 {
            return false;
        }
        let mut first = self.entries[below - 1];
        if below == 1 && first.start_offset == start {
            return false;
        }
        first.start_offset = start;
        self.entries.drain(..below);
        self.entries.insert(0, first);
        true
    }

    /// The log was cut at `end`: entries starting at or after it go.
    pub fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end);
        self.entries.len() != before
    }

    /// The epoch `offset` was written under, as `epochForOffset`: the last entry starting
    /// at or before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .take_while(|e| e.start_offset <= offset)
            .last()
            .map(|e| e.epoch)
    }

    /// Where `requested` ends, as `LeaderEpochFileCache.endOffsetFor`: `(epoch, end offset)`
    /// with `(-1, -1)` for an unknown epoch.
    /// - the latest epoch ends at the log end offset;
    /// - an earlier known one ends where the next epoch starts, reported with the largest
    ///   epoch at or below it;
    /// - one below every entry ends at the first entry's start (its data is gone);
    /// - -1 and epochs above the latest are unknown.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        const UNDEFINED: (i32, i64) = (-1, -1);
        if requested == -1 {
            return UNDEFINED;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return UNDEFINED;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// Rewrites the checkpoint (temp file and rename), see [`write_entries`].
    pub fn write(&self) -> Result<(), LogError> {
        write_entries(&self.path, &self.entries)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `entries` to the checkpoint at `path` (temp file and rename, not fsynced: a torn
/// or lost file only makes the next start lead at its `epoch_if_lost` bound, and the
/// entries come back from the batches).
pub fn write_entries(path: &Path, entries: &[EpochEntry]) -> Result<(), LogError> {
    let mut s = format!("0\n{}\n", entries.len());
    for e in entries {
        s.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s).map_err(|e| LogError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LogError::io(path, e))
}

/// The epoch on the first (`first`) or last batch of `seg`, if it has one (-1 = none).
fn stamped_epoch(seg: Option<&Arc<Segment>>, first: bool) -> Option<i32> {
    let seg = seg?;
    let epoch = if first {
        seg.batches().next().map(|h| h.partition_leader_epoch())
    } else {
        let mut last = None;
        seg.for_each_batch(seg.end_offset() - 1, |h| last = Some(h.partition_leader_epoch()));
        last
    };
    epoch.filter(|e| *e >= 0)
}

/// Parses Kafka's checkpoint text: version 0, a count, then that many ascending
/// `epoch offset` lines. `None` if anything is off.
fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let n: usize = lines.next()?.trim().parse().ok()?;
    let mut out: Vec<EpochEntry> = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let line = lines.next()?;
        let mut parts = line.split_whitespace();
        let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let entry = EpochEntry {
            epoch: e.parse().ok()?,
            start_offset: o.parse().ok()?,
        };
        if entry.epoch < 0
            || entry.start_offset < 0
            || out
                .last()
                .is_some_and(|l| l.epoch >= entry.epoch || l.start_offset > entry.start_offset)
        {
            return None;
        }
        out.push(entry);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::empty(Path::new("/nonexistent"));
        for &(e, o) in entries {
            assert!(c.assign(e, o));
        }
        c
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries().iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    #[test]
    fn assign_follows_kafka() {
        let mut c = cache(&[(0, 0), (2, 10)]);
        assert!(!c.assign(2, 15), "same epoch later: no change");
        assert!(c.assign(4, 10), "a new epoch at the same offset replaces the empty one");
        assert_eq!(pairs(&c), vec![(0, 0), (4, 10)]);
        assert!(c.assign(3, 5), "an older epoch truncates what follows");
        assert_eq!(pairs(&c), vec![(0, 0), (3, 5)]);
        assert!(!c.assign(-1, 7));
    }

    #[test]
    fn end_offsets_as_kafka() {
        let c = cache(&[(2, 5), (4, 10), (8, 20)]);
        assert_eq!(c.end_offset_for(8, 30), (8, 30), "latest ends at the log end");
        assert_eq!(c.end_offset_for(4, 30), (4, 20));
        assert_eq!(c.end_offset_for(6, 30), (4, 20), "an unknown epoch between entries");
        assert_eq!(c.end_offset_for(0, 30), (0, 5), "below every entry");
        assert_eq!(c.end_offset_for(9, 30), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 30), (-1, -1));
        assert_eq!(c.epoch_for_offset(4), None);
        assert_eq!(c.epoch_for_offset(5), Some(2));
        assert_eq!(c.epoch_for_offset(19), Some(4));
        assert_eq!(c.epoch_for_offset(99), Some(8));
    }

    #[test]
    fn truncation_and_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        c.assign(0, 0);
        c.assign(2, 10);
        c.assign(4, 20);
        assert!(c.truncate_from_start(12));
        assert_eq!(pairs(&c), vec![(2, 12), (4, 20)]);
        assert!(!c.truncate_from_start(12));
        assert!(c.truncate_from_end(20));
        assert_eq!(pairs(&c), vec![(2, 12)]);
        c.write().unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(FILE)).unwrap(), "0\n1\n2 12\n");
        let (epoch, loaded) = LeaderEpochCache::become_leader(dir.path(), &[], 0, 100, 50).unwrap();
        assert_eq!((epoch, pairs(&loaded)), (4, vec![(2, 12), (4, 100)]));
        // Recovery cut the log below epoch 4's start: it still counts.
        let (epoch, loaded) = LeaderEpochCache::become_leader(dir.path(), &[], 0, 12, 50).unwrap();
        assert_eq!((epoch, pairs(&loaded)), (6, vec![(6, 12)]));
        // A lost or torn checkpoint: the bound the caller gives.
        std::fs::write(dir.path().join(FILE), "0\n2\n6 12\n").unwrap();
        let (epoch, _) = LeaderEpochCache::become_leader(dir.path(), &[], 0, 12, 50).unwrap();
        assert_eq!(epoch, 50);
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        let (epoch, _) = LeaderEpochCache::become_leader(dir.path(), &[], 0, 0, 0).unwrap();
        assert_eq!(epoch, 0, "a new partition");
        for bad in ["1\n1\n2 12\n", "0\n2\n2 12\n", "0\n2\n4 1\n2 5\n", "0\n1\nx 1\n"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
