//! DeleteRecords (key 21): advances partitions' log start offsets (offset -1: the high
//! watermark), as Kafka's ReplicaManager and UnifiedLog check it: unknown partitions,
//! internal topics, compact-only topics (POLICY_VIOLATION), offsets outside
//! [0, high watermark]. The new starts are made durable
//! before the answer (Kafka checkpoints them every 60 s); reads below them get
//! OFFSET_OUT_OF_RANGE and ListOffsets earliest returns them.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, TopicName};

use super::errors::log_error;
use crate::broker::Broker;

/// Kafka's low watermark of a failed partition.
const INVALID_LOW_WATERMARK: i64 = -1;

pub async fn handle(broker: &Broker, req: DeleteRecordsRequest, _version: i16) -> DeleteRecordsResponse {
    // One result per partition, the last offset asked winning, as Kafka's map of them.
    let mut wanted: BTreeMap<(TopicName, i32), i64> = BTreeMap::new();
    let mut order: Vec<TopicName> = vec![];
    for t in req.topics {
        if !order.contains(&t.name) {
            order.push(t.name.clone());
        }
        for p in t.partitions {
            wanted.insert((t.name.clone(), p.partition_index), p.offset);
        }
    }
    let mut results: BTreeMap<TopicName, Vec<DeleteRecordsPartitionResult>> = BTreeMap::new();
    let mut moved = false;
    for ((name, index), offset) in wanted {
        let mut r = DeleteRecordsPartitionResult::default();
        r.partition_index = index;
        r.low_watermark = INVALID_LOW_WATERMARK;
        let partition = broker.logs().partition(name.0.as_str(), index);
        let elsewhere = matches!(
            broker.leadership(name.0.as_str(), index),
            crate::broker::Leadership::Elsewhere { .. }
        );
        match partition {
            // In a cluster, another broker leads it.
            _ if elsewhere => r.error_code = ResponseError::NotLeaderOrFollower.code(),
            None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
            Some(_) if crate::log::internal::is_internal(name.0.as_str()) => {
                r.error_code = ResponseError::InvalidTopicException.code();
            }
            Some(p) if p.is_offline() => r.error_code = ResponseError::KafkaStorageError.code(),
            // A compact-only topic keeps the latest record of every key: Kafka refuses to
            // delete records of it "due to the configured policy".
            Some(p) if !p.config().cleanup_policy.delete => {
                r.error_code = ResponseError::PolicyViolation.code();
            }
            Some(p) => {
                let before = p.log_start_offset();
                match tokio::task::spawn_blocking(move || p.delete_records(offset)).await {
                    Ok(Ok(low)) => {
                        r.low_watermark = low;
                        moved |= low > before;
                    }
                    Ok(Err(e)) => r.error_code = log_error(&e).code(),
                    Err(_) => r.error_code = ResponseError::UnknownServerError.code(),
                }
            }
        }
        results.entry(name).or_default().push(r);
    }
    if moved {
        let logs = broker.logs().clone();
        let written = tokio::task::spawn_blocking(move || logs.write_log_start_checkpoint()).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(?written, "persisting the log start offsets failed");
            // Not durable: answer as Kafka does when the log cannot be written.
            for r in results.values_mut().flatten().filter(|r| r.error_code == 0) {
                r.error_code = ResponseError::KafkaStorageError.code();
                r.low_watermark = INVALID_LOW_WATERMARK;
            }
        }
    }
    let mut resp = DeleteRecordsResponse::default();
    resp.topics = order
        .into_iter()
        .filter_map(|name| {
            let partitions = results.remove(&name)?;
            let mut t = DeleteRecordsTopicResult::default();
            t.name = name;
            t.partitions = partitions;
            Some(t)
        })
        .collect();
    resp
}
