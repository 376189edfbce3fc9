//! One partition's log: its segments, appends, reads, offset lookups, roll, retention and
//! flush.
//!
//! Owns: assigning offsets, the log_start_offset / high_watermark / recovery point, and
//! waking long-polling fetches. Appends take a short `std::sync::Mutex` (never held across
//! `.await`); readers clone an `Arc` of the segment list and read published bytes without it.
//! brokk is the only replica, so the high watermark is the log end offset as soon as a batch
//! is in the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::log::log_dir::LogDir;
use crate::log::partition::group_commit::GroupCommit;
use crate::log::partition::leader_epoch::LeaderEpochCache;
use crate::log::partition::producer_state::{ProducerState, list_snapshots, snapshot_path};
use crate::log::partition::waiters::Waiters;
use crate::log::record::batch::{self, BatchHeader};
use crate::log::record::validator;
use crate::log::segment::Segment;
use crate::log::segment::txn_index::AbortedTxn;
use crate::log::{LogConfig, LogError, TimestampType};

/// Result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The LogAppendTime given to the batch, or -1 under CreateTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The configured flush policy wants an fsync before this append is acknowledged.
    pub needs_flush: bool,
    /// The append rolled a segment; the sealed one should be flushed in the background.
    pub rolled: bool,
}

/// The one batch of a produce's records, as Kafka's `ProduceRequest.validateRecords` and
/// `MemoryRecords.batches()` see them: no complete batch is INVALID_RECORD, a magic above 2
/// CORRUPT_MESSAGE and below 2 INVALID_RECORD; bytes after the batch too few to be another
/// are dropped, as Kafka trims them, and a second batch is INVALID_RECORD.
fn first_batch(records: &[u8]) -> Result<BatchHeader<'_>, LogError> {
    let none = || {
        LogError::CorruptBatch(batch::BatchError::InvalidRecord(
            "Produce requests with version 3 and above must have exactly one record batch per partition".into(),
        ))
    };
    let h = match BatchHeader::parse_unchecked(records) {
        Ok(h) => h,
        Err(batch::BatchError::Truncated(_)) => return Err(none()),
        Err(e) => return Err(e.into()),
    };
    let rest = &records[h.len()..];
    match BatchHeader::frame_len(rest) {
        // Fewer than 12 bytes, or a batch that does not fit: not a batch, trimmed.
        None => Ok(h),
        Some(Ok(n)) if n > rest.len() => Ok(h),
        // Kafka's log input stream: a size below the minimum is corrupt data.
        Some(Err(_)) => {
            Err(batch::BatchError::Truncated("a batch after the first is smaller than a batch header").into())
        }
        Some(Ok(_)) => Err(LogError::NotOneBatch(1 + batch::iter_batches(rest).count())),
    }
}

/// Who wrote a batch: Kafka's `AppendOrigin` (replication does not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A producer's Produce request: epochs and sequences are checked.
    Client,
    /// A coordinator writing for a producer: epochs are checked, sequences are not.
    Coordinator,
}

/// How a partition's log is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The single broker leads every partition: a new leader epoch at every start (at least
    /// `epoch_if_lost` when the epoch file is gone, at least `epoch_floor` after a log
    /// directory failure).
    Leader { epoch_if_lost: i32, epoch_floor: i32 },
    /// A log whose epochs come with its batches (a follower's, the metadata quorum's).
    Replica,
}

/// Bytes read for a fetch plus the partition's offsets at read time.
#[derive(Debug, Clone)]
pub struct FetchedData {
    pub records: Option<Bytes>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

struct AppendState {
    /// None only for a partition whose log dir was offline at start (never opened).
    active: Option<Arc<Segment>>,
    next_offset: i64,
    /// Idempotent producers' epochs and recent sequences (checked and updated here).
    producers: ProducerState,
}

impl AppendState {
    /// The active segment; a partition never opened has none and is fenced.
    fn active(&self) -> Result<&Arc<Segment>, LogError> {
        self.active.as_ref().ok_or(LogError::Fenced)
    }
}

/// A partition's log.
pub struct Partition {
    topic: Arc<str>,
    index: i32,
    dir: PathBuf,
    config: RwLock<Arc<LogConfig>>,
    append: Mutex<AppendState>,
    segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    high_watermark: AtomicI64,
    /// One past the last appended offset (published after the batch is readable). A
    /// leader's high watermark follows it; a follower's is the leader's word.
    log_end_offset: AtomicI64,
    log_start_offset: AtomicI64,
    /// Every offset below this is fsynced.
    recovery_point: AtomicI64,
    last_flush_ms: AtomicI64,
    flush_lock: Mutex<()>,
    group_commit: GroupCommit,
    fenced: AtomicBool,
    /// The `log.dirs` entry holding this partition: a storage error here takes it offline.
    log_dir: Arc<LogDir>,
    /// A segment file was created since the last directory fsync.
    dir_dirty: AtomicBool,
    /// The topic was deleted; see [`Partition::mark_deleted`].
    deleted: AtomicBool,
    /// How many times the metadata image found this replica not leading (see
    /// [`Partition::not_leading`]).
    not_leading: std::sync::atomic::AtomicU64,
    waiters: Waiters,
    /// First offset of the oldest open transaction (-1: none), published for readers.
    first_unstable: AtomicI64,
    /// This broker's leader epoch for the partition, fixed from start-up (or creation) on.
    leader_epoch: AtomicI32,
    /// Where each leader epoch began (a leaf lock: taken last, held briefly).
    epochs: Mutex<LeaderEpochCache>,
    /// Other brokers hold replicas of this partition: an append does not move the high
    /// watermark, the replica layer does (what the in-sync replicas hold, or the leader's
    /// word on a follower).
    replicated: AtomicBool,
}

mod clean;
mod follower;
mod role;
pub(crate) use follower::TRUNCATING;
pub mod group_commit;
pub mod leader_epoch;
pub mod producer_state;
pub mod waiters;

/// The `segment.jitter.ms` share of the segment starting at `base_offset`: a fixed
/// pseudo-random value in `[0, jitter_ms)` (Kafka draws one per segment).
fn roll_jitter(base_offset: i64, jitter_ms: i64) -> i64 {
    if jitter_ms <= 0 {
        return 0;
    }
    // splitmix64 of the base offset.
    let mut z = (base_offset as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % jitter_ms as u64) as i64
}

/// How many leading segments end at or before `offset`, the active (last) one excluded.
fn sealed_below(segs: &[Arc<Segment>], offset: i64) -> usize {
    segs.iter()
        .take(segs.len().saturating_sub(1))
        .take_while(|s| s.end_offset() <= offset)
        .count()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Partition({}-{})", self.topic, self.index)
    }
}

impl Partition {
    /// A partition of a log dir that was offline at start: never opened, it answers every
    /// request with KAFKA_STORAGE_ERROR until a restart finds its dir healthy, as Kafka's
    /// offline partitions. Its leader epoch is `leader_epoch` (no earlier start can have
    /// gone as far; the start that brings the dir back takes a higher one, see
    /// `LogManager::open_dirs`); its offsets are unknown and never shown.
    pub(super) fn offline(
        topic: Arc<str>,
        index: i32,
        dir: PathBuf,
        config: Arc<LogConfig>,
        leader_epoch: i32,
        log_dir: Arc<LogDir>,
    ) -> Self {
        debug_assert!(log_dir.is_offline());
        Self {
            leader_epoch: AtomicI32::new(leader_epoch),
            epochs: Mutex::new(LeaderEpochCache::empty(&dir)),
            first_unstable: AtomicI64::new(-1),
            topic,
            index,
            config: RwLock::new(config),
            append: Mutex::new(AppendState {
                active: None,
                next_offset: 0,
                producers: ProducerState::default(),
            }),
            segments: RwLock::new(Arc::new(vec![])),
            high_watermark: AtomicI64::new(0),
            log_end_offset: AtomicI64::new(0),
            log_start_offset: AtomicI64::new(0),
            recovery_point: AtomicI64::new(0),
            group_commit: GroupCommit::new(0),
            last_flush_ms: AtomicI64::new(crate::log::now_ms()),
            flush_lock: Mutex::new(()),
            fenced: AtomicBool::new(true),
            dir,
            log_dir,
            dir_dirty: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            not_leading: std::sync::atomic::AtomicU64::new(0),
            waiters: Waiters::default(),
            replicated: AtomicBool::new(false),
        }
    }

    /// Assembles a partition from opened (and, if needed, recovered) segments, oldest first.
    /// The last segment is the active one.
    /// `epoch_if_lost`: the leader epoch to take if the partition has no readable
    /// leader-epoch checkpoint (see [`LeaderEpochCache::become_leader`]); `epoch_floor`: the
    /// least leader epoch to take (above what Metadata showed while the partition was
    /// offline, see [`Partition::offline`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_segments(
        topic: Arc<str>,
        index: i32,
        dir: PathBuf,
        config: Arc<LogConfig>,
        segments: Vec<Arc<Segment>>,
        recovery_point: i64,
        role: Role,
        log_dir: Arc<LogDir>,
    ) -> Result<Self, LogError> {
        let active = segments
            .last()
            .cloned()
            .ok_or_else(|| LogError::Invalid("partition without segments".into()))?;
        let next_offset = active.end_offset();
        let log_start = segments[0].base_offset();
        let producers = rebuild_producers(&dir, &segments, log_start, next_offset);
        let first_unstable = producers.first_unstable_offset().unwrap_or(-1);
        let (leader_epoch, epochs) = match role {
            Role::Leader {
                epoch_if_lost,
                epoch_floor,
            } => {
                let (mut leader_epoch, mut epochs) =
                    LeaderEpochCache::become_leader(&dir, &segments, log_start, next_offset, epoch_if_lost)?;
                if leader_epoch < epoch_floor {
                    epochs.assign(epoch_floor, next_offset);
                    epochs.write()?;
                    leader_epoch = epoch_floor;
                }
                (leader_epoch, epochs)
            }
            Role::Replica => {
                let epochs = LeaderEpochCache::load(&dir, &segments, log_start, next_offset)?;
                (epochs.latest_epoch().unwrap_or(-1), epochs)
            }
        };
        Ok(Self {
            leader_epoch: AtomicI32::new(leader_epoch),
            epochs: Mutex::new(epochs),
            first_unstable: AtomicI64::new(first_unstable),
            topic,
            index,
            dir,
            config: RwLock::new(config),
            append: Mutex::new(AppendState {
                active: Some(active),
                next_offset,
                producers,
            }),
            segments: RwLock::new(Arc::new(segments)),
            high_watermark: AtomicI64::new(next_offset),
            log_end_offset: AtomicI64::new(next_offset),
            log_start_offset: AtomicI64::new(log_start),
            recovery_point: AtomicI64::new(recovery_point.min(next_offset)),
            group_commit: GroupCommit::new(recovery_point.min(next_offset)),
            last_flush_ms: AtomicI64::new(crate::log::now_ms()),
            flush_lock: Mutex::new(()),
            fenced: AtomicBool::new(false),
            log_dir,
            dir_dirty: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            not_leading: std::sync::atomic::AtomicU64::new(0),
            waiters: Waiters::default(),
            replicated: AtomicBool::new(false),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn index(&self) -> i32 {
        self.index
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> Arc<LogConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Replaces the config (a topic config change); appends, rolls and retention passes
    /// read it afresh each time.
    pub(super) fn set_config(&self, config: Arc<LogConfig>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }
    /// The last stable offset: the first offset of the oldest open transaction, or the
    /// high watermark when none is open. read_committed fetches stop here.
    pub fn last_stable_offset(&self) -> i64 {
        self.stable_offset_below(self.high_watermark())
    }

    /// The LSO given an already loaded high watermark (so the two stay consistent).
    fn stable_offset_below(&self, hw: i64) -> i64 {
        let first_unstable = self.first_unstable.load(Ordering::Acquire);
        if first_unstable >= 0 {
            first_unstable.min(hw)
        } else {
            hw
        }
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    /// No appends or reads: an earlier storage error here or elsewhere in its log dir
    /// (or a clean shutdown closed it).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire) || self.log_dir.is_offline()
    }
    /// Its log directory has failed: as a partition in Kafka's failed log dir, every
    /// partition-level request gets KAFKA_STORAGE_ERROR and Metadata shows no leader, until
    /// a restart.
    pub fn is_offline(&self) -> bool {
        self.log_dir.is_offline()
    }
    /// The leader epoch Metadata reports: an offline partition has lost its leader, which
    /// Kafka's controller records as a new partition epoch (one more than the leader's).
    pub fn metadata_leader_epoch(&self) -> i32 {
        self.leader_epoch() + i32::from(self.is_offline())
    }
    pub fn log_dir(&self) -> &Arc<LogDir> {
        &self.log_dir
    }
    /// A storage error that may have left files inconsistent: the partition is fenced and
    /// its log directory taken offline (see `log_dir`).
    fn storage_failed(&self, e: &LogError) {
        self.fenced.store(true, Ordering::Release);
        self.log_dir.fail(e);
    }
    /// Group-commit state (see [`crate::log::partition::group_commit`]).
    pub fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// Closes the active segment's descriptor if no append came for `idle_ms` (under the
    /// append lock: never in the middle of an append or a roll).
    pub fn release_idle_file(&self, now_ms: i64, idle_ms: i64) -> bool {
        lock(&self.append)
            .active
            .as_ref()
            .is_some_and(|a| a.release_if_idle(now_ms, idle_ms))
    }

    /// Bytes of record data on disk (Kafka's `UnifiedLog.size`: the segments' log files).
    pub fn size_bytes(&self) -> u64 {
        self.segments().iter().map(|s| s.size() as u64).sum()
    }

    /// Number of segments (sealed ones plus the active one).
    pub fn segment_count(&self) -> usize {
        self.segments().len()
    }
    pub(super) fn segments(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(super) fn set_segments(&self, s: Vec<Arc<Segment>>) {
        *self.segments.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
    /// Registers a long-polling fetch to be woken by the next append.
    pub fn register_waiter(&self, n: &Arc<Notify>) {
        self.waiters.register(n);
    }
    /// Total bytes of all segments.
    /// Long-polling fetches currently parked on this partition.
    pub fn waiting_fetches(&self) -> usize {
        self.waiters.live()
    }

    /// Validates one produce's records for this partition as Kafka does (`ProduceRequest`'s
    /// one-batch rule, then `UnifiedLog.analyzeAndValidateRecords`: size, CRC; then
    /// `LogValidator`: batch rules and every record, see [`crate::log::record::validator`]). Runs outside
    /// the append lock. Returns the batch to append instead when Kafka would change it: re-
    /// compressed for the topic's `compression.type`, rebuilt when consumers would mis-read
    /// it as sent ([`validator::Walked::needs_rebuild`]), or with its max timestamp set to
    /// its records' largest, or without bytes after it that are too few to be a batch.
    pub fn validate(&self, records: &[u8], now_ms: i64) -> Result<Option<Vec<u8>>, LogError> {
        let cfg = self.config();
        let tp = format!("{}-{}", self.topic, self.index);
        let h = first_batch(records)?;
        if h.base_offset() != 0 {
            return Err(LogError::CorruptBatch(batch::BatchError::InvalidRecord(format!(
                "The baseOffset of the record batch in the append to {tp} should be 0, but it is {}",
                h.base_offset()
            ))));
        }
        if h.len() > cfg.max_message_bytes {
            return Err(LogError::BatchTooLarge {
                size: h.len(),
                max: cfg.max_message_bytes,
            });
        }
        h.check_crc()?;
        validator::check_batch(&h, &tp)?;
        let rules = validator::Rules {
            topic_partition: &tp,
            compacted: cfg.cleanup_policy.compact,
            timestamp_type: cfg.timestamp_type,
            timestamp_before_max_ms: cfg.timestamp_before_max_ms,
            timestamp_after_max_ms: cfg.timestamp_after_max_ms,
            now_ms,
        };
        let walked = validator::validate_records(&h, &rules)?;
        let source_codec = h.attributes() & 0x07;
        let target_codec = cfg.compression.codec().unwrap_or(source_codec);
        if target_codec != source_codec || walked.needs_rebuild() {
            let level = match target_codec {
                1 => Some(cfg.gzip_level).filter(|l| *l >= 0),
                3 => Some(cfg.lz4_level),
                4 => Some(cfg.zstd_level),
                _ => None,
            };
            let create_time = cfg.timestamp_type == TimestampType::CreateTime;
            let converted = validator::rebuild(&h, target_codec, level, create_time)?;
            if converted.len() > cfg.max_message_bytes {
                return Err(LogError::BatchTooLarge {
                    size: converted.len(),
                    max: cfg.max_message_bytes,
                });
            }
            return Ok(Some(converted));
        }
        // Kafka sets a CreateTime batch's max timestamp to its records' largest.
        if cfg.timestamp_type == TimestampType::CreateTime
            && (h.max_timestamp() != walked.max_timestamp || h.attributes() & batch::TIMESTAMP_TYPE_BIT != 0)
        {
            let mut fixed = h.bytes().to_vec();
            batch::set_create_time_max(&mut fixed, walked.max_timestamp);
            return Ok(Some(fixed));
        }
        // Bytes after the batch too few to be another are trimmed, as Kafka does.
        Ok((h.len() != records.len()).then(|| h.bytes().to_vec()))
    }

    /// Appends one batch that passed [`Partition::validate`]: assigns its offsets (and
    /// LogAppendTime) while copying it into the log, rolls the segment when needed,
    /// publishes, and wakes waiting fetches.
    pub fn append(&self, batch: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        self.append_as(batch, now_ms, Origin::Client)
    }

    /// [`Partition::append`] for a batch from `origin`: a coordinator's own transactional
    /// writes (TxnOffsetCommit into `__consumer_offsets`) are checked for the producer's
    /// epoch but not for sequence numbers, as in Kafka (`AppendOrigin.COORDINATOR`).
    pub fn append_as(&self, batch: &[u8], now_ms: i64, origin: Origin) -> Result<AppendInfo, LogError> {
        let cfg = self.config();
        let log_append = cfg.timestamp_type == TimestampType::LogAppendTime;
        let mut st = lock(&self.append);
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::PartitionDeleted);
        }
        if self.is_fenced() {
            return Err(LogError::Fenced);
        }
        let header = BatchHeader::parse_unchecked(batch)?;
        if header.len() != batch.len() {
            // Never store bytes after a batch: readers would stop at them.
            return Err(LogError::NotOneBatch(2));
        }
        if let Some(dup) = st.producers.check(&header, origin)? {
            // A retried idempotent batch: answer with where it already is.
            return Ok(AppendInfo {
                base_offset: dup.first_offset,
                last_offset: dup.last_offset,
                // Kafka answers a duplicate with the stored batch's timestamp, whatever the
                // timestamp type.
                log_append_time: dup.timestamp,
                log_start_offset: self.log_start_offset(),
                // The original may still be on its way to disk: the retry waits for it too.
                needs_flush: cfg.flush_messages != i64::MAX && self.recovery_point() <= dup.last_offset,
                rolled: false,
            });
        }
        let rolled = self.maybe_roll(&mut st, &cfg, batch, now_ms)?;
        let base = st.next_offset;
        let epoch = self.leader_epoch();
        let appended = st.active()?.append(batch, |dst| {
            batch::set_base_offset(dst, base);
            batch::set_partition_leader_epoch(dst, epoch);
            if log_append {
                batch::set_log_append_time(dst, now_ms);
            }
        });
        let (base_offset, last_offset) = appended.inspect_err(|e| {
            if matches!(e, LogError::Io { .. }) {
                self.storage_failed(e);
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "append failed; partition fenced");
            }
        })?;
        st.next_offset = last_offset + 1;
        if header.producer_id() >= 0 {
            let ts = if log_append { now_ms } else { header.max_timestamp() };
            st.producers.update(&header, base_offset, ts);
            let fu = st.producers.first_unstable_offset().unwrap_or(-1);
            self.first_unstable.store(fu, Ordering::Release);
        }
        self.log_end_offset.store(st.next_offset, Ordering::Release);
        if !self.replicated.load(Ordering::Acquire) {
            self.high_watermark.store(st.next_offset, Ordering::Release);
        }
        let needs_flush = st.next_offset - self.recovery_point() >= cfg.flush_messages;
        drop(st);
        self.waiters.wake_all();
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: if log_append { now_ms } else { -1 },
            log_start_offset: self.log_start_offset(),
            needs_flush,
            rolled,
        })
    }

    /// Kafka's roll rule: the batch would overflow `segment.bytes`, an index is full, or the
    /// segment is older than `segment.ms` less its `segment.jitter.ms` share (measured, as
    /// Kafka, from its first batch's max timestamp to the incoming batch's, or by wall clock
    /// since creation when there is no timestamp). A compacted log also rolls at
    /// `max.compaction.lag.ms`, since the cleaner never touches the active segment.
    fn maybe_roll(&self, st: &mut AppendState, cfg: &LogConfig, batch: &[u8], now_ms: i64) -> Result<bool, LogError> {
        let a = st.active()?.clone();
        let len = batch.len();
        let too_big = a.size() + len > cfg.segment_bytes as usize || a.size() + len > a.capacity();
        let header = BatchHeader::parse_unchecked(batch)?;
        let incoming_ts = header.max_timestamp();
        // Index entries hold offsets relative to the base as u32 (Kafka rolls at Int.MAX).
        let offset_overflow = st.next_offset + header.offset_count() - a.base_offset() > i32::MAX as i64;
        let age = match a.first_batch_timestamp() {
            Some(first) if first >= 0 && incoming_ts >= 0 => incoming_ts.saturating_sub(first),
            _ => now_ms.saturating_sub(a.created_ms()),
        };
        let mut roll_ms = cfg.segment_ms;
        if cfg.cleanup_policy.compact {
            roll_ms = roll_ms.min(cfg.max_compaction_lag_ms);
        }
        // Kafka caps the jitter at the roll period.
        let jitter = roll_jitter(a.base_offset(), cfg.segment_jitter_ms.min(roll_ms));
        let too_old = !a.is_empty() && age > roll_ms - jitter;
        if a.is_empty() && a.capacity() >= len {
            return Ok(false);
        }
        if !(too_big || too_old || offset_overflow || a.indexes_full()) {
            return Ok(false);
        }
        self.roll_locked(st, cfg, len)?;
        Ok(true)
    }

    /// Seals the active segment and starts a new one at the log end offset. The new
    /// segment is created first: a full disk (or any failure to create it) then refuses
    /// this append with nothing changed; a full disk does not fence the partition, so the
    /// roll is simply tried again by a later append.
    fn roll_locked(&self, st: &mut AppendState, cfg: &LogConfig, min_capacity: usize) -> Result<(), LogError> {
        let fence = |e: LogError| {
            if e.is_no_space() {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "segment roll refused: disk full");
                return e;
            }
            self.storage_failed(&e);
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "segment roll failed; partition fenced");
            e
        };
        let create = || {
            Segment::create(&self.dir, st.next_offset, cfg, min_capacity).inspect_err(|_| {
                // Leave no half-made segment behind for recovery to find.
                let _ = crate::log::segment::delete_files(&self.dir, st.next_offset, "");
            })
        };
        if st.active()?.is_empty() {
            // Reuse the empty segment's base offset: recreate it with enough room. Its old
            // files are gone by then: if that fails, an empty one of the usual size is
            // made again (sparse, no data blocks), and only if that fails too is the
            // partition fenced.
            let seg = match create() {
                Ok(seg) => Arc::new(seg),
                Err(e) => {
                    let again = Segment::create(&self.dir, st.next_offset, cfg, 0).map_err(|e2| {
                        self.storage_failed(&e2);
                        tracing::error!(topic = %self.topic, partition = self.index, error = %e2, "cannot recreate the empty active segment; partition fenced");
                        e2
                    })?;
                    let again = Arc::new(again);
                    st.active = Some(again.clone());
                    let mut segs: Vec<_> = self.segments().iter().cloned().collect();
                    segs.pop();
                    segs.push(again);
                    self.set_segments(segs);
                    return Err(fence(e));
                }
            };
            let mut segs: Vec<_> = self.segments().iter().cloned().collect();
            segs.pop();
            segs.push(seg.clone());
            self.set_segments(segs);
            st.active = Some(seg);
            self.dir_dirty.store(true, Ordering::Release);
            return Ok(());
        }
        // An idle segment's released descriptor comes back first: failing that (EMFILE)
        // refuses this append without fencing, as nothing has changed yet.
        st.active()?.ensure_open()?;
        let seg = Arc::new(create().map_err(fence)?);
        // The sealed segment's files are fsynced and closed by the background flush.
        st.active()?.seal().map_err(fence)?;
        self.write_producer_snapshot(st);
        let mut segs: Vec<_> = self.segments().iter().cloned().collect();
        segs.push(seg.clone());
        self.set_segments(segs);
        st.active = Some(seg);
        self.dir_dirty.store(true, Ordering::Release);
        tracing::debug!(topic = %self.topic, partition = self.index, base_offset = st.next_offset, "rolled segment");
        Ok(())
    }

    /// fsyncs everything appended so far (group commit: a caller whose data another
    /// caller's flush already covered returns at once). Blocking: call from
    /// `spawn_blocking`. An error fences the partition.
    pub fn flush(&self, up_to: i64) -> Result<(), LogError> {
        let _g = lock(&self.flush_lock);
        if self.is_fenced() {
            self.group_commit.published(self.recovery_point(), true);
            return Err(LogError::Fenced);
        }
        let end = self.log_end_offset();
        let rp = self.recovery_point();
        // Unflushed data, or a sealed segment whose trimmed files still need their fsync.
        let segs = self.segments();
        let todo: Vec<&Arc<Segment>> = segs
            .iter()
            .filter(|s| s.end_offset() > rp || s.awaits_seal_sync())
            .collect();
        if rp >= up_to && todo.is_empty() {
            return Ok(());
        }
        // A roll created a segment file: make its directory entry durable too.
        let dir_sync = if self.dir_dirty.swap(false, Ordering::AcqRel) {
            crate::log::checkpoint::sync_dir(&self.dir)
        } else {
            Ok(())
        };
        if let Err(e) = dir_sync.and_then(|()| todo.iter().try_for_each(|seg| seg.flush())) {
            self.storage_failed(&e);
            self.group_commit.published(rp, true);
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "fsync failed; partition fenced");
            return Err(e);
        }
        self.recovery_point.fetch_max(end, Ordering::AcqRel);
        self.group_commit.published(end, false);
        self.last_flush_ms.store(crate::log::now_ms(), Ordering::Release);
        Ok(())
    }

    /// At start-up, after the log directory's file system was synced (`syncfs`): all that
    /// recovery kept is durable, so the recovery point moves to the log end. Without this
    /// a crash's stale recovery-point checkpoint held the cleaner (which rewrites only
    /// durable data) off sealed segments until the next roll's flush.
    pub(super) fn synced_at_start(&self) {
        let end = self.log_end_offset();
        self.recovery_point.fetch_max(end, Ordering::AcqRel);
        self.group_commit.published(end, false);
    }

    /// Whether `flush.ms` has passed with unflushed data.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let cfg = self.config();
        cfg.flush_ms != i64::MAX
            && self.recovery_point() < self.log_end_offset()
            && now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Acquire)) >= cfg.flush_ms
    }

    /// Reads whole batches starting at `offset`, up to the high watermark (the last stable
    /// offset for read_committed): for brokk's own readers (coordinators loading their
    /// logs).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<FetchedData, LogError> {
        self.read_from(offset, max_bytes, min_one, read_committed, false, false)
    }

    /// [`Partition::read`] for a Fetch answer: the bytes up to `max_bytes` as Kafka slices
    /// them, the last batch possibly cut off.
    pub fn fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<FetchedData, LogError> {
        self.read_from(offset, max_bytes, min_one, read_committed, true, false)
    }

    /// Whole batches from `offset` up to the log end, past the high watermark (a
    /// coordinator loading the partition it now leads).
    pub fn read_to_log_end(&self, offset: i64, max_bytes: usize) -> Result<FetchedData, LogError> {
        self.read_from(offset, max_bytes, true, false, false, true)
    }

    /// [`Partition::fetch`] for a follower replica: up to the log end offset, not the high
    /// watermark (the follower copies what the leader has; the high watermark in the answer
    /// tells it what is committed).
    pub fn fetch_for_follower(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<FetchedData, LogError> {
        self.read_from(offset, max_bytes, min_one, false, true, true)
    }

    fn read_from(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
        partial_tail: bool,
        to_log_end: bool,
    ) -> Result<FetchedData, LogError> {
        // A fenced partition is offline, as Kafka's partitions in a failed log dir: what it
        // holds in memory may never reach the disk (a failed write or fsync), so it is not
        // served (KAFKA_STORAGE_ERROR) until a restart recovers it from the disk.
        if self.is_fenced() {
            return Err(LogError::Fenced);
        }
        let hw = self.high_watermark();
        let lso = self.stable_offset_below(hw);
        let log_start = self.log_start_offset();
        // Kafka's range is the log's, not the high watermark's: a replicated partition's
        // high watermark lags its log end, and a consumer between them reads nothing yet.
        let log_end = self.log_end_offset().max(hw);
        let out_of_range = LogError::OffsetOutOfRange {
            offset,
            log_start_offset: log_start,
            log_end_offset: log_end,
        };
        if offset < log_start || offset > log_end {
            return Err(out_of_range);
        }
        let upper = if to_log_end {
            log_end
        } else if read_committed {
            lso
        } else {
            hw
        };
        let mut data = FetchedData {
            records: None,
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
        };
        if offset >= upper {
            return Ok(data);
        }
        let segs = self.segments();
        let idx = segs.partition_point(|s| s.base_offset() <= offset);
        if idx == 0 {
            return Err(out_of_range);
        }
        // One segment's batches, as Kafka reads. A segment the cleaner left with nothing but
        // empty batch headers (brokk keeps each cleaned group's last batch) gives way to the
        // next segment's batches, since clients take a response without a record for too
        // small a fetch (librdkafka doubles its fetch size, then reports MSG_SIZE_TOO_LARGE);
        // the headers are the answer only when nothing with records follows below `upper`.
        let mut headers_only = None;
        for seg in &segs[idx - 1..] {
            let from = offset.max(seg.base_offset());
            if from >= upper {
                break;
            }
            match seg.read(from, upper, max_bytes, min_one, partial_tail) {
                None => continue,
                Some(b) if b.is_empty() => break,
                // Only a cut-off batch fits: what Kafka sends.
                Some(b) if batch::iter_batches(&b).next().is_none() => {
                    data.records = Some(b);
                    return Ok(data);
                }
                Some(b) if batch::iter_batches(&b).any(|(_, h)| h.records_count() > 0 || h.is_control()) => {
                    data.records = Some(b);
                    return Ok(data);
                }
                Some(b) => {
                    headers_only.get_or_insert(b);
                }
            }
        }
        data.records = headers_only;
        Ok(data)
    }

    /// ListOffsets by timestamp: the first record with timestamp `>= target`.
    pub fn offset_for_timestamp(&self, target: i64) -> Option<(i64, i64)> {
        let log_start = self.log_start_offset();
        self.segments()
            .iter()
            .find(|s| s.max_timestamp() >= target)
            .and_then(|s| s.find_offset_by_timestamp(target, log_start))
    }

    /// ListOffsets -3: the first record carrying the log's largest timestamp.
    pub fn offset_of_max_timestamp(&self) -> Option<(i64, i64)> {
        let segs = self.segments();
        let mut best: Option<&Arc<Segment>> = None;
        for s in segs.iter() {
            if s.max_timestamp() >= 0 && best.is_none_or(|b| s.max_timestamp() > b.max_timestamp()) {
                best = Some(s);
            }
        }
        best.and_then(|s| s.find_max_timestamp())
    }

    /// Applies `retention.ms` and `retention.bytes`: removes whole expired segments from the
    /// front of the log (rolling the active one first if it is itself expired by time),
    /// advances log_start_offset, and unlinks their files (under the append lock, so a
    /// concurrent topic deletion cannot make this touch a successor topic's files).
    /// Readers holding `Bytes` of a removed segment keep their mapping. Returns the number
    /// of segments removed.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let cfg = self.config();
        // Time and size retention belong to the `delete` policy (a compact-only log keeps
        // everything the cleaner retains).
        if !cfg.cleanup_policy.delete || (cfg.retention_ms < 0 && cfg.retention_bytes < 0) {
            return Ok(0);
        }
        let mut st = lock(&self.append);
        // A deleted topic's, or one in a failed log dir (Kafka stops its retention too).
        if self.deleted.load(Ordering::Acquire) || self.is_fenced() {
            return Ok(0);
        }
        let expired = |s: &Segment| {
            cfg.retention_ms >= 0
                && !s.is_empty()
                && s.max_timestamp() >= 0
                && now_ms.saturating_sub(s.max_timestamp()) > cfg.retention_ms
        };
        if expired(st.active()?) {
            self.roll_locked(&mut st, &cfg, 0)?;
        }
        let segs = self.segments();
        let mut size_excess = if cfg.retention_bytes >= 0 {
            segs.iter().map(|s| s.size() as i64).sum::<i64>() - cfg.retention_bytes
        } else {
            i64::MIN
        };
        let mut n = 0;
        for s in segs.iter().take(segs.len() - 1) {
            let by_size = cfg.retention_bytes >= 0 && size_excess - s.size() as i64 >= 0;
            if !(expired(s) || by_size) {
                break;
            }
            if by_size {
                size_excess -= s.size() as i64;
            }
            n += 1;
        }
        self.remove_front(st, &segs, n, "retention deleted segments")
    }

    /// Removes the sealed segments that end at or before `offset` (every record in them is
    /// below it) and advances log_start_offset: how `__consumer_offsets` drops what a newer
    /// snapshot of its state supersedes. The active segment stays. Returns the number of
    /// segments removed.
    pub fn delete_segments_before(&self, offset: i64) -> Result<usize, LogError> {
        let st = lock(&self.append);
        if self.deleted.load(Ordering::Acquire) {
            return Ok(0);
        }
        let segs = self.segments();
        let n = sealed_below(&segs, offset);
        self.remove_front(st, &segs, n, "deleted segments superseded by a snapshot")
    }

    /// DeleteRecords: advances log_start_offset to `offset` (-1: the high watermark), as
    /// Kafka's `maybeIncrementLogStartOffset`. Reads below it then get OFFSET_OUT_OF_RANGE;
    /// segments wholly below it are removed at once (never the active one). An offset at or
    /// below the current start changes nothing. Returns the new low watermark. Blocking
    /// (file deletion). The caller persists the new start ([`LogManager::write_log_start_checkpoint`]).
    ///
    /// [`LogManager::write_log_start_checkpoint`]: crate::log::LogManager::write_log_start_checkpoint
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let st = lock(&self.append);
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::PartitionDeleted);
        }
        let hw = self.high_watermark();
        let offset = if offset == -1 { hw } else { offset };
        let log_start = self.log_start_offset();
        if offset < 0 || offset > hw {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: log_start,
                log_end_offset: hw,
            });
        }
        if offset <= log_start {
            return Ok(log_start);
        }
        self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        self.log_start_moved(&st);
        let segs = self.segments();
        let n = sealed_below(&segs, offset);
        self.remove_front(st, &segs, n, "deleted records")?;
        Ok(self.log_start_offset())
    }

    /// At start-up: the log start a DeleteRecords left inside the first segment (from the
    /// log-start-offset checkpoint), never past the log end.
    pub(super) fn restore_log_start(&self, offset: i64) {
        let st = lock(&self.append);
        let end = self.log_end_offset();
        self.log_start_offset.fetch_max(offset.min(end), Ordering::AcqRel);
        self.log_start_moved(&st);
    }

    /// This broker's current leader epoch for the partition.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// The leader epoch `offset` was written under (ListOffsets' `leader_epoch`).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        lock(&self.epochs).epoch_for_offset(offset)
    }

    /// Where leader epoch `requested` ends: `(epoch, end offset)`, `(-1, -1)` if unknown
    /// (OffsetForLeaderEpoch, and Fetch's diverging-epoch check).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let end = self.log_end_offset();
        lock(&self.epochs).end_offset_for(requested, end)
    }

    /// The leader-epoch cache's entries, oldest first.
    pub fn epoch_entries(&self) -> Vec<crate::log::partition::leader_epoch::EpochEntry> {
        lock(&self.epochs).entries().to_vec()
    }

    /// Drops leader-epoch entries below a new log start (Kafka's `truncateFromStart`) and
    /// rewrites the checkpoint if any changed. Runs under the append lock (`_st`), so
    /// rewrites are ordered and never reach a deleted (and maybe recreated) topic's directory;
    /// the file is written outside the cache's own lock, which readers take.
    fn log_start_moved(&self, _st: &AppendState) {
        if self.deleted.load(Ordering::Acquire) {
            return;
        }
        let start = self.log_start_offset();
        let (path, entries) = {
            let mut epochs = lock(&self.epochs);
            if !epochs.truncate_from_start(start) {
                return;
            }
            (epochs.path().to_path_buf(), epochs.entries().to_vec())
        };
        if let Err(e) = crate::log::partition::leader_epoch::write_entries(&path, &entries) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the leader-epoch checkpoint failed");
        }
    }

    /// The log start if it lies inside the first segment (what the log-start-offset
    /// checkpoint records), else `None`.
    pub fn log_start_inside_segment(&self) -> Option<i64> {
        let first = self.segments().first().map(|s| s.base_offset())?;
        let start = self.log_start_offset();
        (start > first).then_some(start)
    }

    /// Drops the first `n` segments (never the last), advances log_start_offset and unlinks
    /// their files while the append lock `st` is held.
    fn remove_front(
        &self,
        st: std::sync::MutexGuard<'_, AppendState>,
        segs: &Arc<Vec<Arc<Segment>>>,
        n: usize,
        what: &str,
    ) -> Result<usize, LogError> {
        if n == 0 {
            return Ok(0);
        }
        self.set_segments(segs[n..].to_vec());
        self.log_start_offset.fetch_max(segs[n].base_offset(), Ordering::AcqRel);
        for stale in list_snapshots(&self.dir)
            .into_iter()
            .filter(|o| *o < segs[n].base_offset())
        {
            let _ = std::fs::remove_file(snapshot_path(&self.dir, stale));
        }
        // Try every segment; report the first failure.
        let mut first_err = None;
        for seg in &segs[..n] {
            if let Err(e) = seg.delete_files(&self.dir) {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "deleting a retained-out segment failed");
                first_err.get_or_insert(e);
            }
        }
        self.log_start_moved(&st);
        drop(st);
        if let Some(e) = first_err {
            return Err(e);
        }
        tracing::info!(topic = %self.topic, partition = self.index, segments = n, log_start_offset = self.log_start_offset(), "{what}");
        Ok(n)
    }

    /// Writes `<log end>.snapshot` of the producer state (Kafka does at every roll and at
    /// clean shutdown). Not fsynced: a torn snapshot fails its CRC and start-up falls
    /// back to an older one or to the log.
    fn write_producer_snapshot(&self, st: &AppendState) {
        // Written even when empty: a clean start then never scans the log.
        let path = snapshot_path(&self.dir, st.next_offset);
        if let Err(e) = std::fs::write(&path, st.producers.snapshot()) {
            // A partial snapshot (disk full) is removed: recovery then re-reads the log.
            let _ = std::fs::remove_file(&path);
            tracing::warn!(path = %path.display(), error = %e, "writing a producer snapshot failed");
        }
    }

    /// Appends a transaction marker (commit or abort) for producer `pid` at `epoch`: the
    /// producer's open transaction here ends, an abort is recorded in the active segment's
    /// `.txnindex`, and the last stable offset moves on. Blocking only when it rolls a
    /// segment; the caller flushes per [`AppendInfo`] (see `manager::append_marker_durably`).
    pub fn append_marker(
        self: &Arc<Self>,
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let marker = batch::control_batch(pid, epoch, commit, coordinator_epoch, now_ms);
        let cfg = self.config();
        let mut st = lock(&self.append);
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::PartitionDeleted);
        }
        if self.is_fenced() {
            return Err(LogError::Fenced);
        }
        st.producers.check_marker(pid, epoch, coordinator_epoch)?;
        let rolled = self.maybe_roll(&mut st, &cfg, &marker, now_ms)?;
        let base = st.next_offset;
        let leader_epoch = self.leader_epoch();
        let (offset, last) = st
            .active()?
            .append(&marker, |dst| {
                batch::set_base_offset(dst, base);
                batch::set_partition_leader_epoch(dst, leader_epoch);
            })
            .inspect_err(|e| {
                if matches!(e, LogError::Io { .. }) {
                    self.storage_failed(e);
                    tracing::error!(topic = %self.topic, partition = self.index, error = %e, "marker append failed; partition fenced");
                }
            })?;
        st.next_offset = last + 1;
        let done = st
            .producers
            .complete_txn(pid, epoch, coordinator_epoch, offset, commit, now_ms);
        let fu = st.producers.first_unstable_offset().unwrap_or(-1);
        // The abort is indexed before the marker and the new LSO are published, so no
        // read_committed fetch can see the aborted records without the entry.
        if let Some(t) = done.filter(|t| !t.committed) {
            let lso = if fu >= 0 { fu } else { st.next_offset };
            let indexed = st.active()?.txn_index().append(AbortedTxn {
                producer_id: t.producer_id,
                first_offset: t.first_offset,
                last_offset: t.last_offset,
                last_stable_offset: lso,
            });
            if let Err(e) = indexed {
                self.storage_failed(&e);
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "indexing an aborted transaction failed; partition fenced");
                return Err(e);
            }
        }
        self.first_unstable.store(fu, Ordering::Release);
        self.log_end_offset.store(st.next_offset, Ordering::Release);
        if !self.replicated.load(Ordering::Acquire) {
            self.high_watermark.store(st.next_offset, Ordering::Release);
        }
        let needs_flush = st.next_offset - self.recovery_point() >= cfg.flush_messages;
        drop(st);
        self.waiters.wake_all();
        Ok(AppendInfo {
            base_offset: offset,
            last_offset: offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset(),
            needs_flush,
            rolled,
        })
    }

    /// The producers with a transaction open in this partition: (producer id, epoch).
    pub fn open_transactions(&self) -> Vec<(i64, i16)> {
        lock(&self.append).producers.open_transactions()
    }

    /// Aborted transactions overlapping `[from, upper)`, for a read_committed fetch.
    pub fn aborted_txns(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut out = vec![];
        for seg in self.segments().iter() {
            seg.txn_index().overlapping(from, upper, &mut out);
        }
        out
    }

    /// Forgets idempotent producers idle longer than `producer.id.expiration.ms`.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        let expiration = self.config().producer_id_expiration_ms;
        lock(&self.append).producers.expire(now_ms, expiration)
    }

    /// Idempotent producers currently tracked.
    pub fn producer_count(&self) -> usize {
        lock(&self.append).producers.len()
    }

    /// The producers this partition tracks (DescribeProducers).
    pub fn describe_producers(&self) -> Vec<crate::log::partition::producer_state::ProducerSummary> {
        lock(&self.append).producers.describe()
    }

    /// Marks the partition deleted (its topic is being removed): waits for an in-flight
    /// append, then refuses appends, rolls and retention, so nothing touches the directory
    /// after it is renamed (a new topic of the same name may reuse the path).
    /// Fences the partition as an I/O error would (tests of the error paths).
    #[cfg(test)]
    pub(crate) fn fence(&self) {
        self.fenced.store(true, Ordering::Release);
    }

    /// Whether the partition's log was deleted here ([`Partition::mark_deleted`]).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn mark_deleted(&self) {
        let _st = lock(&self.append);
        self.deleted.store(true, Ordering::Release);
    }

    /// Clean shutdown: flush everything and trim the active segment's files to their data
    /// (the next start reads the exact size from the file length).
    pub fn close(&self) -> Result<(), LogError> {
        self.flush(i64::MAX)?;
        let st = lock(&self.append);
        // No append may follow the trim (it would write past the end of the file).
        self.fenced.store(true, Ordering::Release);
        self.write_producer_snapshot(&st);
        st.active.as_ref().map_or(Ok(()), |a| a.trim_files(true))
    }
}

/// Rebuilds the producer state at open: the newest valid snapshot at or below the log end
/// (and not below the log start), then every batch after it. Snapshots above the log end
/// (a truncated tail) are deleted.
fn rebuild_producers(dir: &Path, segments: &[Arc<Segment>], log_start: i64, log_end: i64) -> ProducerState {
    let mut from = log_start;
    let mut state = ProducerState::default();
    for offset in list_snapshots(dir).into_iter().rev() {
        if offset > log_end {
            let _ = std::fs::remove_file(snapshot_path(dir, offset));
            continue;
        }
        if offset < log_start {
            break;
        }
        match std::fs::read(snapshot_path(dir, offset))
            .map_err(|e| e.to_string())
            .and_then(|b| ProducerState::from_snapshot(&b))
        {
            Ok(s) => {
                state = s;
                from = offset;
                break;
            }
            Err(e) => {
                // As Kafka on a CorruptSnapshotException: the file goes (a torn snapshot
                // that a power loss left), and the state is rebuilt from the log.
                tracing::warn!(dir = %dir.display(), offset, error = %e, "deleting an unreadable producer snapshot");
                let _ = std::fs::remove_file(snapshot_path(dir, offset));
            }
        }
    }
    for seg in segments {
        // Entries for markers past the (possibly truncated) log end are stale.
        if let Err(e) = seg.txn_index().truncate_from(log_end) {
            tracing::warn!(dir = %dir.display(), error = %e, "trimming a .txnindex failed");
        }
    }
    for seg in segments.iter().filter(|s| s.end_offset() > from) {
        seg.for_each_batch(from.max(seg.base_offset()), |h| {
            if h.producer_id() < 0 {
                return;
            }
            if !h.is_control() {
                state.update(h, h.base_offset(), h.max_timestamp());
                return;
            }
            let Some(commit) = batch::marker_is_commit(h) else {
                return;
            };
            let coordinator_epoch = -1;
            let done = state.complete_txn(
                h.producer_id(),
                h.producer_epoch(),
                coordinator_epoch,
                h.base_offset(),
                commit,
                h.max_timestamp(),
            );
            // An abort whose index entry was lost in a crash is indexed again.
            if let Some(t) = done.filter(|t| !t.committed) {
                let lso = state.first_unstable_offset().unwrap_or(h.base_offset() + 1);
                let entry = AbortedTxn {
                    producer_id: t.producer_id,
                    first_offset: t.first_offset,
                    last_offset: t.last_offset,
                    last_stable_offset: lso,
                };
                if let Err(e) = seg.txn_index().append(entry) {
                    tracing::warn!(dir = %dir.display(), error = %e, "re-indexing an aborted transaction failed");
                }
            }
        });
    }
    state
}
