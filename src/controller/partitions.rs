//! Adding partitions to a topic as the active controller decides it (Kafka's
//! `ReplicationControlManager.createPartitions`): the checks, with Kafka's codes and
//! messages, then a PartitionRecord per new partition, placed as topic creation places
//! (`placement.rs`) with the topic's replication factor, or where a manual assignment says.
//! Every new partition starts with its unfenced replicas in sync and the first leading.
//!
//! brokk refuses to grow the coordinators' internal topics, as a single broker does: a
//! group's or transactional id's partition is a hash modulo the partition count.
//!
//! Owns: the decisions. Must not propose (that is `active.rs`) nor touch logs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;

use super::brokers::Refusal;
use super::placement;
use crate::log::manager::{MAX_NEW_PARTITIONS, MAX_PARTITIONS_PER_TOPIC};
use crate::metadata::MetadataImage;
use crate::metadata::records::{MetadataRecord, NO_LEADER, PartitionRecord};

fn refuse(error: ResponseError, message: impl Into<String>) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

/// The records growing `t.name` to `t.count` partitions.
pub fn grow(image: &MetadataImage, t: &CreatePartitionsTopic, seed: u64) -> Result<Vec<MetadataRecord>, Refusal> {
    let name = t.name.0.as_str();
    // (No message: Kafka's would only repeat the error's own.)
    let topic = image
        .topic(name)
        .ok_or_else(|| refuse(ResponseError::UnknownTopicOrPartition, ""))?;
    let current = topic.partitions.len() as i32;
    let count = t.count;
    if count == current {
        return Err(refuse(
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count < current {
        return Err(refuse(
            ResponseError::InvalidPartitions,
            format!("The topic {name} currently has {current} partition(s); {count} would not be an increase."),
        ));
    }
    if count > MAX_PARTITIONS_PER_TOPIC {
        return Err(refuse(
            ResponseError::InvalidPartitions,
            format!(
                "Number of partitions {count} exceeds this cluster's limit of {MAX_PARTITIONS_PER_TOPIC} per topic."
            ),
        ));
    }
    if count - current > MAX_NEW_PARTITIONS {
        return Err(refuse(
            ResponseError::InvalidPartitions,
            "Excessively large number of partitions per request.",
        ));
    }
    if crate::log::internal::is_internal(name) {
        return Err(refuse(
            ResponseError::InvalidPartitions,
            format!(
                "brokk does not move coordinator state: the partitions of internal topic {name} cannot be increased."
            ),
        ));
    }
    let rf = topic.partitions.values().next().map_or(1, |p| p.replicas.len());
    let adding = (count - current) as usize;
    let fenced = |id: i32| {
        image
            .brokers
            .get(&id)
            .is_none_or(|b| b.fenced || b.in_controlled_shutdown)
    };
    let assignments: Vec<Vec<i32>> = match &t.assignments {
        None => placement::place(&placement::usable(image), adding, rf as i32, seed)
            .map_err(|e| refuse(ResponseError::InvalidReplicationFactor, e.0))?,
        Some(given) => {
            if given.len() != adding {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
                        given.len()
                    ),
                ));
            }
            let mut out = vec![];
            for (i, a) in given.iter().enumerate() {
                let p = current + i as i32;
                let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                check_manual(image, p, &replicas, rf)?;
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
        }
    };
    Ok(assignments
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| {
            let mut r = PartitionRecord::new(topic.id, current + i as i32, replicas.clone());
            r.isr = replicas.iter().copied().filter(|b| !fenced(*b)).collect();
            r.leader = r.isr.first().copied().unwrap_or(NO_LEADER);
            MetadataRecord::Partition(r)
        })
        .collect())
}

/// Kafka's checks of one manual replica list for partition `p` of a topic with `rf`
/// replicas per partition.
fn check_manual(image: &MetadataImage, p: i32, replicas: &[i32], rf: usize) -> Result<(), Refusal> {
    let invalid = |m: String| refuse(ResponseError::InvalidReplicaAssignment, m);
    if replicas.is_empty() {
        return Err(invalid(format!(
            "The manual partition assignment includes an empty replica list for partition {p}."
        )));
    }
    if let Some(twice) = replicas.iter().find(|r| replicas.iter().filter(|x| x == r).count() > 1) {
        return Err(invalid(format!(
            "The manual partition assignment includes the broker {twice} more than once for partition {p}."
        )));
    }
    if let Some(unknown) = replicas.iter().find(|r| !image.brokers.contains_key(r)) {
        return Err(invalid(format!(
            "The manual partition assignment includes broker {unknown}, but no such broker is registered."
        )));
    }
    if replicas.len() != rf {
        return Err(invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use uuid::Uuid;

    use super::*;
    use crate::metadata::records::{RegisterBrokerRecord, TopicRecord};

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            image
                .apply(MetadataRecord::RegisterBroker(RegisterBrokerRecord::for_test(id, 1)))
                .unwrap();
        }
        let id = Uuid::from_u128(1);
        image
            .apply(MetadataRecord::Topic(TopicRecord {
                name: "t".into(),
                topic_id: id,
            }))
            .unwrap();
        for p in 0..2 {
            image
                .apply(MetadataRecord::Partition(PartitionRecord::new(id, p, vec![1, 2])))
                .unwrap();
        }
        image
    }

    fn req(count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(crate::api::topic_name("t"))
            .with_count(count)
            .with_assignments(assignments.map(|a| {
                a.into_iter()
                    .map(|r| {
                        CreatePartitionsAssignment::default().with_broker_ids(r.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }))
    }

    #[test]
    fn new_partitions_keep_the_replication_factor() {
        let records = grow(&image(), &req(4, None), 7).unwrap();
        assert_eq!(records.len(), 2);
        for (i, r) in records.iter().enumerate() {
            let MetadataRecord::Partition(p) = r else {
                panic!("{r:?}")
            };
            assert_eq!(p.partition_id, 2 + i as i32);
            assert_eq!(p.replicas.len(), 2);
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!(p.isr, p.replicas);
        }
    }

    #[test]
    fn kafka_refuses_what_is_not_an_increase_or_a_valid_assignment() {
        let i = image();
        let code = |t| grow(&i, &t, 1).unwrap_err().error;
        assert_eq!(code(req(2, None)), ResponseError::InvalidPartitions);
        assert_eq!(code(req(1, None)), ResponseError::InvalidPartitions);
        assert_eq!(
            code(req(4, Some(vec![vec![1, 2]]))),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(req(3, Some(vec![vec![1]]))),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(req(3, Some(vec![vec![1, 9]]))),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(req(3, Some(vec![vec![2, 2]]))),
            ResponseError::InvalidReplicaAssignment
        );
        let r = grow(&i, &req(3, Some(vec![vec![3, 1]])), 1).unwrap();
        let MetadataRecord::Partition(p) = &r[0] else { panic!() };
        assert_eq!((p.partition_id, p.leader), (2, 3));
        let mut unknown = req(3, None);
        unknown.name = crate::api::topic_name("nope");
        assert_eq!(code(unknown), ResponseError::UnknownTopicOrPartition);
    }
}
