//! Reading a metadata log from files: the segments of a `__cluster_metadata-0` directory, a
//! snapshot (`<offset>-<epoch>.checkpoint`) or `bootstrap.checkpoint`, as Kafka writes them:
//! v2 record batches, uncompressed; data batches hold framed metadata records (null keys),
//! control batches hold KRaft's control records (leader changes, snapshot headers and
//! footers, voters), which this reader skips.
//!
//! Owns: turning those files into `(offset, record)` pairs. Must not apply them.

use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;

use super::records::MetadataRecord;

/// Why a metadata log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
/// the file (one still being written) ends the file; any other damage is an error.
pub fn read_file(path: &Path) -> Result<Vec<LoggedRecord>, ReadError> {
    let data = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_batches(path, Bytes::from(data))
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
    for s in segments {
        out.extend(read_file(&s)?);
    }
    Ok(out)
}

fn read_batches(path: &Path, mut data: Bytes) -> Result<Vec<LoggedRecord>, ReadError> {
    let total = data.len();
    let mut out = vec![];
    // baseOffset i64, batchLength i32: a batch is 12 + batchLength bytes.
    while data.len() >= 12 {
        let len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        let position = total - data.len();
        let bad = |message: String| ReadError::Batch {
            path: path.to_path_buf(),
            position,
            message,
        };
        let Ok(len) = usize::try_from(len) else {
            return Err(bad(format!("batch length {len}")));
        };
        if data.len() < 12 + len {
            break;
        }
        let mut batch = data.split_to(12 + len);
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| bad(e.to_string()))?;
        if batch.has_remaining() {
            return Err(bad("bytes after the batch".into()));
        }
        for r in set.records {
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
    Ok(out)
}
