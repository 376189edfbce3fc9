//! The start-up reserve: `<data-dir>/.brokk-reserve`, a file of [`RESERVE_BYTES`] of
//! allocated blocks. Every start gives it back first, so the start's own writes (the
//! quorum state, each partition's leader-epoch checkpoint, rebuilt indexes, the log-start
//! checkpoint) find room even when the disk filled up while brokk ran: brokk starts and
//! serves reads on a full disk. It is taken again at the end of the start and by the
//! background tasks once there is room (after retention, a deleted topic, or the operator
//! freed space).
//!
//! Owns: that one file. Nothing else in the data directory.

use std::path::Path;

use super::LogError;

pub const RESERVE_FILE: &str = ".brokk-reserve";
/// Enough for a start of a few thousand partitions (each rewrite of a small file needs one
/// block more while its temporary copy exists).
pub const RESERVE_BYTES: usize = 8 << 20;

/// Gives the reserve back (start of a start).
pub fn release(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(RESERVE_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io(&path, e)),
        _ => Ok(()),
    }
}

/// Takes the reserve if it is not held; `Ok(false)` if the disk has no room for it yet.
pub fn restore(dir: &Path) -> Result<bool, LogError> {
    let path = dir.join(RESERVE_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() as usize == RESERVE_BYTES) {
        return Ok(true);
    }
    let tmp = dir.join(format!("{RESERVE_FILE}.tmp"));
    let made = std::fs::File::create(&tmp)
        .map_err(|e| LogError::io(&tmp, e))
        .and_then(|f| super::allocate(&f, &tmp, 0, RESERVE_BYTES))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, e)));
    match made {
        Ok(()) => Ok(true),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.is_no_space() { Ok(false) } else { Err(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_and_restored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(restore(dir.path()).unwrap());
        let len = std::fs::metadata(dir.path().join(RESERVE_FILE)).unwrap().len();
        assert_eq!(len as usize, RESERVE_BYTES);
        release(dir.path()).unwrap();
        assert!(!dir.path().join(RESERVE_FILE).exists());
        release(dir.path()).unwrap();
        assert!(restore(dir.path()).unwrap());
    }
}
