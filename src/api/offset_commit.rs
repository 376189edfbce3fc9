//! OffsetCommit: the broker checks topics (UNKNOWN_TOPIC_OR_PARTITION) and metadata size
//! (OFFSET_METADATA_TOO_LARGE, counted in UTF-16 units as Kafka's `String.length()`); the
//! group checks member and generation; the commit is in `__consumer_offsets` (durable per
//! the flush policy) before it is acknowledged. v2-v4 `retention_time_ms` sets an explicit
//! expiry; later versions use `offsets.retention.minutes`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::errors::group_error;
use crate::broker::Broker;
use crate::group::GroupError;
use crate::group::state::CommittedOffset;
use crate::log::now_ms;

/// Each partition of a topic with the error decided before the group is asked.
type PartitionErrors = Vec<(i32, Option<ResponseError>)>;

pub async fn handle(broker: &Broker, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let group_id = req.group_id.0.to_string();
    let now = now_ms();
    let max_meta = broker.groups().config().offset_metadata_max_bytes;
    let expire = (version <= 4 && req.retention_time_ms != -1).then(|| now.saturating_add(req.retention_time_ms));
    // Per partition: an error decided here, or the offset to commit.
    let mut decided: Vec<(String, PartitionErrors)> = vec![];
    let mut to_commit = vec![];
    for t in &req.topics {
        let name = t.name.0.to_string();
        let topic = broker.logs().topic(&name);
        let mut parts = vec![];
        for p in &t.partitions {
            let i = p.partition_index;
            let exists = topic
                .as_ref()
                .is_some_and(|t| i >= 0 && (i as usize) < t.partitions.len());
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
            let err = if !exists {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.encode_utf16().count() > max_meta {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                to_commit.push((
                    (name.clone(), i),
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                        metadata,
                        commit_timestamp_ms: now,
                        expire_timestamp_ms: expire,
                    },
                ));
                None
            };
            parts.push((i, err));
        }
        decided.push((name, parts));
    }
    let group_err = if to_commit.is_empty() {
        None
    } else {
        broker
            .groups()
            .commit(
                &group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id_or_member_epoch,
                to_commit,
            )
            .await
            .err()
            .map(|e| match e {
                // A missing group: GROUP_ID_NOT_FOUND from v9 (KIP-848), before that
                // ILLEGAL_GENERATION.
                GroupError::GroupIdNotFound if version < 9 => group_error(&GroupError::IllegalGeneration),
                e => group_error(&e),
            })
    };
    let mut resp = OffsetCommitResponse::default();
    resp.topics = decided
        .into_iter()
        .map(|(name, parts)| {
            let mut t = OffsetCommitResponseTopic::default();
            t.name = super::topic_name(&name);
            t.partitions = parts
                .into_iter()
                .map(|(i, err)| {
                    let mut p = OffsetCommitResponsePartition::default();
                    p.partition_index = i;
                    p.error_code = err.or(group_err).map(|e| e.code()).unwrap_or(0);
                    p
                })
                .collect();
            t
        })
        .collect();
    resp
}
