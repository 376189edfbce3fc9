//! One directory of `log.dirs`: its path, its lock and its health.
//!
//! Owns: whether the directory is online. A storage error other than a full disk on any
//! file in it (a failed write, fsync, roll or index write) takes the whole directory
//! offline, as Kafka's `LogDirFailureChannel` does: every partition in it answers produce
//! and fetch with KAFKA_STORAGE_ERROR, new partitions go to the other directories, and
//! DescribeLogDirs reports it failed. A restart brings it back (recovery runs over it); a
//! directory other than the metadata one that cannot be opened at start starts offline.
//! When the metadata directory (the first of `log.dirs`: topic metadata, quorum state) or
//! the last online directory fails, the broker halts, as Kafka does, if the process asked
//! for that ([`DirSet::halt_on_failure`]; the `brokk` binary does, an embedded broker does
//! not and keeps serving what it can).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::LogError;

/// The health shared by all of a broker's log directories.
#[derive(Debug, Default)]
pub struct DirSet {
    online: AtomicUsize,
    halt: AtomicBool,
}

impl DirSet {
    /// Halt the process when the metadata directory or every directory has failed.
    pub fn halt_on_failure(&self, halt: bool) {
        self.halt.store(halt, Ordering::Release);
    }
}

#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    /// The first of `log.dirs`: holds the topic metadata and quorum state.
    metadata: bool,
    offline: AtomicBool,
    set: Arc<DirSet>,
}

impl LogDir {
    /// Creates the directory if needed and takes its lock (one broker per directory),
    /// returned for the log manager to hold: partitions keep their `LogDir` and may
    /// outlive the manager for a moment, the lock must not. It counts as online once
    /// [`LogDir::opened`] says the rest of its start-up went well.
    pub fn open(path: &Path, metadata: bool, set: Arc<DirSet>) -> Result<(Self, File), LogError> {
        std::fs::create_dir_all(path).map_err(|e| LogError::io(path, e))?;
        let lock_path = path.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| LogError::io(&lock_path, e))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => LogError::Invalid(format!(
                "data directory {} is in use by another brokk process",
                path.display()
            )),
            std::fs::TryLockError::Error(e) => LogError::io(&lock_path, e),
        })?;
        let dir = Self {
            path: path.to_path_buf(),
            metadata,
            offline: AtomicBool::new(false),
            set,
        };
        Ok((dir, lock))
    }

    /// Counts the directory as online (its start-up went well).
    pub fn opened(&self) {
        self.set.online.fetch_add(1, Ordering::AcqRel);
    }

    /// A directory that could not be opened at start (an I/O error creating or reading it):
    /// offline from the beginning, as Kafka's start-up with a failed log dir.
    pub fn failed_at_start(path: &Path, error: &LogError, set: Arc<DirSet>) -> Self {
        tracing::error!(dir = %path.display(), %error, "log directory failed at start: its partitions are offline (KAFKA_STORAGE_ERROR) until a restart");
        Self {
            path: path.to_path_buf(),
            metadata: false,
            offline: AtomicBool::new(true),
            set,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_metadata(&self) -> bool {
        self.metadata
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Takes the directory offline after `error` (once; later calls do nothing).
    pub fn fail(&self, error: &LogError) {
        if self.offline.swap(true, Ordering::AcqRel) {
            return;
        }
        let left = self.set.online.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        tracing::error!(dir = %self.path.display(), %error, online_dirs = left, "log directory failed: its partitions are offline (KAFKA_STORAGE_ERROR) until a restart");
        if (self.metadata || left == 0) && self.set.halt.load(Ordering::Acquire) {
            let why = if self.metadata {
                "the metadata log directory"
            } else {
                "every log directory"
            };
            tracing::error!(dir = %self.path.display(), "halting the broker: {why} has failed (as Kafka does)");
            // Kafka's Exit.halt: no shutdown hooks, nothing more written anywhere.
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(1) };
        }
    }
}
