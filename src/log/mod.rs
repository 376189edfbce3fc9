//! Storage: partitions as append-only logs of segment files in Kafka's on-disk layout.
//!
//! Owns: every byte under the data directories (`log.dirs`; the layout below is each
//! one's, and the first also holds the metadata: `.topics`, `quorum-state`). Knows
//! RecordBatch bytes, never kafka-protocol request/response types.
//!
//! ```text
//! <data-dir>/meta.properties                    cluster.id, node.id (Kafka's format)
//! <data-dir>/.kafka_cleanshutdown               present only after a clean shutdown
//! <data-dir>/recovery-point-offset-checkpoint   Kafka's checkpoint format
//! <data-dir>/.topics/<topic>.properties         topic id, partition count, config overrides
//! <data-dir>/<topic>-<partition>/partition.metadata
//! <data-dir>/<topic>-<partition>/leader-epoch-checkpoint   Kafka's format (see leader_epoch)
//! <data-dir>/<topic>-<partition>/<base_offset:020>.log | .index | .timeindex
//! ```
//!
//! # Durability (the one place this promise is written)
//!
//! A produce is acknowledged once its batch is in the kernel's page cache (written into
//! the segment file with pwrite(2); readers see it through the segment's shared mapping of
//! the same pages). With the default flush policy
//! (`log.flush.interval.messages` and `log.flush.interval.ms` unset, as in Kafka) the OS
//! writes pages back on its own schedule: **acknowledged data survives a crash or SIGKILL
//! of brokk**, but not a power loss or kernel crash. Sealed segments are fsynced in the
//! background when they roll, and everything is fsynced on clean shutdown.
//!
//! With `log.flush.interval.messages=N` (or topic `flush.messages=N`), a produce that brings
//! the unflushed count to `N` or more is fsynced (msync of the written range) *before* its
//! acks=1/-1 response is sent; `N=1` means every acknowledged batch is on disk and survives a
//! power loss. Concurrent producers share one fsync (group commit). With
//! `log.flush.interval.ms=T`, a background task fsyncs partitions with data older than `T`.
//! An fsync or write error takes the partition's log directory offline (see `log_dir`): its
//! partitions answer every partition request with KAFKA_STORAGE_ERROR until a restart
//! recovers them from the disk; a directory that cannot be opened at start starts offline
//! (`LogManager::open_dirs`). A power loss is simulated in `tests/power_loss.rs` (faultfs).
//!
//! # Layout of this module
//!
//! - `record/`: RecordBatch bytes (the v2 batch, its records and codecs, validation);
//! - `segment/`: one segment's files (the mapped `.log`, its indexes, the transaction
//!   index) and the descriptor-releasing file handle;
//! - `partition/`: one partition's log (appends, reads, rolls, retention) and its state
//!   (producer state, leader epochs, group commit, fetch waiters, compaction's swap);
//! - `cleaner/`: the log cleaner (compaction);
//! - here: the manager of every partition (`manager`), start-up recovery, checkpoints,
//!   log configs and directories.
//!
//! On start without the clean-shutdown marker, every segment at or after the recovery point
//! is scanned from byte 0: length, magic, CRC32C and offset order are checked, the first bad
//! byte and everything after it is truncated, and the indexes are rebuilt.

pub mod checkpoint;
pub mod cleaner;
pub mod config;
pub mod config_defs;
pub mod internal;
pub mod log_dir;
pub mod manager;
pub mod partition;
pub mod partition_set;
pub mod record;
pub mod recovery;
pub mod reserve;
pub mod segment;
pub mod structs;

/// Record-batch fixtures shared with the TCP tests and benches.
#[cfg(test)]
#[path = "../../tests/common/records.rs"]
pub(crate) mod test_fixture;
#[cfg(test)]
mod txn_tests;

use std::path::{Path, PathBuf};

pub use config::{LogConfig, TimestampType};
pub use manager::LogManager;
pub use partition::{AppendInfo, FetchedData, Partition, Role};

/// Errors of the storage layer. Mapped to Kafka error codes in exactly one place
/// (`api::errors`).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt record batch: {0}")]
    CorruptBatch(#[from] record::batch::BatchError),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { size: usize, max: usize },
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("produce request holds {0} record batches; magic v2 requires exactly one")]
    NotOneBatch(usize),
    #[error("partition storage is fenced after an earlier I/O error")]
    Fenced,
    #[error("the partition's topic was deleted")]
    PartitionDeleted,
    /// An idempotent batch from an older producer epoch (INVALID_PRODUCER_EPOCH).
    #[error("{0}")]
    InvalidProducerEpoch(String),
    /// An idempotent batch that does not follow its producer's last sequence.
    #[error("{0}")]
    OutOfOrderSequence(String),
    /// A transaction marker from a coordinator older than the producer's last one
    /// (TRANSACTION_COORDINATOR_FENCED).
    #[error("{0}")]
    CoordinatorFenced(String),
    /// A write that does not fit the producer's transaction state (INVALID_TXN_STATE).
    #[error("{0}")]
    InvalidTxnState(String),
    /// Records of a batch that break a rule (keyless records on a compacted topic): the
    /// batch's 0-based record indexes with their messages; nothing was appended.
    #[error("{message}")]
    RecordErrors {
        errors: Vec<(i32, String)>,
        message: String,
        /// A timestamp out of range is among them (INVALID_TIMESTAMP, not INVALID_RECORD).
        invalid_timestamp: bool,
    },
    #[error("invalid log state: {0}")]
    Invalid(String),
    /// The disk is full (ENOSPC, EDQUOT) where nothing was changed yet (blocks are
    /// allocated before any byte is written): the write is refused, retriably
    /// (KAFKA_STORAGE_ERROR), and the partition is not fenced, so writes resume by
    /// themselves once space is freed.
    #[error("no space left for {path}: {source}")]
    NoSpace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An idle log's released descriptor could not be opened again (e.g. EMFILE): the
    /// append is refused, retriably, and the partition is not fenced (nothing was written).
    #[error("cannot reopen {path}: {source}")]
    Reopen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    /// An I/O error on `path`; a full disk is [`LogError::NoSpace`].
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        let path = path.to_path_buf();
        if is_no_space(&source) {
            LogError::NoSpace { path, source }
        } else {
            LogError::Io { path, source }
        }
    }

    /// The disk is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, LogError::NoSpace { .. })
    }
}

/// ENOSPC or EDQUOT.
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Allocates disk blocks for `[from, to)` of `file` (`posix_fallocate`), so that later
/// writes through a mapping cannot hit ENOSPC (which would be a SIGBUS, not an error).
pub(crate) fn allocate(file: &std::fs::File, path: &Path, from: usize, to: usize) -> Result<(), LogError> {
    use std::os::fd::AsRawFd;
    if to <= from {
        return Ok(());
    }
    // SAFETY: plain syscall on an open file descriptor with in-range arguments.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), from as libc::off_t, (to - from) as libc::off_t) };
    if rc != 0 {
        return Err(LogError::io(path, std::io::Error::from_raw_os_error(rc)));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
