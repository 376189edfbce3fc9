//! DescribeLogDirs (key 35): every directory of `log.dirs` (an offline one with
//! KAFKA_STORAGE_ERROR and nothing else), with the size of each of its partitions' log
//! files, as Kafka's `ReplicaManager.describeLogDirs`: all partitions when the request's
//! topics are null, else the listed ones this broker hosts (others are left out, as Kafka
//! does); v4+ adds the file system's total and usable bytes.

use std::collections::BTreeMap;
use std::path::Path;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::broker::Broker;
use crate::log::Partition;

/// (total, usable) bytes of the file system holding `dir`, as Java's `FileStore`.
fn space(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `st` a valid, writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as i64;
    Some((st.f_blocks as i64 * unit, st.f_bavail as i64 * unit))
}

fn describe(p: &Partition) -> DescribeLogDirsPartition {
    let mut d = DescribeLogDirsPartition::default();
    d.partition_index = p.index();
    d.partition_size = p.size_bytes() as i64;
    d.offset_lag = 0;
    d.is_future_key = false;
    d
}

pub async fn handle(broker: &Broker, req: DescribeLogDirsRequest, version: i16) -> DescribeLogDirsResponse {
    let logs = broker.logs();
    let mut resp = DescribeLogDirsResponse::default();
    for ld in logs.log_dirs() {
        let mut dir = DescribeLogDirsResult::default();
        // Kafka's `toAbsolutePath` (not resolving links), as AlterReplicaLogDirs matches.
        let abs = std::path::absolute(ld.path()).unwrap_or_else(|_| ld.path().to_path_buf());
        dir.log_dir = StrBytes::from_string(abs.to_string_lossy().into_owned());
        if ld.is_offline() {
            // Kafka's answer for an offline dir: the error and nothing else.
            dir.error_code = ResponseError::KafkaStorageError.code();
            resp.results.push(dir);
            continue;
        }
        let here = |p: &&std::sync::Arc<Partition>| std::sync::Arc::ptr_eq(p.log_dir(), ld);
        let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        match &req.topics {
            None => {
                for t in logs.topics() {
                    by_topic.insert(
                        t.name.to_string(),
                        t.partitions.iter().filter(here).map(|p| describe(p)).collect(),
                    );
                }
            }
            Some(wanted) => {
                for w in wanted {
                    let Some(t) = logs.topic(w.topic.0.as_str()) else {
                        continue;
                    };
                    let found = w
                        .partitions
                        .iter()
                        .filter_map(|i| usize::try_from(*i).ok().and_then(|i| t.partitions.get(i)))
                        .filter(here)
                        .map(|p| describe(p));
                    by_topic.entry(t.name.to_string()).or_default().extend(found);
                }
            }
        }
        dir.topics = by_topic
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(name, partitions)| {
                let mut t = DescribeLogDirsTopic::default();
                t.name = topic_name(&name);
                t.partitions = partitions;
                t
            })
            .collect();
        if version >= 4 {
            let (total, usable) = space(ld.path()).unwrap_or((-1, -1));
            dir.total_bytes = total;
            dir.usable_bytes = usable;
        }
        resp.results.push(dir);
    }
    resp
}
