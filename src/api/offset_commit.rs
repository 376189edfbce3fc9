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
pub(super) type PartitionErrors = Vec<(i32, Option<ResponseError>)>;

/// The offsets that passed the broker's checks.
pub(super) type ToCommit = Vec<((String, i32), CommittedOffset)>;

/// One partition of an (Txn)OffsetCommit request: index, offset, leader epoch, metadata.
pub(super) type Requested = (i32, i64, i32, Option<String>);

/// The broker's checks shared by OffsetCommit and TxnOffsetCommit: unknown partitions get
/// UNKNOWN_TOPIC_OR_PARTITION, metadata longer than `offset.metadata.max.bytes` (counted in
/// UTF-16 units, as Kafka's `String.length()`) OFFSET_METADATA_TOO_LARGE; the rest is
/// returned as offsets to commit.
pub(super) fn check_offsets(
    broker: &Broker,
    topics: impl Iterator<Item = (String, Vec<Requested>)>,
    now: i64,
    expire: Option<i64>,
) -> (Vec<(String, PartitionErrors)>, ToCommit) {
    let max_meta = broker.groups().config().offset_metadata_max_bytes;
    let mut decided = vec![];
    let mut to_commit = vec![];
    for (name, partitions) in topics {
        let mut parts = vec![];
        for (i, offset, leader_epoch, metadata) in partitions {
            let exists = broker.partition_exists(&name, i);
            let metadata = metadata.unwrap_or_default();
            let err = if !exists {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.encode_utf16().count() > max_meta {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                to_commit.push((
                    (name.clone(), i),
                    CommittedOffset {
                        offset,
                        leader_epoch,
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
    (decided, to_commit)
}

pub async fn handle(broker: &Broker, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let group_id = req.group_id.0.to_string();
    let now = now_ms();
    let expire = (version <= 4 && req.retention_time_ms != -1).then(|| now.saturating_add(req.retention_time_ms));
    let topics = req.topics.iter().map(|t| {
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                let epoch = if version >= 6 { p.committed_leader_epoch } else { -1 };
                let meta = p.committed_metadata.as_ref().map(|m| m.to_string());
                (p.partition_index, p.committed_offset, epoch, meta)
            })
            .collect();
        (t.name.0.to_string(), parts)
    });
    let (decided, to_commit) = check_offsets(broker, topics, now, expire);
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
