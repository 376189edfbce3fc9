//! AlterReplicaLogDirs (key 34, v1-v2), as ReplicaManager answers it: the path must be the
//! absolute path of one of `log.dirs` (LOG_DIR_NOT_FOUND otherwise, checked before the
//! partition), an unknown partition is UNKNOWN_TOPIC_OR_PARTITION, an offline target
//! KAFKA_STORAGE_ERROR, and a partition already in that dir needs no move. Moving a replica
//! to another dir (Kafka's future log) is not implemented yet: UNKNOWN_SERVER_ERROR. A
//! partition named twice: the last path wins.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, TopicName};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: AlterReplicaLogDirsRequest, _version: i16) -> AlterReplicaLogDirsResponse {
    let logs = broker.logs();
    let dirs: Vec<(String, &std::sync::Arc<crate::log::log_dir::LogDir>)> = logs
        .log_dirs()
        .iter()
        .map(|d| {
            let abs = std::path::absolute(d.path()).unwrap_or_else(|_| d.path().to_path_buf());
            (abs.display().to_string(), d)
        })
        .collect();
    let mut wanted: BTreeMap<(TopicName, i32), String> = BTreeMap::new();
    for d in &req.dirs {
        for t in &d.topics {
            for p in &t.partitions {
                wanted.insert((t.name.clone(), *p), d.path.to_string());
            }
        }
    }
    let mut by_topic: BTreeMap<TopicName, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for ((topic, partition), path) in wanted {
        let target = dirs.iter().find(|(p, _)| *p == path).map(|(_, d)| *d);
        let code = if topic.0.len() + partition.to_string().len() + 41 > 255 {
            // Kafka's limit on `<topic>-<partition>.<uuid>-future` directory names.
            ResponseError::InvalidTopicException.code()
        } else if let Some(target) = target {
            match logs.partition(topic.0.as_str(), partition) {
                // Kafka checks the target dir first, then the partition (one in a failed
                // dir is offline: KAFKA_STORAGE_ERROR as well).
                _ if target.is_offline() => ResponseError::KafkaStorageError.code(),
                None => ResponseError::UnknownTopicOrPartition.code(),
                Some(p) if p.log_dir().is_offline() => ResponseError::KafkaStorageError.code(),
                Some(p) if std::sync::Arc::ptr_eq(p.log_dir(), target) => 0,
                Some(_) => {
                    tracing::warn!(topic = %topic.0, partition, to = %path, "moving a replica between log dirs is not implemented");
                    ResponseError::UnknownServerError.code()
                }
            }
        } else {
            ResponseError::LogDirNotFound.code()
        };
        let mut r = AlterReplicaLogDirPartitionResult::default();
        r.partition_index = partition;
        r.error_code = code;
        by_topic.entry(topic).or_default().push(r);
    }
    let mut resp = AlterReplicaLogDirsResponse::default();
    resp.results = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = AlterReplicaLogDirTopicResult::default();
            t.topic_name = name;
            t.partitions = partitions;
            t
        })
        .collect();
    resp
}
