//! Sparse segment indexes on memmap2: the offset index (`.index`) and time index
//! (`.timeindex`), in Kafka's layout.
//!
//! Owns: the index files' bytes and their lookups. Must not touch the `.log` file.
//!
//! ```text
//! .index      8-byte entries:  relativeOffset u32 BE | position u32 BE
//! .timeindex 12-byte entries:  timestamp i64 BE      | relativeOffset u32 BE
//! ```
//!
//! An index being appended to is preallocated to `segment.index.bytes` and trimmed to its
//! entries when the segment is sealed. Indexes are never checksummed: recovery rebuilds them
//! when in doubt. One writer (under the partition's append lock) appends; readers binary
//! search the published prefix without a lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::log::LogError;
use crate::log::segment::file::ReleasableFile;

/// A fixed-size-entry, memory-mapped index file: the part both index kinds share (they
/// deref to it for `len`, `is_full`, `trim`, `flush`, ...).
#[derive(Debug)]
pub struct MmapIndex {
    path: PathBuf,
    /// Holds no descriptor: opened per call (see `with_file`).
    file: ReleasableFile,
    map: MmapRaw,
    entry_size: usize,
    capacity: usize,
    entries: AtomicUsize,
    /// Bytes backed by allocated blocks (writer side), grown in chunks ahead of `push`.
    allocated: AtomicUsize,
}

impl MmapIndex {
    /// Opens (creating if missing) an index whose file holds `existing` valid entries
    /// (derived from the file length), mapped with room for `max_bytes` when `writable`.
    fn open(path: &Path, entry_size: usize, max_bytes: usize, writable: bool) -> Result<Self, LogError> {
        let io = |e| LogError::io(path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        let existing = len / entry_size;
        let capacity = if writable {
            (max_bytes / entry_size).max(existing).max(1)
        } else {
            existing
        };
        let map_len = capacity * entry_size;
        if writable && len != map_len {
            file.set_len(map_len as u64).map_err(io)?;
        }
        let map = MmapOptions::new().len(map_len.max(1)).map_raw(&file).map_err(io)?;
        // No read-around: an index is binary-searched and appended a few bytes at a time, so
        // a fault wants its page only. With the kernel's default (read-around of the device's
        // `read_ahead_kb`, megabytes on many disks) the first append to each new page of the
        // preallocated, sparse file zero-filled megabytes of page cache: as much memory
        // traffic per partition as the records themselves (found profiling the load suite).
        let _ = map.advise(memmap2::Advice::Random);
        // The mapping keeps the file alive; the descriptor is not kept (see `with_file`).
        drop(file);
        Ok(Self {
            path: path.to_path_buf(),
            file: ReleasableFile::closed(path),
            map,
            entry_size,
            capacity,
            entries: AtomicUsize::new(existing),
            allocated: AtomicUsize::new(existing * entry_size),
        })
    }

    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.len());
        // SAFETY: `i` is below the published entry count, which never exceeds the mapped
        // capacity; entries below the count are never written again while mapped, so this
        // shared slice does not alias the writer's region.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(i * self.entry_size), self.entry_size) }
    }

    /// Appends one entry; `Ok(false)` when full. Single writer only (the partition's
    /// append lock). Blocks are allocated ahead so a full disk is an error, not a SIGBUS.
    fn push(&self, entry: &[u8]) -> Result<bool, LogError> {
        let n = self.len();
        if n >= self.capacity {
            return Ok(false);
        }
        let end = (n + 1) * self.entry_size;
        let have = self.allocated.load(Ordering::Relaxed);
        if end > have {
            let want = (have + 8 * 1024).max(end).min(self.capacity * self.entry_size);
            self.with_file(|f| crate::log::allocate(f, &self.path, have, want))?;
            self.allocated.store(want, Ordering::Relaxed);
        }
        // SAFETY: slot `n` lies inside the mapping (n < capacity) and above the published
        // count, so no reader looks at it until the Release store below.
        unsafe {
            std::ptr::copy_nonoverlapping(
                entry.as_ptr(),
                self.map.as_mut_ptr().add(n * self.entry_size),
                self.entry_size,
            );
        }
        self.entries.store(n + 1, Ordering::Release);
        Ok(true)
    }

    /// Forgets entries from `n` on (recovery / truncation; writer side only).
    pub fn truncate_entries(&self, n: usize) {
        self.entries.store(n.min(self.len()), Ordering::Release);
        self.allocated
            .fetch_min(n.min(self.len()) * self.entry_size, Ordering::Relaxed);
    }

    /// Shrinks the file to its entries (on seal and clean shutdown). The mapping stays
    /// valid for the entries below the count.
    pub fn trim(&self, sync: bool) -> Result<(), LogError> {
        let bytes = (self.len() * self.entry_size) as u64;
        let io = |e| LogError::io(&self.path, e);
        if sync {
            self.flush()?;
        }
        self.with_file(|f| {
            f.set_len(bytes).map_err(io)?;
            if sync { f.sync_all().map_err(io) } else { Ok(()) }
        })?;
        Ok(())
    }

    /// Runs `op` on the index file, opened for the call: indexes hold no descriptor, so a
    /// partition costs one (its log) however many there are.
    fn with_file<R>(&self, op: impl FnOnce(&File) -> Result<R, LogError>) -> Result<R, LogError> {
        self.file.with_reopened(op)
    }

    /// fsyncs the file (data and length).
    pub fn sync_file(&self) -> Result<(), LogError> {
        self.with_file(|f| f.sync_all().map_err(|e| LogError::io(&self.path, e)))
    }

    /// Closes the file descriptor; the mapping keeps serving lookups.
    pub fn release_file(&self) {
        self.file.release();
    }

    /// Syncs the entries (not the unused preallocated tail).
    pub fn flush(&self) -> Result<(), LogError> {
        let bytes = self.len() * self.entry_size;
        if bytes == 0 {
            return Ok(());
        }
        self.map.flush_range(0, bytes).map_err(|e| LogError::io(&self.path, e))
    }

    /// Binary search for the last entry whose key (decoded by `key`) is `<= target`.
    fn floor<K: Ord>(&self, target: K, key: impl Fn(&[u8]) -> K) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

macro_rules! deref_to_mmap_index {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = MmapIndex;
            fn deref(&self) -> &MmapIndex {
                &self.inner
            }
        }
    };
}
deref_to_mmap_index!(OffsetIndex);
deref_to_mmap_index!(TimeIndex);

/// `.index`: relative offset -> byte position of the batch starting there.
#[derive(Debug)]
pub struct OffsetIndex {
    base_offset: i64,
    inner: MmapIndex,
}

impl OffsetIndex {
    pub const ENTRY_SIZE: usize = 8;

    pub fn open(path: &Path, base_offset: i64, max_bytes: usize, writable: bool) -> Result<Self, LogError> {
        Ok(Self {
            base_offset,
            inner: MmapIndex::open(path, Self::ENTRY_SIZE, max_bytes, writable)?,
        })
    }

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> (i64, u32) {
        let e = self.inner.entry(i);
        (self.base_offset + u32_at(e, 0) as i64, u32_at(e, 4))
    }

    /// Appends (offset, position); `false` when full (the caller rolls the segment).
    pub fn append(&self, offset: i64, position: u32) -> Result<bool, LogError> {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.inner.push(&e)
    }

    /// Kafka's sanity check on a trusted (clean-shutdown) load, stricter: offsets and
    /// positions strictly increase and every position is inside the segment's `size` bytes.
    /// An error says what is wrong (the caller rebuilds the index from the log).
    pub fn sanity_check(&self, size: usize) -> Result<(), String> {
        let mut prev: Option<(i64, u32)> = None;
        for i in 0..self.len() {
            let (off, pos) = self.entry(i);
            if pos as usize >= size {
                return Err(format!("entry {i} points at byte {pos} of a {size}-byte segment"));
            }
            if let Some((po, pp)) = prev
                && (off <= po || pos <= pp)
            {
                return Err(format!("entry {i} ({off}, {pos}) does not follow ({po}, {pp})"));
            }
            prev = Some((off, pos));
        }
        Ok(())
    }

    /// The greatest indexed (offset, position) with offset `<= target`, or the segment start.
    pub fn lookup(&self, target: i64) -> (i64, u32) {
        let rel = (target - self.base_offset).clamp(0, u32::MAX as i64) as u32;
        match self.inner.floor(rel, |e| u32_at(e, 0)) {
            Some(i) => self.entry(i),
            None => (self.base_offset, 0),
        }
    }
}

/// `.timeindex`: max timestamp so far -> relative offset of the batch that reached it.
#[derive(Debug)]
pub struct TimeIndex {
    base_offset: i64,
    inner: MmapIndex,
}

impl TimeIndex {
    pub const ENTRY_SIZE: usize = 12;

    pub fn open(path: &Path, base_offset: i64, max_bytes: usize, writable: bool) -> Result<Self, LogError> {
        Ok(Self {
            base_offset,
            inner: MmapIndex::open(path, Self::ENTRY_SIZE, max_bytes, writable)?,
        })
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> (i64, i64) {
        let e = self.inner.entry(i);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[..8]);
        (i64::from_be_bytes(ts), self.base_offset + u32_at(e, 8) as i64)
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Appends (timestamp, offset) if `timestamp` is greater than the last entry's, as Kafka.
    /// Records without a timestamp (-1) are never indexed, as in Kafka.
    pub fn maybe_append(&self, timestamp: i64, offset: i64) -> Result<bool, LogError> {
        if timestamp < 0 || offset < self.base_offset {
            return Ok(true);
        }
        if let Some((last, _)) = self.last_entry()
            && timestamp <= last
        {
            return Ok(true);
        }
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.inner.push(&e)
    }

    /// Kafka's sanity check on a trusted load, stricter: timestamps strictly increase (as
    /// [`Self::maybe_append`] writes them) and offsets never go back or reach `end_offset`.
    pub fn sanity_check(&self, end_offset: i64) -> Result<(), String> {
        let mut prev: Option<(i64, i64)> = None;
        for i in 0..self.len() {
            let (ts, off) = self.entry(i);
            if off >= end_offset.max(self.base_offset + 1) {
                return Err(format!(
                    "entry {i} names offset {off}, past the segment's end {end_offset}"
                ));
            }
            if let Some((pt, po)) = prev
                && (ts <= pt || off < po)
            {
                return Err(format!("entry {i} ({ts}, {off}) does not follow ({pt}, {po})"));
            }
            prev = Some((ts, off));
        }
        Ok(())
    }

    /// Offset of the greatest entry with timestamp `<= target`, or the segment's base.
    pub fn lookup(&self, target: i64) -> i64 {
        match self.inner.floor(target, |e| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            i64::from_be_bytes(ts)
        }) {
            Some(i) => self.entry(i).1,
            None => self.base_offset,
        }
    }

    /// Drops entries whose offset is `>= offset` (truncation).
    /// Forgets every entry (recovery rebuilds them). Unlike [`Self::truncate_from_offset`]
    /// it reads none: after a crash the preallocated file's length counts its zero tail as
    /// entries.
    pub fn clear(&self) {
        self.inner.truncate_entries(0);
    }

    pub fn truncate_from_offset(&self, offset: i64) {
        let mut keep = self.len();
        while keep > 0 && self.entry(keep - 1).1 >= offset {
            keep -= 1;
        }
        self.inner.truncate_entries(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_index_lookup_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("00000000000000000100.index");
        let idx = OffsetIndex::open(&p, 100, 80, true).unwrap();
        assert_eq!(idx.lookup(150), (100, 0));
        assert!(idx.append(110, 4096).unwrap());
        assert!(idx.append(130, 8192).unwrap());
        assert_eq!(idx.lookup(105), (100, 0));
        assert_eq!(idx.lookup(110), (110, 4096));
        assert_eq!(idx.lookup(129), (110, 4096));
        assert_eq!(idx.lookup(1000), (130, 8192));
        idx.trim(true).unwrap();
        drop(idx);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 16);
        let idx = OffsetIndex::open(&p, 100, 80, false).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(140), (130, 8192));
    }

    #[test]
    fn offset_index_fills_up() {
        let dir = tempfile::tempdir().unwrap();
        let idx = OffsetIndex::open(&dir.path().join("a.index"), 0, 16, true).unwrap();
        assert!(idx.append(1, 1).unwrap());
        assert!(idx.append(2, 2).unwrap());
        assert!(idx.is_full());
        assert!(!idx.append(3, 3).unwrap());
    }

    #[test]
    fn time_index_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        let idx = TimeIndex::open(&dir.path().join("a.timeindex"), 0, 120, true).unwrap();
        idx.maybe_append(1000, 5).unwrap();
        idx.maybe_append(900, 9).unwrap();
        idx.maybe_append(2000, 20).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(1500), 5);
        assert_eq!(idx.lookup(10), 0);
        assert_eq!(idx.lookup(5000), 20);
        idx.truncate_from_offset(20);
        assert_eq!(idx.last_entry(), Some((1000, 5)));
    }

    proptest! {
        #[test]
        fn lookup_matches_linear_scan(mut deltas in proptest::collection::vec(1u32..50, 1..200), target in 0i64..20_000) {
            let dir = tempfile::tempdir().unwrap();
            let idx = OffsetIndex::open(&dir.path().join("p.index"), 7, 8 * 256, true).unwrap();
            let mut off = 7i64;
            let mut entries = vec![];
            for (i, d) in deltas.drain(..).enumerate() {
                off += d as i64;
                idx.append(off, i as u32 * 10).unwrap();
                entries.push((off, i as u32 * 10));
            }
            let expect = entries.iter().rev().find(|(o, _)| *o <= target).copied().unwrap_or((7, 0));
            prop_assert_eq!(idx.lookup(target), expect);
        }
    }
}
