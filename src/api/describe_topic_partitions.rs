//! DescribeTopicPartitions (key 75, v0): the paginated topic description Kafka 4.0's
//! AdminClient.describeTopics uses, as DescribeTopicPartitionsRequestHandler answers it:
//! topics sorted by name from the cursor on, at most `response_partition_limit` partitions
//! (1..=2000) per response, `next_cursor` where the page ends; unknown and invalid topics
//! get a per-topic error and use none of the limit; a cursor topic missing from the
//! request's list, or a negative cursor partition, fails every topic with INVALID_REQUEST.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};

use super::metadata::TOPIC_OPS;
use super::topic_name;
use crate::broker::Broker;
use crate::log::internal::is_internal;
use crate::log::manager::validate_topic_name;

/// Kafka's `max.request.partition.size.limit` default.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

fn topic_entry(name: &str, code: ResponseError) -> DescribeTopicPartitionsResponseTopic {
    let mut t = DescribeTopicPartitionsResponseTopic::default();
    t.error_code = code.code();
    t.name = Some(topic_name(name));
    t.is_internal = is_internal(name);
    t.topic_authorized_operations = TOPIC_OPS;
    t
}

/// `listener`: the one the request came in on (a broker without an endpoint on it is not
/// live for this client, as in Kafka).
pub async fn handle(
    broker: &Broker,
    req: DescribeTopicPartitionsRequest,
    _version: i16,
    listener: &str,
) -> DescribeTopicPartitionsResponse {
    let mut resp = DescribeTopicPartitionsResponse::default();
    let fetch_all = req.topics.is_empty();
    let cursor_topic = req
        .cursor
        .as_ref()
        .map(|c| c.topic_name.0.to_string())
        .unwrap_or_default();
    let image = broker.image();
    let names: BTreeSet<String> = if fetch_all {
        let mut all: BTreeSet<String> = broker
            .logs()
            .topics()
            .iter()
            .filter(|_| image.is_none())
            .map(|t| t.name.to_string())
            .collect();
        if let Some(i) = &image {
            all.extend(i.topic_ids.keys().cloned());
        }
        all
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    let names: Vec<String> = names.into_iter().filter(|n| *n >= cursor_topic).collect();
    let bad_cursor = req
        .cursor
        .as_ref()
        .is_some_and(|c| c.partition_index < 0 || (!fetch_all && !names.contains(&cursor_topic)));
    if bad_cursor {
        resp.topics = req
            .topics
            .iter()
            .map(|t| {
                let mut e = topic_entry(t.name.0.as_str(), ResponseError::InvalidRequest);
                e.is_internal = false;
                e.topic_authorized_operations = i32::MIN;
                e
            })
            .collect();
        return resp;
    }
    let limit = req.response_partition_limit.clamp(1, MAX_PARTITIONS_PER_RESPONSE) as usize;
    let mut remaining = limit;
    for name in &names {
        if remaining == 0 {
            // The page ended exactly at a topic's end: the next one (existing or not) is
            // where the client goes on.
            resp.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name(name))
                    .with_partition_index(0),
            );
            break;
        }
        let Some((id, entries)) = described(broker, listener, image.as_deref(), name) else {
            let code = if validate_topic_name(name).is_err() {
                ResponseError::InvalidTopicException
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            resp.topics.push(topic_entry(name, code));
            continue;
        };
        let start = match &req.cursor {
            Some(c) if *name == cursor_topic => c.partition_index as usize,
            _ => 0,
        };
        let count = entries.len();
        let upper = count.min(start.saturating_add(remaining));
        let mut t = topic_entry(name, ResponseError::UnknownServerError);
        t.error_code = 0;
        t.topic_id = id;
        t.partitions = entries
            .into_iter()
            .skip(start.min(count))
            .take(upper.saturating_sub(start.min(count)))
            .collect();
        remaining -= t.partitions.len();
        resp.topics.push(t);
        if upper < count {
            resp.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name(name))
                    .with_partition_index(upper as i32),
            );
            break;
        }
    }
    resp
}

/// The topic `name` as described: its id and every partition's entry. In a cluster, from
/// the image (the coordinators' internal topics from this broker's logs).
fn described(
    broker: &Broker,
    listener: &str,
    image: Option<&crate::metadata::MetadataImage>,
    name: &str,
) -> Option<(uuid::Uuid, Vec<DescribeTopicPartitionsResponsePartition>)> {
    if let Some(t) = image.and_then(|i| i.topic(name)) {
        let live: BTreeSet<i32> = broker
            .brokers(listener)
            .iter()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect();
        let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
        let entries = t
            .partitions
            .iter()
            .map(|(index, p)| {
                let mut e = DescribeTopicPartitionsResponsePartition::default();
                e.partition_index = *index;
                e.leader_id = BrokerId(if live.contains(&p.leader) { p.leader } else { -1 });
                if !live.contains(&p.leader) {
                    e.error_code = ResponseError::LeaderNotAvailable.code();
                }
                e.leader_epoch = p.leader_epoch;
                e.replica_nodes = ids(&p.replicas);
                e.isr_nodes = ids(&p.isr);
                e.eligible_leader_replicas = Some(ids(&p.eligible_leader_replicas));
                e.last_known_elr = Some(ids(&p.last_known_elr));
                let offline: Vec<i32> = p.replicas.iter().copied().filter(|b| !live.contains(b)).collect();
                e.offline_replicas = ids(&offline);
                e
            })
            .collect();
        return Some((t.id, entries));
    }
    let topic = broker.logs().topic(name).filter(|_| image.is_none())?;
    let node = BrokerId(broker.node_id());
    let entries = topic
        .partitions
        .iter()
        .map(|p| {
            let mut e = DescribeTopicPartitionsResponsePartition::default();
            e.partition_index = p.index();
            e.leader_epoch = p.metadata_leader_epoch();
            e.replica_nodes = vec![node];
            if p.is_offline() {
                // As Kafka 4.1 (eligible leader replicas on): the replica left the ISR for
                // the ELR when its log dir failed, and is offline.
                e.leader_id = BrokerId(-1);
                e.eligible_leader_replicas = Some(vec![node]);
                e.last_known_elr = Some(vec![node]);
                e.offline_replicas = vec![node];
            } else {
                e.leader_id = node;
                e.isr_nodes = vec![node];
                e.eligible_leader_replicas = Some(vec![]);
                e.last_known_elr = Some(vec![]);
            }
            e
        })
        .collect();
    Some((topic.id, entries))
}
