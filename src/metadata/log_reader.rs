//! Reading a metadata log from files: the segments of a `__cluster_metadata-0` directory, a
//! snapshot (`<offset>-<epoch>.checkpoint`) or `bootstrap.checkpoint`, as Kafka writes them:
//! v2 record batches, uncompressed; data batches hold framed metadata records (null keys),
//! control batches hold KRaft's control records (leader changes, snapshot headers and
//! footers, voters), which this reader skips.
//!
//! Owns: turning those files into `(offset, record)` pairs. Must not apply them.
//!
//! A log directory is read whole, from offset 0: a log whose older segments were deleted
//! below a snapshot is refused (reading the snapshot first is the caller's, once brokk
//! keeps such logs). Offsets must follow each other; only the last segment may end in a
//! batch cut short (one being written). Records past the high watermark are read too:
//! files do not say where it is.

use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;

use super::records::MetadataRecord;
use crate::log::record::batch::BatchHeader;

/// Why a metadata log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Log { path: PathBuf, message: String },
    #[error("bad record batch at byte {position} of {path}: {message}")]
    Batch {
        path: PathBuf,
        position: usize,
        message: String,
    },
    #[error("bad metadata record at offset {offset} of {path}: {message}")]
    Record {
        path: PathBuf,
        offset: i64,
        message: String,
    },
}

/// A metadata record with its offset in the log (or snapshot) and the leader epoch that
/// wrote its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRecord {
    pub offset: i64,
    pub epoch: i32,
    pub record: MetadataRecord,
}

/// Every metadata record of the file at `path`, in order. A batch cut short at the end of
/// the file (one still being written), or zeros there (a preallocated file's unwritten
/// end), end the file; any other damage is an error.
pub fn read_file(path: &Path) -> Result<Vec<LoggedRecord>, ReadError> {
    Ok(read_segment(path, 0, true)?.0)
}

/// The records of one file whose first offset is `base`, and the offset after its last.
fn read_segment(path: &Path, base: i64, last: bool) -> Result<(Vec<LoggedRecord>, i64), ReadError> {
    let data = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_batches(path, Bytes::from(data), base, last)
}

/// Every metadata record of a snapshot's (or one segment's) bytes, whose first offset is 0.
pub fn read_bytes(data: Bytes) -> Result<Vec<LoggedRecord>, ReadError> {
    Ok(read_batches(Path::new("(snapshot)"), data, 0, false)?.0)
}

/// Every metadata record of a `__cluster_metadata-0` directory's segments, in offset order.
pub fn read_log_dir(dir: &Path) -> Result<Vec<LoggedRecord>, ReadError> {
    let io = |source| ReadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let mut out = vec![];
    let mut next = 0i64;
    for (i, s) in segments.iter().enumerate() {
        let base = s
            .file_stem()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| ReadError::Log {
                path: s.clone(),
                message: "a segment not named by its base offset".into(),
            })?;
        if base != next {
            return Err(ReadError::Log {
                path: s.clone(),
                message: format!("the segment starts at offset {base}, expected {next}"),
            });
        }
        let (records, end) = read_segment(s, base, i + 1 == segments.len())?;
        out.extend(records);
        next = end;
    }
    Ok(out)
}

/// The records of `data` (batches from offset `base` on, without gaps) and the offset after
/// the last; a batch cut short at the end is allowed only in the `last` file.
fn read_batches(path: &Path, mut data: Bytes, base: i64, last: bool) -> Result<(Vec<LoggedRecord>, i64), ReadError> {
    let total = data.len();
    let mut out = vec![];
    let mut next = base;
    while let Some(frame) = BatchHeader::frame_len(&data) {
        // An appendable segment's file is preallocated: its unwritten end reads as zeros.
        if last && data.iter().take(12).all(|b| *b == 0) {
            data.clear();
            break;
        }
        let position = total - data.len();
        let bad = |message: String| ReadError::Batch {
            path: path.to_path_buf(),
            position,
            message,
        };
        let len = frame.map_err(|e| bad(e.to_string()))?;
        if data.len() < len {
            if last {
                break;
            }
            return Err(bad("a batch cut short in a segment that is not the last".into()));
        }
        let mut batch = data.split_to(len);
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| bad(e.to_string()))?;
        if batch.has_remaining() {
            return Err(bad("bytes after the batch".into()));
        }
        for r in set.records {
            if r.offset != next {
                return Err(bad(format!("offset {} where {next} was next", r.offset)));
            }
            next += 1;
            if r.control {
                continue;
            }
            let fail = |message: String| ReadError::Record {
                path: path.to_path_buf(),
                offset: r.offset,
                message,
            };
            if r.key.is_some() {
                return Err(fail("a metadata record with a key".into()));
            }
            let value = r
                .value
                .ok_or_else(|| fail("a metadata record without a value".into()))?;
            let record = MetadataRecord::decode(&value).map_err(|e| fail(e.to_string()))?;
            out.push(LoggedRecord {
                offset: r.offset,
                epoch: r.partition_leader_epoch,
                record,
            });
        }
    }
    if !data.is_empty() && !last {
        return Err(ReadError::Batch {
            path: path.to_path_buf(),
            position: total - data.len(),
            message: "bytes after the last batch of a segment that is not the last".into(),
        });
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::log_writer::data_batch;
    use crate::metadata::records::NoOpRecord;

    fn noops(n: usize) -> Vec<MetadataRecord> {
        vec![MetadataRecord::NoOp(NoOpRecord); n]
    }

    fn segment(dir: &Path, base: i64, batches: &[Bytes]) -> PathBuf {
        let path = dir.join(format!("{base:020}.log"));
        std::fs::write(&path, batches.concat()).unwrap();
        path
    }

    #[test]
    fn segments_are_read_in_order_and_checked_for_gaps_and_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        segment(d, 0, &[data_batch(&noops(2), 0, 1, 0), data_batch(&noops(1), 2, 1, 0)]);
        let tail = data_batch(&noops(2), 5, 2, 0);
        let last = segment(d, 3, &[data_batch(&noops(2), 3, 2, 0), tail.slice(..tail.len() - 1)]);
        let read = read_log_dir(d).unwrap();
        assert_eq!(
            read.iter().map(|r| (r.offset, r.epoch)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)]
        );
        // A cut batch is the end only in the last segment.
        std::fs::rename(&last, d.join(format!("{:020}.log", 3))).unwrap();
        segment(d, 5, &[data_batch(&noops(1), 5, 2, 0)]);
        assert!(matches!(read_log_dir(d), Err(ReadError::Batch { .. })));
        // A gap between segments, or a log that does not start at 0.
        let dir = tempfile::tempdir().unwrap();
        segment(dir.path(), 0, &[data_batch(&noops(1), 0, 1, 0)]);
        segment(dir.path(), 2, &[data_batch(&noops(1), 2, 1, 0)]);
        assert!(matches!(read_log_dir(dir.path()), Err(ReadError::Log { .. })));
        let dir = tempfile::tempdir().unwrap();
        segment(dir.path(), 7, &[data_batch(&noops(1), 7, 1, 0)]);
        assert!(matches!(read_log_dir(dir.path()), Err(ReadError::Log { .. })));
        // Offsets that do not follow each other inside a segment.
        let dir = tempfile::tempdir().unwrap();
        segment(
            dir.path(),
            0,
            &[data_batch(&noops(1), 0, 1, 0), data_batch(&noops(1), 5, 1, 0)],
        );
        assert!(matches!(read_log_dir(dir.path()), Err(ReadError::Batch { .. })));
    }
}
