//! One log segment: a memory-mapped `.log` file plus its `.index` and `.timeindex`.
//!
//! Owns: writing batch bytes into the mapping, publishing how far they reach, and reading
//! published bytes back as zero-copy `Bytes`. Must not decide *when* to roll or delete
//! (that is `partition.rs`).
//!
//! The active segment's `.log` is preallocated (sparse, `set_len`) to its capacity and
//! mapped once. One writer (under the partition's append lock) copies a batch above the
//! published size, then publishes the new size with a Release store; readers load the size
//! with Acquire and only touch bytes below it, so the two never alias. Sealing trims the file
//! to its data; a crash leaves the zero tail that recovery truncates.

pub mod file;
pub mod index;
pub mod mapping;
pub mod txn_index;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use bytes::Bytes;
use memmap2::MmapOptions;

use crate::log::record::batch::{self, BatchHeader};
use crate::log::segment::file::ReleasableFile;
use crate::log::segment::index::{OffsetIndex, TimeIndex};
use crate::log::segment::mapping::LogMap;
use crate::log::segment::txn_index::TxnIndex;
use crate::log::{LogConfig, LogError};

/// `<base_offset:020>.<ext>` inside a partition directory.
pub fn file_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// A segment's files, in the order Kafka renames them.
pub const EXTENSIONS: [&str; 4] = ["log", "index", "timeindex", "txnindex"];

/// Renames segment `base_offset`'s files from suffix `from` to suffix `to` (`""`,
/// `.cleaned`, `.swap`, `.deleted`), log first; a missing file (no `.txnindex`) is fine.
pub fn rename_files(dir: &Path, base_offset: i64, from: &str, to: &str) -> Result<(), LogError> {
    for ext in EXTENSIONS {
        let src = file_path(dir, base_offset, &format!("{ext}{from}"));
        match std::fs::rename(&src, file_path(dir, base_offset, &format!("{ext}{to}"))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&src, e)),
        }
    }
    Ok(())
}

/// A segment of a partition's log.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// Open only while needed (appending, recovery, trimming): sealed segments live on
    /// their mapping alone, so they cost no file descriptor.
    file: ReleasableFile,
    map: Arc<LogMap>,
    /// Published bytes: readers may read `[0, size)`.
    size: AtomicUsize,
    /// One past the last offset stored in this segment (`base_offset` when empty).
    end_offset: AtomicI64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Largest batch max timestamp and the last offset of that batch (-1 when empty).
    max_timestamp: AtomicI64,
    offset_of_max_timestamp: AtomicI64,
    /// Max timestamp of the first batch, for `segment.ms` (i64::MIN when empty).
    first_batch_timestamp: AtomicI64,
    /// Wall-clock creation (or open) time, for `segment.ms` without timestamps.
    created_ms: i64,
    /// Bytes of the file backed by allocated blocks (writer side): appends allocate ahead
    /// with `posix_fallocate`, so a full disk is an I/O error, never a SIGBUS in the mapping.
    allocated: AtomicUsize,
    /// Bytes already fsynced.
    flushed: AtomicUsize,
    bytes_since_index: AtomicUsize,
    sealed: AtomicBool,
    /// Its files were deleted (retention, DeleteRecords, compaction's swap): nothing of it
    /// is left to make durable.
    deleted: AtomicBool,
    index_interval: usize,
    /// The offset index file did not exist when the segment was opened.
    index_was_missing: bool,
    /// Transactions aborted by markers in this segment.
    txn_index: TxnIndex,
    /// Wall-clock time of the last append (0: none since open), for [`Segment::release_if_idle`].
    last_append_ms: AtomicI64,
}

impl Segment {
    /// Creates a new, empty active segment.
    pub fn create(dir: &Path, base_offset: i64, cfg: &LogConfig, min_capacity: usize) -> Result<Self, LogError> {
        Self::create_with_suffix(dir, base_offset, cfg, min_capacity, "")
    }

    /// Creates a new, empty segment whose files carry `suffix` after their extension
    /// (`.cleaned`: the log cleaner's output, renamed into place once complete).
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        cfg: &LogConfig,
        min_capacity: usize,
        suffix: &str,
    ) -> Result<Self, LogError> {
        let log_path = file_path(dir, base_offset, &format!("log{suffix}"));
        for ext in EXTENSIONS {
            let p = file_path(dir, base_offset, &format!("{ext}{suffix}"));
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| LogError::io(&p, e))?;
            }
        }
        let capacity = (cfg.segment_bytes as usize).max(min_capacity);
        let seg = Self::open_inner(dir, base_offset, cfg, &log_path, capacity, 0, true, true, suffix)?;
        if cfg.preallocate {
            // `preallocate=true`: the whole file's blocks now, not 4 MiB ahead of the writer.
            seg.ensure_allocated(capacity, 0)?;
        }
        Ok(seg)
    }

    /// Opens an existing segment. `active` segments are remapped with room to grow; their
    /// data size is `known_size` (clean shutdown: the trimmed file length) or must be
    /// established by [`Segment::recover`].
    pub fn open(dir: &Path, base_offset: i64, cfg: &LogConfig, active: bool) -> Result<Self, LogError> {
        let seg = Self::open_existing(dir, base_offset, cfg, active, false)?;
        seg.load_tail_state();
        Ok(seg)
    }

    /// Opens a segment whose data and indexes are not trusted (it is about to be
    /// [`Segment::recover`]ed or deleted): nothing is read. After a crash a preallocated
    /// file's length says nothing about its data, and reading the "last" index entry of a
    /// sparse file faults in (and zero-fills) megabytes of readahead.
    /// Its indexes are mapped writable at full size (a sealed segment's too), so the
    /// rebuild can write every entry; the caller trims them afterwards.
    pub fn open_for_recovery(dir: &Path, base_offset: i64, cfg: &LogConfig, active: bool) -> Result<Self, LogError> {
        Self::open_existing(dir, base_offset, cfg, active, true)
    }

    fn open_existing(
        dir: &Path,
        base_offset: i64,
        cfg: &LogConfig,
        active: bool,
        rebuild: bool,
    ) -> Result<Self, LogError> {
        let log_path = file_path(dir, base_offset, "log");
        let len = std::fs::metadata(&log_path)
            .map_err(|e| LogError::io(&log_path, e))?
            .len() as usize;
        let capacity = if active {
            (cfg.segment_bytes as usize).max(len)
        } else {
            len
        };
        let seg = Self::open_inner(dir, base_offset, cfg, &log_path, capacity, len, active, rebuild, "")?;
        seg.sealed.store(!active, Ordering::Relaxed);
        Ok(seg)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_inner(
        dir: &Path,
        base_offset: i64,
        cfg: &LogConfig,
        log_path: &Path,
        capacity: usize,
        size: usize,
        writable: bool,
        indexes_writable: bool,
        suffix: &str,
    ) -> Result<Self, LogError> {
        let io = |e| LogError::io(log_path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(log_path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        if len < capacity {
            file.set_len(capacity as u64).map_err(io)?;
        }
        let map = MmapOptions::new().len(capacity.max(1)).map_raw(&file).map_err(io)?;
        if writable {
            // Appends fault the preallocated (sparse) file in page by page; with the
            // default readahead each fault zero-fills a large window of holes first, which
            // cost more than the appends' copies (measured: 60% of produce CPU).
            let _ = map.advise(memmap2::Advice::Random);
        }
        let index_path = file_path(dir, base_offset, &format!("index{suffix}"));
        let index_was_missing = !index_path.exists();
        let offset_index = OffsetIndex::open(
            &index_path,
            base_offset,
            cfg.segment_index_bytes,
            writable || indexes_writable,
        )?;
        let time_index = TimeIndex::open(
            &file_path(dir, base_offset, &format!("timeindex{suffix}")),
            base_offset,
            cfg.segment_index_bytes,
            writable || indexes_writable,
        )?;
        let txn_index = TxnIndex::open(file_path(dir, base_offset, &format!("txnindex{suffix}")))?;
        Ok(Self {
            base_offset,
            txn_index,
            log_path: log_path.to_path_buf(),
            file: ReleasableFile::new(log_path, file),
            map: LogMap::new(map, capacity),
            size: AtomicUsize::new(size.min(capacity)),
            end_offset: AtomicI64::new(base_offset),
            offset_index,
            time_index,
            max_timestamp: AtomicI64::new(-1),
            offset_of_max_timestamp: AtomicI64::new(-1),
            first_batch_timestamp: AtomicI64::new(i64::MIN),
            created_ms: crate::log::now_ms(),
            allocated: AtomicUsize::new(size.min(capacity)),
            flushed: AtomicUsize::new(0),
            bytes_since_index: AtomicUsize::new(0),
            sealed: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            index_interval: cfg.index_interval_bytes,
            index_was_missing,
            last_append_ms: AtomicI64::new(0),
        })
    }

    /// After opening trusted data (clean shutdown or sealed): derives the end offset from
    /// the last batch (found through the offset index) and the max timestamp from the time
    /// index's last entry.
    fn load_tail_state(&self) {
        let data = self.published();
        if let Some((_, first)) = batch::iter_batches(data).next() {
            self.first_batch_timestamp
                .store(first.max_timestamp(), Ordering::Relaxed);
        }
        let from = self
            .offset_index
            .len()
            .checked_sub(1)
            .map_or(0, |i| self.offset_index.entry(i).1 as usize);
        if let Some((_, last)) = batch::iter_batches(data.get(from..).unwrap_or(&[])).last() {
            self.end_offset.store(last.last_offset() + 1, Ordering::Relaxed);
        }
        if let Some((ts, off)) = self.time_index.last_entry() {
            self.max_timestamp.store(ts, Ordering::Relaxed);
            self.offset_of_max_timestamp.store(off, Ordering::Relaxed);
        }
    }

    /// Checks the indexes of a trusted segment (opened with [`Segment::open`]) against
    /// each other and the log, cheaply (the index entries and at most two batch headers):
    /// Kafka's load-time sanity check, stricter. An error says what is wrong; the caller
    /// recovers the segment, which rebuilds both indexes from the log.
    pub fn check_indexes(&self) -> Result<(), String> {
        let data = self.published();
        self.offset_index.sanity_check(data.len())?;
        if self.index_was_missing && !data.is_empty() {
            // Kafka rebuilds a missing index rather than scan the segment on every read.
            return Err("the offset index file is missing".into());
        }
        for i in [0, self.offset_index.len().saturating_sub(1)] {
            if i >= self.offset_index.len() {
                break;
            }
            let (off, pos) = self.offset_index.entry(i);
            let holds = BatchHeader::parse_unchecked(&data[pos as usize..]).is_ok_and(|h| {
                h.len() <= data.len() - pos as usize && h.base_offset() <= off && off <= h.last_offset()
            });
            if !holds {
                return Err(format!(
                    "entry {i} ({off}, {pos}) does not point at a batch holding {off}"
                ));
            }
        }
        self.time_index.sanity_check(self.end_offset())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }
    pub fn end_offset(&self) -> i64 {
        self.end_offset.load(Ordering::Acquire)
    }
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp.load(Ordering::Acquire)
    }
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        let t = self.first_batch_timestamp.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }
    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// The published bytes.
    fn published(&self) -> &[u8] {
        let size = self.size();
        // SAFETY: `[0, size)` is published (Acquire above) and never rewritten while mapped.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), size) }
    }

    /// Zero-copy `Bytes` over published bytes `[start, start+len)`.
    fn slice(&self, start: usize, len: usize) -> Bytes {
        debug_assert!(start + len <= self.size());
        self.map.slice(start, len)
    }

    /// Appends one validated batch: copies it above the published size, lets `patch`
    /// assign its base offset (and LogAppendTime) in place, indexes it, then publishes it.
    /// The caller holds the partition's append lock and has checked that it fits.
    pub fn append(&self, data: &[u8], patch: impl FnOnce(&mut [u8])) -> Result<(i64, i64), LogError> {
        let pos = self.size.load(Ordering::Relaxed);
        if pos + data.len() > self.map.capacity() {
            return Err(LogError::Invalid(format!(
                "append of {} bytes past segment capacity {}",
                data.len(),
                self.map.capacity()
            )));
        }
        self.ensure_open()?;
        self.last_append_ms.store(crate::log::now_ms(), Ordering::Relaxed);
        self.ensure_allocated(pos + data.len(), data.len())?;
        // The bytes go in with pwrite(2), not a copy into the mapping: the kernel fills whole
        // page-cache pages directly, where a copy through the mapping faults on every page
        // and zero-fills it first (the same page cache backs the mapping, so readers see the
        // data through it). Only the header is then patched through the mapping.
        {
            use std::os::unix::fs::FileExt;
            self.with_file(|f| {
                f.write_all_at(data, pos as u64)
                    .map_err(|e| LogError::io(&self.log_path, e))
            })?;
        }
        // SAFETY: `[pos, pos+len)` lies inside the mapping and above the published size, so
        // no reader can observe it until the Release store below; we are the only writer.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), data.len()) };
        patch(dst);
        self.map.touch(data.len());
        let h = BatchHeader::parse_unchecked(dst)?;
        let offsets = (h.base_offset(), h.last_offset());
        self.note_appended(pos, &h)?;
        self.size.store(pos + data.len(), Ordering::Release);
        Ok(offsets)
    }

    /// Allocates disk blocks ahead of the write position so that writing through the
    /// mapping cannot hit ENOSPC. The reserve ahead follows the partition's appends (four
    /// of the size of the one that needs room, between 64 KiB and 4 MiB): a busy partition
    /// allocates rarely, and an idle one holds little, so the blocks held ahead do not
    /// multiply by the partition count.
    fn ensure_allocated(&self, end: usize, append_len: usize) -> Result<(), LogError> {
        const MIN_AHEAD: usize = 64 << 10;
        const MAX_AHEAD: usize = 4 << 20;
        let have = self.allocated.load(Ordering::Relaxed);
        if end <= have {
            return Ok(());
        }
        let ahead = append_len.saturating_mul(4).clamp(MIN_AHEAD, MAX_AHEAD);
        let want = (end.max(have + ahead)).min(self.map.capacity());
        self.with_file(|f| crate::log::allocate(f, &self.log_path, have, want))?;
        self.allocated.store(want, Ordering::Relaxed);
        Ok(())
    }

    /// Index and timestamp bookkeeping for a batch now at `pos` (append and recovery).
    /// Index entries are written first, so a failure (disk full) leaves no bookkeeping
    /// half-updated.
    fn note_appended(&self, pos: usize, h: &BatchHeader<'_>) -> Result<(), LogError> {
        let ts = h.max_timestamp();
        let (mut max_ts, mut max_off) = (self.max_timestamp(), self.offset_of_max_timestamp());
        if ts > max_ts {
            (max_ts, max_off) = (ts, h.last_offset());
        }
        let index_now = self.bytes_since_index.load(Ordering::Relaxed) > self.index_interval;
        if index_now {
            self.offset_index.append(h.last_offset(), pos as u32)?;
            self.time_index.maybe_append(max_ts, max_off)?;
        }
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.offset_of_max_timestamp.store(max_off, Ordering::Release);
        if self.first_batch_timestamp.load(Ordering::Relaxed) == i64::MIN {
            self.first_batch_timestamp.store(ts, Ordering::Relaxed);
        }
        if index_now {
            self.bytes_since_index.store(0, Ordering::Relaxed);
        }
        self.bytes_since_index.fetch_add(h.len(), Ordering::Relaxed);
        self.end_offset.store(h.last_offset() + 1, Ordering::Release);
        Ok(())
    }

    /// Position of the first batch whose last offset is `>= offset`, scanning from the
    /// offset index's floor entry; `None` if no such batch is published.
    fn position_of(&self, offset: i64, data: &[u8]) -> Option<usize> {
        let (entry, start) = self.offset_index.lookup(offset);
        let mut start = start as usize;
        if start >= data.len() {
            // An entry published just before the bytes it points at (the append publishes
            // the size last): nothing at or after `offset` is visible yet.
            return None;
        }
        // The entry names the last offset of the batch at its position; one that does not
        // (an index damaged after the load-time check) is ignored and the segment scanned.
        if start != 0
            && !BatchHeader::parse_unchecked(data.get(start..)?)
                .is_ok_and(|h| h.base_offset() <= entry && entry <= h.last_offset())
        {
            tracing::warn!(log = %self.log_path.display(), entry, position = start, "offset index entry does not match the log; scanning the segment");
            start = 0;
        }
        batch::iter_batches(data.get(start..)?)
            .find(|(_, h)| h.last_offset() >= offset)
            .map(|(p, _)| start + p)
    }

    /// Every published batch, in order (the log cleaner's walk).
    pub fn batches(&self) -> impl Iterator<Item = BatchHeader<'_>> {
        batch::iter_batches(self.published()).map(|(_, h)| h)
    }

    /// Calls `f` with the header of every batch from the one holding `from_offset` on
    /// (start-up's producer-state rebuild).
    pub fn for_each_batch(&self, from_offset: i64, mut f: impl FnMut(&BatchHeader<'_>)) {
        let data = self.published();
        let Some(start) = self.position_of(from_offset, data) else {
            return;
        };
        for (_, h) in batch::iter_batches(&data[start..]) {
            if h.last_offset() >= from_offset {
                f(&h);
            }
        }
    }

    /// Reads from the batch holding `offset`, below any batch at or above `max_offset`, up to
    /// `max_bytes`; with `min_one`, the first batch is returned even if it is larger than
    /// `max_bytes` (KIP-74). Whole batches, or with `partial_tail` the bytes up to the limit
    /// as Kafka's `LogSegment.read` slices them, the last batch possibly cut off (a Fetch
    /// answer: clients drop such a tail).
    ///
    /// `None`: this segment has no batch at or after `offset`. An empty `Bytes`: it has one,
    /// but it is at or past `max_offset` or does not fit, so nothing later may be read either.
    pub fn read(
        &self,
        offset: i64,
        max_offset: i64,
        max_bytes: usize,
        min_one: bool,
        partial_tail: bool,
    ) -> Option<Bytes> {
        let data = self.published();
        let start = self.position_of(offset, data)?;
        let mut limit = max_bytes;
        let (mut whole, mut visible) = (start, start);
        for (p, h) in batch::iter_batches(&data[start..]) {
            if h.base_offset() >= max_offset {
                break;
            }
            if min_one && visible == start {
                limit = max_bytes.max(h.len());
            }
            let next = start + p + h.len();
            visible = next;
            if next - start <= limit {
                whole = next;
            }
            if next - start >= limit {
                break;
            }
        }
        let end = if partial_tail {
            visible.min(start.saturating_add(limit))
        } else {
            whole
        };
        if end == start {
            return Some(Bytes::new());
        }
        self.map.touch(end - start);
        Some(self.slice(start, end - start))
    }

    /// The first (offset, timestamp) of a record with timestamp `>= target` in this segment.
    pub fn find_offset_by_timestamp(&self, target: i64, from_offset: i64) -> Option<(i64, i64)> {
        let data = self.published();
        let start_offset = self.time_index.lookup(target).max(from_offset);
        let start = self.position_of(start_offset, data)?;
        // As Kafka: the answer is in the first batch whose max timestamp qualifies and that
        // still has records (the log cleaner leaves empty headers that keep their max
        // timestamp); only such batches are decoded.
        batch::iter_batches(&data[start..])
            .filter(|(_, h)| h.max_timestamp() >= target && h.records_count() > 0)
            .find_map(|(_, h)| crate::log::record::records::find_record(h.bytes(), Some(target)))
            .filter(|found| found.0 >= from_offset)
    }

    /// The (offset, timestamp) of the first record carrying this segment's max timestamp.
    pub fn find_max_timestamp(&self) -> Option<(i64, i64)> {
        let off = self.offset_of_max_timestamp();
        if off < 0 {
            return None;
        }
        let data = self.published();
        let start = self.position_of(off, data)?;
        let (_, h) = batch::iter_batches(&data[start..]).next()?;
        crate::log::record::records::find_record(h.bytes(), None)
    }

    /// Rescans the mapped data from byte 0, rebuilding both indexes, and truncates at the
    /// first batch that is torn, corrupt, or breaks offset order (`base_offset != expected`).
    /// Runs before the segment is shared. Returns the size of the torn frame cut off, if any.
    pub fn recover(&self, expected_base: i64) -> Result<Option<usize>, LogError> {
        self.offset_index.truncate_entries(0);
        self.time_index.clear();
        self.max_timestamp.store(-1, Ordering::Relaxed);
        self.offset_of_max_timestamp.store(-1, Ordering::Relaxed);
        self.first_batch_timestamp.store(i64::MIN, Ordering::Relaxed);
        self.bytes_since_index.store(0, Ordering::Relaxed);
        self.end_offset.store(self.base_offset, Ordering::Relaxed);
        let io = |e| LogError::io(&self.log_path, e);
        let file_len = self.with_file(|f| f.metadata().map_err(io))?.len() as usize;
        // SAFETY: recovery runs before the segment is shared; `file_len` bytes are mapped
        // (the mapping covers the whole file: capacity >= file length).
        let all = unsafe { std::slice::from_raw_parts(self.map.as_ptr(), file_len.min(self.map.capacity())) };
        // An empty (preallocated, never written) segment is recognised with a 12-byte read
        // instead of a fault on the mapping, whose readahead would zero-fill megabytes of
        // the sparse file.
        let mut head = [0u8; batch::LOG_OVERHEAD];
        let empty = {
            use std::os::unix::fs::FileExt;
            let n = self.with_file(|f| f.read_at(&mut head, 0).map_err(io))?;
            n < head.len() || head.iter().all(|b| *b == 0)
        };
        let mut pos = 0usize;
        let mut next = expected_base;
        let sealed = self.sealed.load(Ordering::Relaxed);
        while !empty && pos < all.len() {
            let Ok(h) = BatchHeader::parse_stored(&all[pos..]) else {
                break;
            };
            // Appends never leave gaps, so in an appendable segment anything else is a torn
            // or stale batch (one whose base offset was not yet assigned). A sealed segment
            // may have been compacted: offsets then only increase.
            if h.base_offset() != next && (!sealed || h.base_offset() < next) {
                break;
            }
            self.note_appended(pos, &h)?;
            next = h.last_offset() + 1;
            pos += h.len();
        }
        self.size.store(pos, Ordering::Release);
        self.allocated.store(pos, Ordering::Relaxed);
        let tail = if empty { &head[..] } else { &all[pos..] };
        let torn = if tail.iter().take(batch::LOG_OVERHEAD).all(|b| *b == 0) {
            None
        } else {
            Some(match BatchHeader::frame_len(tail) {
                Some(Ok(n)) => n.min(tail.len()),
                _ => tail.len().min(batch::HEADER_LEN),
            })
        };
        if pos < file_len {
            // Cut everything after the last valid batch (torn bytes, or the zero tail of a
            // preallocated file); an appendable segment regrows with zeros, so no stale
            // byte can be resurrected by a later scan.
            self.with_file(|f| {
                f.set_len(pos as u64).map_err(io)?;
                if !sealed {
                    f.set_len(self.map.capacity() as u64).map_err(io)?;
                }
                Ok(())
            })?;
        }
        Ok(torn)
    }

    /// Seals the segment: final time index entry, indexes and log file trimmed to their
    /// data. Readers keep working (the mapping outlives the trim for published bytes).
    /// Called under the partition's append lock. The flag is set only after the trim, so a
    /// concurrent flush never sees "sealed" (and closes the files) before the trim is done.
    pub fn seal(&self) -> Result<(), LogError> {
        if self.sealed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.trim_files(false)?;
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    /// Trims files to their data (seal and clean shutdown); the segment stays appendable
    /// only if reopened. Without `sync` nothing is fsynced here (a roll must not fsync under
    /// the append lock; the background flush does it), with `sync` (clean shutdown) the new
    /// lengths are made durable.
    pub fn trim_files(&self, sync: bool) -> Result<(), LogError> {
        self.ensure_open()?;
        if self.max_timestamp() >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp(), self.offset_of_max_timestamp())?;
        }
        self.offset_index.trim(sync)?;
        self.time_index.trim(sync)?;
        let io = |e| LogError::io(&self.log_path, e);
        self.with_file(|f| {
            f.set_len(self.size() as u64).map_err(io)?;
            if sync { f.sync_all().map_err(io) } else { Ok(()) }
        })?;
        if sync {
            self.txn_index.sync()?;
        }
        Ok(())
    }

    /// fsyncs the published data range (msync) and the indexes.
    /// Only the bytes published since the previous flush are synced (callers serialise
    /// flushes through the partition's flush lock).
    /// A segment whose files are deleted meanwhile (a flush runs off the partition's locks,
    /// on the segments it listed) has nothing left to sync: its errors are not the disk's.
    pub fn flush(&self) -> Result<(), LogError> {
        match self.flush_files() {
            Err(_) if self.deleted.load(Ordering::Acquire) => Ok(()),
            r => r,
        }
    }

    fn flush_files(&self) -> Result<(), LogError> {
        let size = self.size();
        let from = self.flushed.load(Ordering::Acquire).min(size);
        if size > from {
            let start = from & !4095;
            self.map
                .raw()
                .flush_range(start, size - start)
                .map_err(|e| LogError::io(&self.log_path, e))?;
        }
        // An unsealed segment's indexes need no fsync: crash recovery rescans the segment
        // holding the recovery point and rebuilds them. A sealed one's are made durable
        // below, once, before recovery may skip it.
        if self.sealed.load(Ordering::Acquire) {
            self.offset_index.flush()?;
            self.time_index.flush()?;
        }
        self.txn_index.sync()?;
        self.flushed.store(size, Ordering::Release);
        if self.awaits_seal_sync() {
            // A sealed segment's trimmed lengths become durable here, off the append path;
            // after that it needs no descriptors.
            self.with_file(|f| f.sync_all().map_err(|e| LogError::io(&self.log_path, e)))?;
            self.offset_index.sync_file()?;
            self.time_index.sync_file()?;
            self.release_files();
        }
        Ok(())
    }

    /// Sealed but not yet fsynced and closed (see [`Segment::flush`]).
    pub fn awaits_seal_sync(&self) -> bool {
        self.sealed.load(Ordering::Acquire) && self.file.is_open()
    }

    /// Runs `op` on the open `.log` file; an error if the file was released.
    fn with_file<R>(&self, op: impl FnOnce(&File) -> Result<R, LogError>) -> Result<R, LogError> {
        self.file.with(op)
    }

    /// Reopens the `.log` descriptor an idle active segment released (see
    /// [`Segment::release_if_idle`]); a failure is [`LogError::Reopen`], which does not
    /// fence the partition.
    pub fn ensure_open(&self) -> Result<(), LogError> {
        self.file.reopen()
    }

    /// Closes the `.log` descriptor of an active segment with no append for `idle_ms`
    /// (the next append, roll or trim reopens it; reads and fsyncs go through the mapping).
    /// The caller holds the partition's append lock, so no append or roll is under way.
    /// True if it was open.
    pub fn release_if_idle(&self, now_ms: i64, idle_ms: i64) -> bool {
        if self.sealed.load(Ordering::Acquire)
            || now_ms.saturating_sub(self.last_append_ms.load(Ordering::Relaxed)) < idle_ms
            || !self.file.is_open()
        {
            return false;
        }
        self.file.release();
        true
    }

    /// Closes the file descriptors of a sealed segment (the mappings stay).
    pub fn release_files(&self) {
        self.file.release();
        self.offset_index.release_file();
        self.time_index.release_file();
    }

    /// Removes the segment's files (the mapping stays valid for readers holding `Bytes`).
    /// This segment's aborted-transaction index.
    pub fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }

    pub fn delete_files(&self, dir: &Path) -> Result<(), LogError> {
        self.mark_deleted();
        delete_files(dir, self.base_offset, "")
    }

    /// Its files are being removed or renamed away (see `deleted`).
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }
}

/// Removes segment `base_offset`'s files with `suffix`; missing ones are fine.
pub fn delete_files(dir: &Path, base_offset: i64, suffix: &str) -> Result<(), LogError> {
    for ext in EXTENSIONS {
        let p = file_path(dir, base_offset, &format!("{ext}{suffix}"));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&p, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::batch::tests::make_batch;
    use kafka_protocol::records::Compression;

    /// A flush that lists a sealed segment retention then deletes (the roll's background
    /// flush racing a retention pass) is not a disk failure: it must not fence the partition.
    #[test]
    fn a_flush_of_a_deleted_segment_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Segment::create(dir.path(), 0, &LogConfig::default(), 0).unwrap();
        seg.append(&make_batch(3, 1_000, Compression::None), |_| {}).unwrap();
        seg.seal().unwrap();
        assert!(seg.awaits_seal_sync());
        seg.delete_files(dir.path()).unwrap();
        seg.flush().unwrap();
        // A segment whose files vanish without being deleted is still an error.
        let seg = Segment::create(dir.path(), 10, &LogConfig::default(), 0).unwrap();
        seg.append(&make_batch(3, 1_000, Compression::None), |_| {}).unwrap();
        seg.seal().unwrap();
        super::delete_files(dir.path(), 10, "").unwrap();
        assert!(seg.flush().is_err());
    }
}
