//! Topic creation and deletion as the active controller decides them (Kafka's
//! `ReplicationControlManager.createTopics` / `deleteTopics`): the checks, in Kafka's
//! order and with its error codes, then the records (TopicRecord, its ConfigRecords, a
//! PartitionRecord per partition; RemoveTopicRecord).
//!
//! Replicas go where `placement.rs` puts them (or where a manual assignment says); every
//! partition starts with its unfenced replicas in sync and the first of them leading.
//!
//! Owns: the decisions. Must not propose (that is `active.rs`) nor touch logs.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use uuid::Uuid;

use super::brokers::Refusal;
use super::placement;
use crate::log::LogConfig;
use crate::log::manager::{TopicError, new_kafka_uuid, validate_topic_name};
use crate::metadata::MetadataImage;
use crate::metadata::image::TOPIC_RESOURCE;
use crate::metadata::records::{ConfigRecord, MetadataRecord, PartitionRecord, RemoveTopicRecord, TopicRecord};

/// The broker defaults topic creation uses.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub replication_factor: i32,
    /// The `log.*` defaults topic configs override (to check them).
    pub log: LogConfig,
}

/// A topic the controller creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i32,
    pub records: Vec<MetadataRecord>,
}

fn refuse(error: ResponseError, message: impl Into<String>) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

/// Checks `t` against `image` and gives the records creating it (with a new topic id).
pub fn create(
    image: &MetadataImage,
    defaults: &TopicDefaults,
    t: &CreatableTopic,
    seed: u64,
) -> Result<Created, Refusal> {
    let name = t.name.0.as_str();
    validate_topic_name(name).map_err(|e| match e {
        TopicError::InvalidName(m) => refuse(ResponseError::InvalidTopicException, m),
        other => refuse(ResponseError::InvalidTopicException, other.to_string()),
    })?;
    // Internal topics come from the brokers' coordinators (their CreateTopics handlers
    // refuse clients' requests for them).
    if image.topic(name).is_some() {
        return Err(refuse(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    let collides = |other: &str| other != name && other.replace('.', "_") == name.replace('.', "_");
    if let Some(other) = image.topic_ids.keys().find(|o| collides(o)) {
        return Err(refuse(
            ResponseError::InvalidTopicException,
            format!("Topic '{name}' collides with existing topic: {other}"),
        ));
    }
    let mut overrides = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else {
            return Err(refuse(
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {}", c.name.as_str()),
            ));
        };
        overrides.insert(c.name.as_str().to_string(), v.as_str().to_string());
    }
    defaults
        .log
        .with_overrides(&overrides)
        .map_err(|e| refuse(ResponseError::InvalidConfig, e))?;
    let fenced = |id: i32| {
        image
            .brokers
            .get(&id)
            .is_none_or(|b| b.fenced || b.in_controlled_shutdown)
    };
    let assignments: Vec<Vec<i32>> = if t.assignments.is_empty() {
        let partitions = if t.num_partitions == -1 {
            defaults.num_partitions
        } else {
            t.num_partitions
        };
        if partitions <= 0 {
            return Err(refuse(
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        if partitions > crate::log::manager::MAX_PARTITIONS_PER_TOPIC {
            return Err(refuse(
                ResponseError::InvalidPartitions,
                format!(
                    "Number of partitions {partitions} exceeds this cluster's limit of {} per topic.",
                    crate::log::manager::MAX_PARTITIONS_PER_TOPIC
                ),
            ));
        }
        let rf = if t.replication_factor == -1 {
            defaults.replication_factor
        } else {
            t.replication_factor as i32
        };
        placement::place(&placement::usable(image), partitions as usize, rf, seed)
            .map_err(|e| refuse(ResponseError::InvalidReplicationFactor, e.0))?
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(refuse(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        let mut sorted: Vec<&_> = t.assignments.iter().collect();
        sorted.sort_by_key(|a| a.partition_index);
        if sorted.iter().enumerate().any(|(i, a)| a.partition_index != i as i32) {
            return Err(refuse(
                ResponseError::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence",
            ));
        }
        let mut out = vec![];
        for a in sorted {
            let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            let p = a.partition_index;
            if replicas.is_empty() {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!("The manual partition assignment includes an empty replica list for partition {p}."),
                ));
            }
            let mut unique = replicas.clone();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() != replicas.len() {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes the broker {} more than once for partition {p}.",
                        replicas
                            .iter()
                            .find(|r| replicas.iter().filter(|x| x == r).count() > 1)
                            .copied()
                            .unwrap_or(-1)
                    ),
                ));
            }
            if let Some(unknown) = replicas.iter().find(|r| !image.brokers.contains_key(r)) {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes broker {unknown}, but no such broker is registered."
                    ),
                ));
            }
            if out.first().is_some_and(|f: &Vec<i32>| f.len() != replicas.len()) {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {} replica(s).",
                        replicas.len(),
                        out[0].len()
                    ),
                ));
            }
            if replicas.iter().all(|r| fenced(*r)) {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "All brokers specified in the manual partition assignment for partition {p} are fenced or in controlled shutdown."
                    ),
                ));
            }
            out.push(replicas);
        }
        out
    };
    let rf = assignments.first().map_or(0, Vec::len);
    let id = loop {
        let id = new_kafka_uuid();
        if !image.topics.contains_key(&id) {
            break id;
        }
    };
    let mut records = vec![MetadataRecord::Topic(TopicRecord {
        name: name.to_string(),
        topic_id: id,
    })];
    records.extend(overrides.iter().map(|(k, v)| {
        MetadataRecord::Config(ConfigRecord {
            resource_type: TOPIC_RESOURCE,
            resource_name: name.to_string(),
            name: k.clone(),
            value: Some(v.clone()),
        })
    }));
    for (p, replicas) in assignments.iter().enumerate() {
        let mut r = PartitionRecord::new(id, p as i32, replicas.clone());
        r.isr = replicas.iter().copied().filter(|b| !fenced(*b)).collect();
        r.leader = r.isr.first().copied().unwrap_or(crate::metadata::records::NO_LEADER);
        records.push(MetadataRecord::Partition(r));
    }
    Ok(Created {
        id,
        partitions: assignments.len() as i32,
        replication_factor: rf as i32,
        records,
    })
}

/// The record deleting the topic `id` (UNKNOWN_TOPIC_ID when there is none).
pub fn delete(image: &MetadataImage, id: Uuid) -> Result<MetadataRecord, Refusal> {
    if !image.topics.contains_key(&id) {
        return Err(refuse(
            ResponseError::UnknownTopicId,
            "This server does not host this topic ID.",
        ));
    }
    Ok(MetadataRecord::RemoveTopic(RemoveTopicRecord { topic_id: id }))
}

#[cfg(test)]
mod tests;
