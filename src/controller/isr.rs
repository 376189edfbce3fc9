//! AlterPartition (56) decided as Kafka's `ReplicationControlManager.alterPartition`: a
//! partition's leader asks to change its ISR, and the controller checks, in Kafka's order:
//! - the request: the asking broker's registration epoch (STALE_BROKER_EPOCH, whole
//!   request);
//! - each topic: known by id (UNKNOWN_TOPIC_ID);
//! - each partition: known (UNKNOWN_TOPIC_OR_PARTITION); a leader epoch or partition epoch
//!   ahead of the controller's (NOT_CONTROLLER: this controller is behind); a leader epoch
//!   behind (FENCED_LEADER_EPOCH); the asker not the leader (INVALID_REQUEST); a partition
//!   epoch behind (INVALID_UPDATE_VERSION); an ISR with duplicates or non-replicas, or
//!   without the leader (INVALID_REQUEST); a leader recovery state that goes back to
//!   recovering, or a recovering partition with more than one member (INVALID_REQUEST); a
//!   member that is not registered, fenced, shutting down or of another broker epoch
//!   (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED before v2).
//!
//! An accepted change is one PartitionChangeRecord built by `change.rs` (ISR and recovery
//! state, and what follows: an ISR that holds every target replica of a reassignment
//! completes it); the answer carries the partition as it is after the change. If the
//! change moved the leadership (a completed reassignment that removed the leader) the
//! record is still written and the answer is NEW_LEADER_ELECTED (FENCED_LEADER_EPOCH
//! before v2), as Kafka's. A change that changes nothing writes nothing and is answered
//! with the current state.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_request::PartitionData as Asked;
use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};

use super::change::PartitionChange;
use super::election::{acceptable, election_for};
use crate::log::LogConfig;
use crate::metadata::MetadataImage;
use crate::metadata::image::PartitionRegistration;
use crate::metadata::records::{MetadataRecord, NO_LEADER_CHANGE};

/// The answer, and the records to commit before sending it (`defaults`: the broker's topic
/// config defaults, for `unclean.leader.election.enable`).
pub fn alter_partition(
    image: &MetadataImage,
    req: &AlterPartitionRequest,
    version: i16,
    defaults: &LogConfig,
) -> (AlterPartitionResponse, Vec<MetadataRecord>) {
    let mut resp = AlterPartitionResponse::default();
    let broker = req.broker_id.0;
    if image.brokers.get(&broker).is_none_or(|b| b.epoch != req.broker_epoch) {
        resp.error_code = ResponseError::StaleBrokerEpoch.code();
        return (resp, vec![]);
    }
    let mut records = vec![];
    for t in &req.topics {
        let mut out = TopicData::default().with_topic_id(t.topic_id);
        let topic = image.topics.get(&t.topic_id);
        for asked in &t.partitions {
            let current = topic.and_then(|tp| tp.partitions.get(&asked.partition_index));
            let error = match (topic, current) {
                (None, _) if version > 1 => Err(ResponseError::UnknownTopicId),
                (None, _) | (_, None) => Err(ResponseError::UnknownTopicOrPartition),
                (Some(_), Some(p)) => check(image, broker, p, asked, version),
            };
            let mut answer = PartitionData::default().with_partition_index(asked.partition_index);
            match (error, current) {
                (Err(e), _) => answer.error_code = e.code(),
                (Ok(isr), Some(p)) => {
                    let mut after = p.clone();
                    let name = topic.map_or("", |tp| tp.name.as_str());
                    let may_lead = |r: i32| acceptable(image, r);
                    let change = PartitionChange::new(p, t.topic_id, asked.partition_index, &may_lead)
                        .election(election_for(image, defaults, name))
                        .isr(isr)
                        .recovery(asked.leader_recovery_state)
                        .build();
                    if let Some(change) = change {
                        after.merge(&change);
                        let moved = change.leader != NO_LEADER_CHANGE && change.leader != broker;
                        records.push(MetadataRecord::PartitionChange(change));
                        if moved {
                            answer.error_code = if version > 1 {
                                ResponseError::NewLeaderElected.code()
                            } else {
                                ResponseError::FencedLeaderEpoch.code()
                            };
                            out.partitions.push(answer);
                            continue;
                        }
                    }
                    answer.leader_id = BrokerId(after.leader);
                    answer.leader_epoch = after.leader_epoch;
                    answer.isr = after.isr.iter().map(|b| BrokerId(*b)).collect();
                    answer.leader_recovery_state = after.leader_recovery_state;
                    answer.partition_epoch = after.partition_epoch;
                }
                (Ok(_), None) => answer.error_code = ResponseError::UnknownTopicOrPartition.code(),
            }
            out.partitions.push(answer);
        }
        resp.topics.push(out);
    }
    (resp, records)
}

/// The new ISR if the change may be made.
fn check(
    image: &MetadataImage,
    broker: i32,
    p: &PartitionRegistration,
    asked: &Asked,
    version: i16,
) -> Result<Vec<i32>, ResponseError> {
    if asked.leader_epoch > p.leader_epoch || asked.partition_epoch > p.partition_epoch {
        return Err(ResponseError::NotController);
    }
    if asked.leader_epoch < p.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch);
    }
    if broker != p.leader {
        return Err(ResponseError::InvalidRequest);
    }
    if asked.partition_epoch < p.partition_epoch {
        return Err(ResponseError::InvalidUpdateVersion);
    }
    // Before v3 the members come without broker epochs (-1: not checked).
    let members: Vec<(i32, i64)> = if version >= 3 {
        asked
            .new_isr_with_epochs
            .iter()
            .map(|m| (m.broker_id.0, m.broker_epoch))
            .collect()
    } else {
        asked.new_isr.iter().map(|b| (b.0, -1)).collect()
    };
    let isr: Vec<i32> = members.iter().map(|(id, _)| *id).collect();
    let mut unique = isr.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != isr.len() || isr.iter().any(|r| *r < 0 || !p.replicas.contains(r)) {
        return Err(ResponseError::InvalidRequest);
    }
    if !isr.contains(&p.leader) {
        return Err(ResponseError::InvalidRequest);
    }
    if asked.leader_recovery_state == 1 && isr.len() > 1 {
        return Err(ResponseError::InvalidRequest);
    }
    if p.leader_recovery_state == 0 && asked.leader_recovery_state == 1 {
        return Err(ResponseError::InvalidRequest);
    }
    let ineligible = members.iter().any(|(id, epoch)| {
        image
            .brokers
            .get(id)
            .is_none_or(|b| b.fenced || b.in_controlled_shutdown || (*epoch != -1 && *epoch != b.epoch))
    });
    if ineligible {
        return Err(if version > 1 {
            ResponseError::IneligibleReplica
        } else {
            ResponseError::OperationNotAttempted
        });
    }
    Ok(isr)
}

#[cfg(test)]
mod tests;
