//! OffsetDelete: removes a group's committed offsets for some partitions. A group with
//! members may only lose offsets of topics it does not subscribe to
//! (GROUP_SUBSCRIBED_TO_TOPIC), and only if it uses the consumer protocol
//! (NON_EMPTY_GROUP otherwise). Unknown topics get UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::errors::group_error;
use crate::broker::Broker;
use crate::group::GroupError;

async fn delete(broker: &Broker, req: &OffsetDeleteRequest) -> Result<Vec<(String, Vec<(i32, i16)>)>, GroupError> {
    let group_id = req.group_id.0.to_string();
    if group_id.is_empty() {
        return Err(GroupError::InvalidGroupId);
    }
    // Topic checks here; the group's checks and the deletion in one step of its actor.
    let mut known = vec![];
    let mut unknown = std::collections::HashSet::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        for p in &t.partitions {
            let i = p.partition_index;
            if broker.partition_exists(&name, i) {
                known.push((name.clone(), i));
            } else {
                unknown.insert((name.clone(), i));
            }
        }
    }
    let results: std::collections::HashMap<(String, i32), Result<(), GroupError>> = broker
        .groups()
        .delete_offsets(&group_id, known)
        .await?
        .into_iter()
        .collect();
    Ok(req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let parts = t
                .partitions
                .iter()
                .map(|p| {
                    let tp = (name.clone(), p.partition_index);
                    let code = if unknown.contains(&tp) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        match results.get(&tp) {
                            Some(Err(e)) => group_error(e).code(),
                            _ => 0,
                        }
                    };
                    (p.partition_index, code)
                })
                .collect();
            (name, parts)
        })
        .collect())
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
