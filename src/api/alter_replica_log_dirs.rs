//! AlterReplicaLogDirs (key 34, v1-v2) for brokk's one log dir, as ReplicaManager answers
//! it: the path must be the data directory's absolute path (LOG_DIR_NOT_FOUND otherwise,
//! checked before the partition), an unknown partition is UNKNOWN_TOPIC_OR_PARTITION, and a
//! partition already in that dir needs no move. A partition named twice: the last path wins.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, TopicName};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: AlterReplicaLogDirsRequest, _version: i16) -> AlterReplicaLogDirsResponse {
    let dir = std::path::absolute(broker.logs().data_dir()).unwrap_or_else(|_| broker.logs().data_dir().to_path_buf());
    let dir = dir.display().to_string();
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
        // Kafka's limit on `<topic>-<partition>.<uuid>-future` directory names.
        let code = if topic.0.len() + partition.to_string().len() + 41 > 255 {
            ResponseError::InvalidTopicException.code()
        } else if path != dir {
            ResponseError::LogDirNotFound.code()
        } else if broker.logs().partition(topic.0.as_str(), partition).is_none() {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            0
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
