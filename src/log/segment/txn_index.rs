//! A segment's aborted-transaction index (Kafka's `.txnindex`): one entry per transaction
//! aborted by a marker in that segment, so a read_committed Fetch can tell consumers which
//! records to drop without reading them.
//!
//! Entry (34 bytes, big-endian, appended in marker order): `version: i16 (0),
//! producer_id: i64, first_offset: i64, last_offset: i64, last_stable_offset: i64`.
//! `last_offset` is the abort marker's offset. The file is small and read whole at open; a
//! torn tail entry is ignored (start-up rebuilds entries from markers it re-reads).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::LogError;

const ENTRY_LEN: usize = 34;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

/// The `.txnindex` of one segment.
#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    entries: Mutex<Vec<AbortedTxn>>,
}

impl TxnIndex {
    /// Opens (reading whatever entries exist) the index at `path`.
    pub fn open(path: PathBuf) -> Result<Self, LogError> {
        let entries = match std::fs::read(&path) {
            Ok(b) => b
                .chunks_exact(ENTRY_LEN)
                .filter(|e| e[0..2] == [0, 0])
                .map(|e| {
                    let at = |o: usize| i64::from_be_bytes(e[o..o + 8].try_into().unwrap_or([0; 8]));
                    AbortedTxn {
                        producer_id: at(2),
                        first_offset: at(10),
                        last_offset: at(18),
                        last_stable_offset: at(26),
                    }
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(LogError::io(&path, e)),
        };
        Ok(Self {
            path,
            entries: Mutex::new(entries),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry (unless one for the same producer and marker is already there).
    pub fn append(&self, t: AbortedTxn) -> Result<(), LogError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries
            .iter()
            .any(|e| e.producer_id == t.producer_id && e.last_offset == t.last_offset)
        {
            return Ok(());
        }
        let mut b = [0u8; ENTRY_LEN];
        b[2..10].copy_from_slice(&t.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&t.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&t.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&t.last_stable_offset.to_be_bytes());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| LogError::io(&self.path, e))?;
        f.write_all(&b).map_err(|e| LogError::io(&self.path, e))?;
        entries.push(t);
        Ok(())
    }

    /// Aborted transactions that overlap `[from, upper)`.
    pub fn overlapping(&self, from: i64, upper: i64, out: &mut Vec<AbortedTxn>) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(
            entries
                .iter()
                .filter(|e| e.last_offset >= from && e.first_offset < upper)
                .copied(),
        );
    }

    /// Drops entries whose marker is at or after `offset` (the log was truncated there).
    pub fn truncate_from(&self, offset: i64) -> Result<(), LogError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.iter().all(|e| e.last_offset < offset) {
            return Ok(());
        }
        entries.retain(|e| e.last_offset < offset);
        let mut b = Vec::with_capacity(entries.len() * ENTRY_LEN);
        for t in entries.iter() {
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&t.producer_id.to_be_bytes());
            b.extend_from_slice(&t.first_offset.to_be_bytes());
            b.extend_from_slice(&t.last_offset.to_be_bytes());
            b.extend_from_slice(&t.last_stable_offset.to_be_bytes());
        }
        let tmp = self.path.with_extension("txnindex.tmp");
        std::fs::write(&tmp, b).map_err(|e| LogError::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| LogError::io(&self.path, e))
    }

    /// fsyncs the file if it exists.
    pub fn sync(&self) -> Result<(), LogError> {
        match std::fs::File::open(&self.path) {
            Ok(f) => f.sync_all().map_err(|e| LogError::io(&self.path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let idx = TxnIndex::open(path.clone()).unwrap();
        let a = AbortedTxn {
            producer_id: 3,
            first_offset: 10,
            last_offset: 20,
            last_stable_offset: 21,
        };
        idx.append(a).unwrap();
        idx.append(a).unwrap(); // idempotent
        idx.append(AbortedTxn {
            producer_id: 4,
            first_offset: 30,
            last_offset: 40,
            last_stable_offset: 41,
        })
        .unwrap();
        let reopened = TxnIndex::open(path.clone()).unwrap();
        let mut out = vec![];
        reopened.overlapping(15, 25, &mut out);
        assert_eq!(out, vec![a]);
        out.clear();
        reopened.overlapping(0, 100, &mut out);
        assert_eq!(out.len(), 2);
        // A torn tail is ignored.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(ENTRY_LEN + 5);
        std::fs::write(&path, bytes).unwrap();
        let torn = TxnIndex::open(path).unwrap();
        out.clear();
        torn.overlapping(0, 100, &mut out);
        assert_eq!(out, vec![a]);
    }
}
