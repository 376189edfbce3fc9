//! Producer id allocation. Ids are reserved in blocks of [`BLOCK`]: the end of the current
//! block is written (and fsynced) to `<data-dir>/producer-id-block` before any id in it is
//! handed out, so after a crash the next start continues above every id ever given.
//!
//! File format: one line, `next_block_start=<i64>`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::LogError;
use crate::log::checkpoint;

/// Ids reserved per durable write.
pub const BLOCK: i64 = 1000;
const FILE: &str = "producer-id-block";
const KEY: &str = "next_block_start";

#[derive(Debug)]
struct Range {
    next: i64,
    end: i64,
}

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIdManager {
    path: PathBuf,
    range: Mutex<Range>,
}

impl ProducerIdManager {
    /// Reads the reservation file of `data_dir` (no id is handed out from an old block).
    pub fn open(data_dir: &Path) -> Result<Self, LogError> {
        let path = data_dir.join(FILE);
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .strip_prefix(&format!("{KEY}="))
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .ok_or_else(|| LogError::Invalid(format!("{} is malformed: {text:?}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(LogError::io(&path, e)),
        };
        Ok(Self {
            path,
            range: Mutex::new(Range {
                next: start,
                end: start,
            }),
        })
    }

    /// The next producer id; reserves a new block first when the current one is used up
    /// (blocking: a small fsynced write every [`BLOCK`] ids).
    pub fn next_id(&self) -> Result<i64, LogError> {
        let mut r = self.range.lock().unwrap_or_else(|p| p.into_inner());
        if r.next >= r.end {
            let end = r
                .next
                .checked_add(BLOCK)
                .ok_or_else(|| LogError::Invalid("producer ids exhausted".into()))?;
            checkpoint::write_atomic(&self.path, format!("{KEY}={end}\n"))?;
            r.end = end;
        }
        let id = r.next;
        r.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let a: Vec<i64> = (0..3).map(|_| m.next_id().unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(m);
        // A restart (or crash) skips the rest of the reserved block.
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.next_id().unwrap(), BLOCK);
        for _ in 0..BLOCK {
            m.next_id().unwrap();
        }
        assert_eq!(m.next_id().unwrap(), 2 * BLOCK + 1);
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert!(ProducerIdManager::open(dir.path()).is_err());
    }
}
