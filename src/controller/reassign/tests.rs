use kafka_protocol::messages::BrokerId;
use uuid::Uuid;

use super::*;
use crate::metadata::records::{MetadataRecord, NO_LEADER_CHANGE, PartitionRecord, RegisterBrokerRecord, TopicRecord};

const T: Uuid = Uuid::from_u128(9);

fn image(brokers: &[i32], replicas: &[i32], isr: &[i32], leader: i32) -> MetadataImage {
    let mut image = MetadataImage::default();
    for id in brokers {
        let mut b = RegisterBrokerRecord::for_test(*id, 1);
        b.fenced = false;
        image.apply(MetadataRecord::RegisterBroker(b)).unwrap();
    }
    image
        .apply(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: T,
        }))
        .unwrap();
    let mut p = PartitionRecord::new(T, 0, replicas.to_vec());
    p.isr = isr.to_vec();
    p.leader = leader;
    image.apply(MetadataRecord::Partition(p)).unwrap();
    image
}

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|b| BrokerId(*b)).collect()
}

fn apply(image: &mut MetadataImage, c: PartitionChangeRecord) {
    image.apply(MetadataRecord::PartitionChange(c)).unwrap();
}

fn part(image: &MetadataImage) -> &PartitionRegistration {
    &image.topic("t").unwrap().partitions[&0]
}

#[test]
fn a_move_adds_the_new_replicas_then_completes_when_they_are_in_sync() {
    let mut img = image(&[1, 2, 3, 4], &[1, 2, 3], &[1, 2, 3], 1);
    let c = alter(&img, "t", 0, Some(&ids(&[4, 2, 3])), false, false)
        .unwrap()
        .unwrap();
    assert_eq!(c.replicas, Some(vec![4, 2, 3, 1]));
    assert_eq!(
        (c.adding_replicas.clone(), c.removing_replicas.clone()),
        (Some(vec![4]), Some(vec![1]))
    );
    assert_eq!(c.leader, NO_LEADER_CHANGE);
    apply(&mut img, c);
    assert!(in_progress(part(&img)));
    let listed = list(&img, None);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].partitions[0].replicas, ids(&[4, 2, 3, 1]));
    assert_eq!(listed[0].partitions[0].adding_replicas, ids(&[4]));
    assert_eq!(listed[0].partitions[0].removing_replicas, ids(&[1]));
    // The leader's AlterPartition with broker 4 in sync completes it (`change.rs`).
    let may_lead = |_| true;
    let done = PartitionChange::new(part(&img), T, 0, &may_lead)
        .isr(vec![1, 2, 3, 4])
        .build()
        .unwrap();
    apply(&mut img, done);
    let p = part(&img);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![4, 2, 3], vec![2, 3, 4], 4)
    );
    assert!(!in_progress(p));
    assert!(list(&img, None).is_empty());
}

#[test]
fn a_shrink_or_a_reorder_completes_at_once() {
    let img = image(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
    let c = alter(&img, "t", 0, Some(&ids(&[2, 1])), true, false).unwrap().unwrap();
    assert_eq!((c.replicas, c.isr, c.leader), (Some(vec![2, 1]), Some(vec![1, 2]), 1));
    let c = alter(&img, "t", 0, Some(&ids(&[3, 2, 1])), false, false)
        .unwrap()
        .unwrap();
    assert_eq!((c.replicas, c.adding_replicas), (Some(vec![3, 2, 1]), None));
    // The same replicas: nothing to do.
    assert_eq!(alter(&img, "t", 0, Some(&ids(&[1, 2, 3])), false, false).unwrap(), None);
}

#[test]
fn bad_targets_get_kafkas_errors() {
    let img = image(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
    let err = |name: &str, p: i32, target: Option<&[i32]>, allow: bool| {
        let t = target.map(ids);
        let e = alter(&img, name, p, t.as_deref(), allow, false).unwrap_err();
        (e.error, e.message)
    };
    assert_eq!(
        err("nope", 0, Some(&[1]), true),
        (
            ResponseError::UnknownTopicOrPartition,
            "Unable to find a topic named nope.".into()
        )
    );
    assert_eq!(
        err("t", 5, Some(&[1]), true),
        (
            ResponseError::UnknownTopicOrPartition,
            "Unable to find partition t:5.".into()
        )
    );
    assert_eq!(
        err("t", 0, Some(&[1, 9]), true),
        (
            ResponseError::InvalidReplicaAssignment,
            "The manual partition assignment includes broker 9, but no such broker is registered.".into()
        )
    );
    assert_eq!(
        err("t", 0, Some(&[2, 2]), true).0,
        ResponseError::InvalidReplicaAssignment
    );
    assert_eq!(err("t", 0, Some(&[]), true).0, ResponseError::InvalidReplicaAssignment);
    assert_eq!(
        err("t", 0, Some(&[1, 2]), false),
        (
            ResponseError::InvalidReplicationFactor,
            "The replication factor is changed from 3 to 2".into()
        )
    );
    assert_eq!(err("t", 0, None, true).0, ResponseError::NoReassignmentInProgress);
}

#[test]
fn cancelling_reverts_to_the_original_replicas_unclean_only_when_allowed() {
    let mut img = image(&[1, 2, 3, 4], &[1, 2, 3], &[1, 2, 3], 1);
    let c = alter(&img, "t", 0, Some(&ids(&[4, 2, 3])), false, false)
        .unwrap()
        .unwrap();
    apply(&mut img, c);
    let c = alter(&img, "t", 0, None, false, false).unwrap().unwrap();
    apply(&mut img, c);
    let p = part(&img);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![2, 3, 1], vec![1, 2, 3], 1)
    );
    assert!(!in_progress(p));
    // Only an adding replica in sync: reverting would be an unclean election.
    let mut img = image(&[1, 2], &[2, 1], &[2], 2);
    let mut c = PartitionChangeRecord::new(T, 0);
    c.adding_replicas = Some(vec![2]);
    c.removing_replicas = Some(vec![1]);
    apply(&mut img, c);
    let e = alter(&img, "t", 0, None, false, false).unwrap_err();
    assert_eq!(e.error, ResponseError::InvalidReplicaAssignment);
    assert_eq!(
        e.message,
        "Unable to revert partition assignment for t:0 because it would require an unclean leader election."
    );
    let c = alter(&img, "t", 0, None, false, true).unwrap().unwrap();
    apply(&mut img, c);
    let p = part(&img);
    assert_eq!((p.replicas.clone(), p.isr.clone(), p.leader), (vec![1], vec![1], 1));
}
