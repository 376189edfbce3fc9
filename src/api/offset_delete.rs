//! OffsetDelete: removes a group's committed offsets for some partitions. A group with
//! members may only lose offsets of topics it does not subscribe to
//! (GROUP_SUBSCRIBED_TO_TOPIC), and only if it uses the consumer protocol
//! (NON_EMPTY_GROUP otherwise). Unknown topics get UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::errors::group_error;
use crate::broker::Broker;
use crate::group::{GroupError, GroupState};

async fn delete(broker: &Broker, req: &OffsetDeleteRequest) -> Result<Vec<(String, Vec<(i32, i16)>)>, GroupError> {
    let group_id = req.group_id.0.to_string();
    if group_id.is_empty() {
        return Err(GroupError::InvalidGroupId);
    }
    let groups = broker.groups();
    let (state, protocol_type, subscribed) = groups
        .subscriptions(&group_id)
        .await?
        .ok_or(GroupError::GroupIdNotFound)?;
    if state == GroupState::Dead {
        return Err(GroupError::GroupIdNotFound);
    }
    let consumer = protocol_type.as_deref() == Some("consumer");
    if state != GroupState::Empty && !consumer {
        return Err(GroupError::NonEmptyGroup);
    }
    // An unparseable subscription counts every topic as subscribed, as in Kafka.
    let is_subscribed =
        |t: &str| state != GroupState::Empty && consumer && subscribed.as_ref().is_none_or(|s| s.contains(t));
    let mut answers = vec![];
    let mut doomed = vec![];
    for t in &req.topics {
        let name = t.name.0.to_string();
        let topic = broker.logs().topic(&name);
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                let i = p.partition_index;
                let code = if !topic
                    .as_ref()
                    .is_some_and(|t| i >= 0 && (i as usize) < t.partitions.len())
                {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if is_subscribed(&name) {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    doomed.push((name.clone(), i));
                    0
                };
                (i, code)
            })
            .collect();
        answers.push((name, parts));
    }
    if !doomed.is_empty() {
        groups.delete_offsets(&group_id, doomed).await?;
    }
    Ok(answers)
}

pub async fn handle(broker: &Broker, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
    let mut resp = OffsetDeleteResponse::default();
    match delete(broker, &req).await {
        Err(e) => resp.error_code = group_error(&e).code(),
        Ok(topics) => {
            resp.topics = topics
                .into_iter()
                .map(|(name, parts)| {
                    let mut t = OffsetDeleteResponseTopic::default();
                    t.name = super::topic_name(&name);
                    t.partitions = parts
                        .into_iter()
                        .map(|(i, code)| {
                            let mut p = OffsetDeleteResponsePartition::default();
                            p.partition_index = i;
                            p.error_code = code;
                            p
                        })
                        .collect();
                    t
                })
                .collect();
        }
    }
    resp
}
