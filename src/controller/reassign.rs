//! Partition reassignments as the active controller decides them (Kafka's
//! `ReplicationControlManager.alterPartitionReassignments` / `listPartitionReassignments`).
//!
//! Moving partition `p` from replicas `current` to `target` goes in three stages:
//! 1. one PartitionChangeRecord makes the replicas `target` followed by the removing ones
//!    (`current` not in `target`), and records the adding (`target` not in `current`) and
//!    removing replicas (both sorted, as Kafka's sets);
//! 2. the adding replicas fetch from the leader and join the ISR (AlterPartition);
//! 3. the AlterPartition that puts the last of them in the ISR completes the move
//!    (`change.rs`): the removing replicas leave, the leader epoch is bumped, and a leader
//!    being removed hands over to the first target replica in the ISR.
//!
//! A move that needs no new replica in the ISR (only a reorder or a shrink) completes in
//! stage 1. Cancelling (a null target) reverts to the original replicas (Kafka's
//! `PartitionReassignmentRevert`): the adding replicas leave the replicas and ISR; with no
//! ISR member left, the first original replica is put in it, which is an unclean election
//! and refused unless the topic allows one.
//!
//! Owns: the decisions. Must not propose (that is `active.rs`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::brokers::Refusal;
use super::change::{Election, PartitionChange};
use super::election::acceptable;
use crate::metadata::MetadataImage;
use crate::metadata::image::PartitionRegistration;
use crate::metadata::records::PartitionChangeRecord;

fn refuse(error: ResponseError, message: impl Into<String>) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

/// A reassignment of the partition is under way.
pub fn in_progress(p: &PartitionRegistration) -> bool {
    !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty()
}

/// The change for one partition of AlterPartitionReassignments: `target` replicas, or a
/// cancellation (`None`); `allow_rf_change` false refuses a target of another size
/// (KIP-860); `unclean` says whether the topic allows unclean elections (a cancellation's
/// only; a new target elects cleanly). `Ok(None)`: the partition is already as asked.
pub fn alter(
    image: &MetadataImage,
    topic: &str,
    index: i32,
    target: Option<&[BrokerId]>,
    allow_rf_change: bool,
    unclean: bool,
) -> Result<Option<PartitionChangeRecord>, Refusal> {
    let t = image.topic(topic).ok_or_else(|| {
        refuse(
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find a topic named {topic}."),
        )
    })?;
    let p = t.partitions.get(&index).ok_or_else(|| {
        refuse(
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find partition {topic}:{index}."),
        )
    })?;
    let may_lead = |id: i32| acceptable(image, id);
    let change = PartitionChange::new(p, t.id, index, &may_lead);
    let Some(target) = target else {
        if !in_progress(p) {
            // (Kafka's answer carries no message.)
            return Err(refuse(ResponseError::NoReassignmentInProgress, ""));
        }
        let replicas: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !p.adding_replicas.contains(r))
            .collect();
        let mut isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|r| !p.adding_replicas.contains(r))
            .collect();
        if isr.is_empty() {
            let Some(first) = replicas.first() else {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    "Invalid replica assignment: addingReplicas contains all replicas.",
                ));
            };
            if !unclean {
                return Err(refuse(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Unable to revert partition assignment for {topic}:{index} because it would require an unclean leader election."
                    ),
                ));
            }
            isr.push(*first);
        }
        // Only a cancellation may elect uncleanly (Kafka's `cancelPartitionReassignment`).
        let election = if unclean { Election::Unclean } else { Election::Online };
        return Ok(change
            .election(election)
            .isr(isr)
            .replicas(replicas)
            .removing(vec![])
            .adding(vec![])
            .build());
    };
    crate::api::replica_assignment::check_registered(target, |id| image.brokers.contains_key(&id))
        .map_err(|m| refuse(ResponseError::InvalidReplicaAssignment, m))?;
    let target: Vec<i32> = target.iter().map(|b| b.0).collect();
    if !allow_rf_change {
        let current = if in_progress(p) {
            let mut heading: std::collections::BTreeSet<i32> =
                p.replicas.iter().chain(&p.adding_replicas).copied().collect();
            p.removing_replicas.iter().for_each(|r| {
                heading.remove(r);
            });
            heading.len()
        } else {
            p.replicas.len()
        };
        if current != target.len() {
            return Err(refuse(
                ResponseError::InvalidReplicationFactor,
                format!("The replication factor is changed from {current} to {}", target.len()),
            ));
        }
    }
    let sorted_minus = |a: &[i32], b: &[i32]| -> Vec<i32> {
        let set: std::collections::BTreeSet<i32> = a.iter().copied().filter(|r| !b.contains(r)).collect();
        set.into_iter().collect()
    };
    let removing = sorted_minus(&p.replicas, &target);
    let adding = sorted_minus(&target, &p.replicas);
    let mut replicas = target;
    replicas.extend(&removing);
    let mut change = change;
    if replicas != p.replicas {
        change = change.replicas(replicas);
    }
    if !removing.is_empty() {
        change = change.removing(removing);
    }
    if !adding.is_empty() {
        change = change.adding(adding);
    }
    Ok(change.build())
}

/// ListPartitionReassignments: the partitions under reassignment among `wanted` (topic,
/// partitions), or among all topics (`None`). Unknown topics and partitions, and those
/// not moving, are left out, as Kafka does.
pub fn list(image: &MetadataImage, wanted: Option<Vec<(String, Vec<i32>)>>) -> Vec<OngoingTopicReassignment> {
    let wanted: Vec<(String, Vec<i32>)> = wanted.unwrap_or_else(|| {
        let mut all: Vec<(String, Vec<i32>)> = image
            .topics
            .values()
            .filter(|t| t.partitions.values().any(in_progress))
            .map(|t| (t.name.clone(), t.partitions.keys().copied().collect()))
            .collect();
        all.sort();
        all
    });
    let mut out = vec![];
    for (name, partitions) in wanted {
        let Some(t) = image.topic(&name) else {
            continue;
        };
        let mut ongoing = OngoingTopicReassignment::default();
        ongoing.name = TopicName(StrBytes::from_string(name.clone()));
        for index in partitions {
            let Some(p) = t.partitions.get(&index).filter(|p| in_progress(p)) else {
                continue;
            };
            let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
            let mut o = OngoingPartitionReassignment::default();
            o.partition_index = index;
            o.replicas = ids(&p.replicas);
            o.adding_replicas = ids(&p.adding_replicas);
            o.removing_replicas = ids(&p.removing_replicas);
            ongoing.partitions.push(o);
        }
        if !ongoing.partitions.is_empty() {
            out.push(ongoing);
        }
    }
    out
}

#[cfg(test)]
mod tests;
