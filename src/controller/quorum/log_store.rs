//! The quorum's Raft log: openraft's `RaftLogStorage` over the metadata log partition
//! (`LogManager::open_metadata_log`), one entry per record batch at offset = index.
//!
//! The contract openraft needs, and how it is kept:
//! - appended entries are readable when `append` returns, and durable (fsynced) before
//!   its callback fires: `Partition::append_as_follower`, then `Partition::flush`;
//! - the vote is durable before `save_vote` returns (`vote.rs`);
//! - `truncate` removes a conflicting tail (`Partition::truncate_to`, crash-safe);
//! - `purge` removes entries from the front once a snapshot holds them: the last purged
//!   log id is written (fsynced) to `quorum-purged` first, then the log start moves
//!   (`Partition::delete_records`; a purge past the log end empties the log and starts it
//!   after the purged entry). A restart re-applies the recorded purge.
//!
//! The store reads its own log up to its end: its high watermark is kept at the log end.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{EntryPayload, RaftLogReader, StorageIOError};

use super::codec::{decode_entry, encode_entry};
use super::{Entry, LogId, Quorum, StorageError, Vote, log_id, vote};
use crate::log::record::batch;
use crate::log::{LogError, Partition, checkpoint, now_ms};

const PURGED_FILE: &str = "quorum-purged";
/// Bytes read per step when entries are read back.
const READ_BYTES: usize = 1 << 20;

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(openraft::AnyError::error(e)).into()
}
fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(openraft::AnyError::error(e)).into()
}

/// The metadata log as openraft's log storage (cloned as its log reader).
#[derive(Clone)]
pub struct MetadataLogStore {
    log: Arc<Partition>,
    dir: PathBuf,
    vote: Arc<Mutex<Option<Vote>>>,
    purged: Arc<Mutex<Option<LogId>>>,
}

impl Debug for MetadataLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataLogStore").field("dir", &self.dir).finish()
    }
}

fn parse_purged(text: &str) -> Option<LogId> {
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>());
    match (it.next(), it.next()) {
        // Offsets are i64: the entry after the purged one must have one too.
        (Some(Ok(index)), Some(Ok(term))) if index < i64::MAX as u64 => Some(log_id(term, index)),
        _ => None,
    }
}

impl MetadataLogStore {
    /// The store over `log` (its directory holds the vote and purge files too).
    pub fn open(log: Arc<Partition>) -> Result<Self, LogError> {
        let dir = log.dir().to_path_buf();
        let vote = vote::load(&dir)?;
        let purged_path = dir.join(PURGED_FILE);
        let purged = match std::fs::read_to_string(&purged_path) {
            Ok(t) => Some(
                parse_purged(&t)
                    .ok_or_else(|| LogError::Invalid(format!("{}: not `<index> <term>`", purged_path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(LogError::io(&purged_path, e)),
        };
        log.set_high_watermark(log.log_end_offset());
        let store = Self {
            log,
            dir,
            vote: Arc::new(Mutex::new(vote)),
            purged: Arc::new(Mutex::new(purged)),
        };
        if let Some(p) = purged {
            store.remove_front(p)?;
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entries at offsets `[start, end)` still in the log (a blocking read).
    pub fn read_entries(&self, start: u64, end: u64) -> Result<Vec<Entry>, String> {
        let start = start.max(self.log.log_start_offset() as u64);
        if start >= end {
            return Ok(vec![]);
        }
        self.read(start, end)
    }

    /// The first offset still in the log (the entries before it are in a snapshot).
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// The log without the entries up to `purged`.
    fn remove_front(&self, purged: LogId) -> Result<(), LogError> {
        let start = purged.index as i64 + 1;
        if start > self.log.log_end_offset() || self.log.log_start_offset() > start {
            if self.log.log_start_offset() != start || self.log.log_end_offset() != start {
                self.log.truncate_fully_and_start_at(start)?;
            }
        } else {
            self.log.delete_records(start)?;
        }
        Ok(())
    }

    /// The last entry's log id, its term read from the batch itself (the leader-epoch
    /// file is a cache that a crash may leave behind the log).
    fn last_log_id(&self) -> Result<Option<LogId>, String> {
        let end = self.log.log_end_offset();
        if end <= self.log.log_start_offset() {
            return Ok(None);
        }
        let read = self
            .log
            .read(end - 1, READ_BYTES, true, false)
            .map_err(|e| e.to_string())?;
        let records = read.records.unwrap_or_default();
        let (_, last) = batch::iter_batches(&records)
            .last()
            .ok_or_else(|| format!("no batch holds offset {}", end - 1))?;
        let term = u64::try_from(last.partition_leader_epoch()).map_err(|_| "a negative epoch".to_string())?;
        Ok(Some(log_id(term, last.last_offset() as u64)))
    }

    /// The entries at offsets `[start, end)`.
    fn read(&self, start: u64, end: u64) -> Result<Vec<Entry>, String> {
        let mut out = vec![];
        let mut at = start as i64;
        let end = end.min(i64::MAX as u64) as i64;
        let end = end.min(self.log.log_end_offset());
        while at < end {
            let read = self.log.read(at, READ_BYTES, true, false).map_err(|e| e.to_string())?;
            let Some(records) = read.records else { break };
            let mut progressed = false;
            for (_, h) in batch::iter_batches(&records) {
                let e = decode_entry(h.bytes()).map_err(|e| format!("offset {}: {e}", h.base_offset()))?;
                let index = e.log_id.index as i64;
                if index >= end {
                    return Ok(out);
                }
                if index >= at {
                    out.push(e);
                    at = index + 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Err(format!("no entry at offset {at}"));
            }
        }
        Ok(out)
    }
}

impl RaftLogReader<Quorum> for MetadataLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        let start = start.max(self.log.log_start_offset() as u64);
        if start >= end {
            return Ok(vec![]);
        }
        self.read(start, end).map_err(read_err)
    }
}

impl RaftLogStorage<Quorum> for MetadataLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Quorum>, StorageError> {
        let purged = *self.purged.lock().unwrap_or_else(|e| e.into_inner());
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: self.last_log_id().map_err(read_err)?.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, v: &Vote) -> Result<(), StorageError> {
        let (dir, v2) = (self.dir.clone(), *v);
        tokio::task::spawn_blocking(move || vote::save(&dir, &v2))
            .await
            .map_err(|e| StorageIOError::write_vote(openraft::AnyError::error(e)))?
            .map_err(|e| StorageIOError::write_vote(&e))?;
        *self.vote.lock().unwrap_or_else(|e| e.into_inner()) = Some(*v);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(*self.vote.lock().unwrap_or_else(|e| e.into_inner()))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<Quorum>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let vote = *self.vote.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        let mut batches = vec![];
        for e in entries {
            // A blank entry opens its term: the vote of that term names its leader.
            let leader = match (&e.payload, vote) {
                (EntryPayload::Blank, Some(v)) if v.leader_id.term == e.log_id.leader_id.term => v.leader_id.voted_for,
                _ => None,
            };
            let batch = encode_entry(&e, leader, now).map_err(write_err)?;
            batches.push((e.log_id, batch));
        }
        let log = self.log.clone();
        let appended = tokio::task::spawn_blocking(move || {
            for (id, batch) in batches {
                let index = id.index as i64;
                // openraft truncates a conflicting tail before it overwrites it, and never
                // leaves a gap; the log stays contiguous either way: an entry below the end
                // replaces the tail from there, one past it starts the log over.
                if index < log.log_end_offset() {
                    log.truncate_to(index).map_err(|err| (id, err))?;
                } else if index > log.log_end_offset() {
                    log.truncate_fully_and_start_at(index).map_err(|err| (id, err))?;
                }
                log.append_as_follower(&batch, now).map_err(|err| (id, err))?;
            }
            log.set_high_watermark(log.log_end_offset());
            Ok::<_, (LogId, LogError)>(log)
        })
        .await
        .map_err(write_err)?
        .map_err(|(id, err)| StorageIOError::write_log_entry(id, &err))?;
        // Readable now; durable when the callback fires.
        tokio::spawn(async move {
            let end = appended.log_end_offset();
            let flushed = tokio::task::spawn_blocking(move || appended.flush(end))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r.map_err(std::io::Error::other));
            callback.log_io_completed(flushed);
        });
        Ok(())
    }

    async fn truncate(&mut self, id: LogId) -> Result<(), StorageError> {
        let index = i64::try_from(id.index).map_err(write_err)?;
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            log.truncate_to(index)?;
            log.set_high_watermark(log.log_end_offset());
            Ok::<_, LogError>(())
        })
        .await
        .map_err(write_err)?
        .map_err(|e| write_err(&e))
    }

    async fn purge(&mut self, id: LogId) -> Result<(), StorageError> {
        if id.index >= i64::MAX as u64 {
            return Err(write_err(format!("purge to index {}", id.index)));
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let path = store.dir.join(PURGED_FILE);
            checkpoint::write_atomic(&path, format!("{} {}\n", id.index, id.leader_id.term))?;
            *store.purged.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
            store.remove_front(id)?;
            store.log.set_high_watermark(store.log.log_end_offset());
            Ok::<_, LogError>(())
        })
        .await
        .map_err(write_err)?
        .map_err(|e| write_err(&e))
    }
}
