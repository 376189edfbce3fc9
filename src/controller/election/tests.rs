use uuid::Uuid;

use super::*;
use crate::metadata::records::{
    BrokerRegistrationChangeRecord, FENCE, PartitionRecord, RegisterBrokerRecord, TopicRecord, UNFENCE,
};

const T: Uuid = Uuid::from_u128(1);

fn image(brokers: &[i32], partitions: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for id in brokers {
        image
            .apply(MetadataRecord::RegisterBroker(RegisterBrokerRecord::for_test(*id, 1)))
            .unwrap();
    }
    image
        .apply(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: T,
        }))
        .unwrap();
    for (i, (replicas, isr, leader)) in partitions.iter().enumerate() {
        let mut r = PartitionRecord::new(T, i as i32, replicas.to_vec());
        r.isr = isr.to_vec();
        r.leader = *leader;
        image.apply(MetadataRecord::Partition(r)).unwrap();
    }
    image
}

fn fenced(image: &mut MetadataImage, id: i32, fence: bool) {
    image
        .apply(MetadataRecord::BrokerRegistrationChange(
            BrokerRegistrationChangeRecord {
                broker_id: id,
                broker_epoch: 1,
                fenced: if fence { FENCE } else { UNFENCE },
                in_controlled_shutdown: 0,
                log_dirs: vec![],
            },
        ))
        .unwrap();
}

/// (partition, isr, leader) after applying `records`.
fn after(mut image: MetadataImage, records: Vec<MetadataRecord>) -> Vec<(i32, Vec<i32>, i32, i32)> {
    for r in records {
        image.apply(r).unwrap();
    }
    image.topics[&T]
        .partitions
        .iter()
        .map(|(i, p)| (*i, p.isr.clone(), p.leader, p.leader_epoch))
        .collect()
}

#[test]
fn a_gone_broker_leaves_the_isrs_and_its_leaderships_move_to_the_next_in_sync_replica() {
    let mut img = image(
        &[1, 2, 3],
        &[
            (&[1, 2, 3], &[1, 2, 3], 1),
            (&[2, 1], &[2, 1], 2),
            (&[1], &[1], 1),
            (&[3], &[3], 3),
        ],
    );
    fenced(&mut img, 1, true);
    let changes = without_broker(&img, 1, &LogConfig::default());
    assert_eq!(changes.len(), 3, "the partition without broker 1 is untouched");
    assert_eq!(
        after(img, changes),
        vec![
            (0, vec![2, 3], 2, 1),
            (1, vec![2], 2, 0),
            // Its only in-sync replica: kept in the ISR, no leader (no unclean election).
            (2, vec![1], -1, 1),
            (3, vec![3], 3, 0),
        ]
    );
}

#[test]
fn a_broker_back_and_the_other_leaderless_partitions_in_sync_replicas_lead() {
    let mut img = image(&[1, 2], &[(&[1], &[1], -1), (&[2, 1], &[2], -1), (&[2], &[2], 2)]);
    fenced(&mut img, 1, false);
    let changes = with_broker(&img, &LogConfig::default());
    assert_eq!(
        after(img, changes),
        // Kafka elects for every leaderless partition, not only the returning broker's.
        vec![(0, vec![1], 1, 1), (1, vec![2], 2, 1), (2, vec![2], 2, 0)]
    );
}

fn unclean() -> LogConfig {
    LogConfig {
        unclean_leader_election_enable: true,
        ..Default::default()
    }
}

#[test]
fn with_unclean_elections_allowed_an_out_of_sync_replica_leads_alone_and_recovering() {
    // Broker 1 is the only ISR member and goes: broker 2 (out of sync) leads uncleanly.
    let mut img = image(&[1, 2], &[(&[1, 2], &[1], 1)]);
    fenced(&mut img, 2, false);
    fenced(&mut img, 1, true);
    let changes = without_broker(&img, 1, &unclean());
    let mut img2 = img.clone();
    for r in changes {
        img2.apply(r).unwrap();
    }
    let p = &img2.topics[&T].partitions[&0];
    assert_eq!((p.leader, p.isr.clone(), p.leader_recovery_state), (2, vec![2], 1));
    // Allowed by the topic's own override too, and not otherwise.
    let changes = without_broker(&img, 1, &LogConfig::default());
    assert_eq!(after(img.clone(), changes), vec![(0, vec![1], -1, 1)]);
    img.apply(MetadataRecord::Config(crate::metadata::records::ConfigRecord {
        resource_type: crate::metadata::image::TOPIC_RESOURCE,
        resource_name: "t".into(),
        name: "unclean.leader.election.enable".into(),
        value: Some("true".into()),
    }))
    .unwrap();
    let changes = without_broker(&img, 1, &LogConfig::default());
    assert_eq!(after(img, changes), vec![(0, vec![2], 2, 1)]);
}

#[test]
fn a_broker_back_leads_a_leaderless_partition_uncleanly_only_when_allowed() {
    let mut img = image(&[1, 2], &[(&[2, 1], &[2], -1)]);
    fenced(&mut img, 2, true);
    fenced(&mut img, 1, false);
    assert!(with_broker(&img, &LogConfig::default()).is_empty());
    assert_eq!(
        after(img.clone(), with_broker(&img, &unclean())),
        vec![(0, vec![1], 1, 1)]
    );
}
