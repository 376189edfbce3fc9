//! Kafka's check of one manual replica list (`validateManualPartitionAssignment`), shared
//! by CreatePartitions and AlterPartitionReassignments on one broker (where the only valid
//! list is this broker, once) and by the active controller's AlterPartitionReassignments.

use kafka_protocol::messages::BrokerId;

/// The error message Kafka's controller gives `replicas`, if any. The ids are checked in
/// sorted order, so the first failure in that order is reported, as Kafka does.
pub fn check_manual(replicas: &[BrokerId], node: i32) -> Result<(), String> {
    check_registered(replicas, |id| id == node)
}

/// [`check_manual`] where `registered` says which brokers are registered.
pub fn check_registered(replicas: &[BrokerId], registered: impl Fn(i32) -> bool) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut ids: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    ids.sort_unstable();
    for (i, id) in ids.iter().enumerate() {
        if !registered(*id) {
            return Err(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            ));
        }
        if i > 0 && ids[i - 1] == *id {
            return Err(format!(
                "The manual partition assignment includes the broker {id} more than once."
            ));
        }
    }
    Ok(())
}
