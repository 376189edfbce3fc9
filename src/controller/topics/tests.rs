use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopicConfig};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::metadata::records::{BrokerRegistrationChangeRecord, FENCE, RegisterBrokerRecord};

fn defaults() -> TopicDefaults {
    TopicDefaults {
        num_partitions: 3,
        replication_factor: 1,
        log: LogConfig::default(),
    }
}

fn image(brokers: &[i32]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for id in brokers {
        image
            .apply(MetadataRecord::RegisterBroker(RegisterBrokerRecord::for_test(
                *id, *id as i64,
            )))
            .unwrap();
    }
    image
}

fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
}

fn partitions(records: &[MetadataRecord]) -> Vec<(i32, Vec<i32>, i32)> {
    records
        .iter()
        .filter_map(|r| match r {
            MetadataRecord::Partition(p) => Some((p.partition_id, p.replicas.clone(), p.leader)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_topic_is_its_record_its_configs_and_a_partition_each_spread_over_the_brokers() {
    let img = image(&[1, 2, 3]);
    let t = topic("orders", 6, -1).with_configs(vec![
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("1000"))),
    ]);
    let c = create(&img, &defaults(), &t, 7).unwrap();
    assert_eq!((c.partitions, c.replication_factor), (6, 1));
    assert!(matches!(&c.records[0], MetadataRecord::Topic(r) if r.name == "orders" && r.topic_id == c.id));
    assert!(
        matches!(&c.records[1], MetadataRecord::Config(r) if r.name == "retention.ms" && r.value.as_deref() == Some("1000"))
    );
    let parts = partitions(&c.records);
    assert_eq!(parts.len(), 6);
    for b in 1..=3 {
        assert_eq!(parts.iter().filter(|(_, _, l)| *l == b).count(), 2, "{parts:?}");
    }
    // Defaults: num.partitions.
    let c = create(&img, &defaults(), &topic("d", -1, -1), 7).unwrap();
    assert_eq!(c.partitions, 3);
}

#[test]
fn creation_is_refused_with_kafkas_errors() {
    let mut img = image(&[1, 2]);
    let refused = |img: &MetadataImage, t: &CreatableTopic| create(img, &defaults(), t, 1).unwrap_err();
    for r in create(&img, &defaults(), &topic("a.b", 1, -1), 1).unwrap().records {
        img.apply(r).unwrap();
    }
    assert_eq!(
        refused(&img, &topic("a.b", 1, -1)).error,
        ResponseError::TopicAlreadyExists
    );
    let r = refused(&img, &topic("a_b", 1, -1));
    assert_eq!(
        (r.error, r.message.as_str()),
        (
            ResponseError::InvalidTopicException,
            "Topic 'a_b' collides with existing topic: a.b"
        )
    );
    assert_eq!(
        refused(&img, &topic("bad/name", 1, -1)).error,
        ResponseError::InvalidTopicException
    );
    assert_eq!(
        refused(&img, &topic("z", 0, -1)).error,
        ResponseError::InvalidPartitions
    );
    assert_eq!(
        refused(&img, &topic("z", 1, 0)).error,
        ResponseError::InvalidReplicationFactor
    );
    // More replicas than brokers (the placer's message).
    assert_eq!(
        refused(&img, &topic("z", 1, 3)).error,
        ResponseError::InvalidReplicationFactor
    );
    // As many as there are brokers: each partition on distinct brokers, all in sync.
    let c = create(&img, &defaults(), &topic("z", 4, 2), 7).unwrap();
    assert_eq!(c.replication_factor, 2);
    for r in &c.records {
        if let MetadataRecord::Partition(p) = r {
            assert_eq!(p.replicas.len(), 2);
            assert_ne!(p.replicas[0], p.replicas[1]);
            assert_eq!((p.isr.clone(), p.leader), (p.replicas.clone(), p.replicas[0]));
        }
    }
    let bad_config = topic("z", 1, -1).with_configs(vec![
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("cleanup.policy"))
            .with_value(Some(StrBytes::from_static_str("nonsense"))),
    ]);
    assert_eq!(refused(&img, &bad_config).error, ResponseError::InvalidConfig);
}

#[test]
fn manual_assignments_are_checked_and_lead_on_an_unfenced_replica() {
    let mut img = image(&[1, 2]);
    let assign = |p: i32, brokers: &[i32]| {
        CreatableReplicaAssignment::default()
            .with_partition_index(p)
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    };
    let manual = |a: Vec<CreatableReplicaAssignment>| topic("m", -1, -1).with_assignments(a);
    let c = create(&img, &defaults(), &manual(vec![assign(1, &[1]), assign(0, &[2])]), 1).unwrap();
    assert_eq!(partitions(&c.records), vec![(0, vec![2], 2), (1, vec![1], 1)]);
    let refused = |img: &MetadataImage, a| create(img, &defaults(), &manual(a), 1).unwrap_err();
    assert_eq!(
        refused(&img, vec![assign(1, &[1])]).error,
        ResponseError::InvalidReplicaAssignment
    );
    assert_eq!(
        refused(&img, vec![assign(0, &[9])]).error,
        ResponseError::InvalidReplicaAssignment
    );
    assert_eq!(
        refused(&img, vec![assign(0, &[])]).error,
        ResponseError::InvalidReplicaAssignment
    );
    let both = topic("m", 1, -1).with_assignments(vec![assign(0, &[1])]);
    assert_eq!(
        create(&img, &defaults(), &both, 1).unwrap_err().error,
        ResponseError::InvalidRequest
    );
    img.apply(MetadataRecord::BrokerRegistrationChange(
        BrokerRegistrationChangeRecord {
            broker_id: 2,
            broker_epoch: 2,
            fenced: FENCE,
            in_controlled_shutdown: 0,
            log_dirs: vec![],
        },
    ))
    .unwrap();
    assert_eq!(
        refused(&img, vec![assign(0, &[2])]).error,
        ResponseError::InvalidReplicaAssignment
    );
}

#[test]
fn deletion_names_an_existing_topic() {
    let mut img = image(&[1]);
    let c = create(&img, &defaults(), &topic("t", 1, -1), 1).unwrap();
    for r in c.records {
        img.apply(r).unwrap();
    }
    assert!(matches!(delete(&img, c.id), Ok(MetadataRecord::RemoveTopic(r)) if r.topic_id == c.id));
    assert_eq!(
        delete(&img, Uuid::from_u128(5)).unwrap_err().error,
        ResponseError::UnknownTopicId
    );
}
