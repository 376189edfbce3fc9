use uuid::Uuid;

use super::*;
use crate::metadata::records::PartitionRecord;

const T: Uuid = Uuid::from_u128(7);

fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
    let mut r = PartitionRecord::new(T, 0, replicas.to_vec());
    r.isr = isr.to_vec();
    r.leader = leader;
    PartitionRegistration::from(r)
}

fn all(_: i32) -> bool {
    true
}

#[test]
fn nothing_asked_changes_nothing() {
    let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
    assert_eq!(PartitionChange::new(&p, T, 0, &all).build(), None);
    assert_eq!(PartitionChange::new(&p, T, 0, &all).isr(vec![1, 2, 3]).build(), None);
}

#[test]
fn an_isr_holding_every_target_replica_completes_the_reassignment_and_fences_the_removed() {
    // Moving [1, 2, 3] to [1, 2, 4]: replicas are the target then the removing one.
    let mut p = partition(&[1, 2, 4, 3], &[1, 2, 3], 1);
    p.adding_replicas = vec![4];
    p.removing_replicas = vec![3];
    // Broker 4 not in sync yet: only the ISR changes.
    let c = PartitionChange::new(&p, T, 0, &all).isr(vec![1, 2]).build().unwrap();
    assert_eq!(
        (c.isr, c.replicas, c.leader),
        (Some(vec![1, 2]), None, NO_LEADER_CHANGE)
    );
    // Broker 4 joins: the move completes, broker 3 leaves, the leader epoch is bumped.
    let c = PartitionChange::new(&p, T, 0, &all)
        .isr(vec![1, 2, 3, 4])
        .build()
        .unwrap();
    assert_eq!(c.replicas, Some(vec![1, 2, 4]));
    assert_eq!(c.isr, Some(vec![1, 2, 4]));
    assert_eq!(
        (c.adding_replicas.clone(), c.removing_replicas.clone()),
        (Some(vec![]), Some(vec![]))
    );
    assert_eq!(c.leader, 1, "the same leader, named to bump its epoch");
    let mut after = p.clone();
    after.merge(&c);
    assert_eq!((after.leader, after.leader_epoch), (1, 1));
}

#[test]
fn a_completed_reassignment_that_removes_the_leader_elects_the_first_target_replica_in_sync() {
    let mut p = partition(&[2, 3, 1], &[1, 2], 1);
    p.adding_replicas = vec![3];
    p.removing_replicas = vec![1];
    let c = PartitionChange::new(&p, T, 0, &all).isr(vec![1, 2, 3]).build().unwrap();
    assert_eq!((c.leader, c.replicas, c.isr), (2, Some(vec![2, 3]), Some(vec![2, 3])));
}

#[test]
fn a_leader_that_may_not_lead_hands_over_cleanly_or_uncleanly_only_when_allowed() {
    let p = partition(&[1, 2, 3], &[1, 3], 1);
    let not_one = |r: i32| r != 1;
    let c = PartitionChange::new(&p, T, 0, &not_one).build().unwrap();
    assert_eq!((c.leader, c.isr.clone()), (3, None));
    // Only broker 1 is in sync: no leader, the ISR kept; unclean: broker 2 alone, recovering.
    let p = partition(&[1, 2, 3], &[1], 1);
    let c = PartitionChange::new(&p, T, 0, &not_one).isr(vec![]).build().unwrap();
    assert_eq!(
        (c.leader, c.isr.clone(), c.leader_recovery_state),
        (NO_LEADER, None, -1)
    );
    let c = PartitionChange::new(&p, T, 0, &not_one)
        .election(Election::Unclean)
        .isr(vec![])
        .build()
        .unwrap();
    assert_eq!(
        (c.leader, c.isr, c.leader_recovery_state),
        (2, Some(vec![2]), RECOVERING)
    );
}

#[test]
fn a_reorder_completes_at_once_without_an_epoch_bump() {
    let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
    let c = PartitionChange::new(&p, T, 0, &all)
        .replicas(vec![3, 2, 1])
        .build()
        .unwrap();
    assert_eq!(
        (c.replicas, c.leader, c.isr),
        (Some(vec![3, 2, 1]), NO_LEADER_CHANGE, None)
    );
}

#[test]
fn new_replicas_get_a_directory_each_when_the_old_ones_had_real_ones() {
    let mut p = partition(&[1, 2, 3], &[1, 2, 3], 1);
    p.directories = vec![Uuid::from_u128(11), Uuid::from_u128(12), Uuid::from_u128(13)];
    let c = PartitionChange::new(&p, T, 0, &all)
        .replicas(vec![5, 2])
        .build()
        .unwrap();
    assert_eq!(c.directories, Some(vec![MIGRATING_DIRECTORY, Uuid::from_u128(12)]));
    let mut after = p.clone();
    after.merge(&c);
    after.check().unwrap();
}
