//! AlterPartition's checks in Kafka's order, and the state it answers with.

use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData as Asked, TopicData as Topic};
use uuid::Uuid;

use super::*;
use crate::metadata::records::PartitionChangeRecord;
use crate::metadata::records::{
    BrokerRegistrationChangeRecord, FENCE, PartitionRecord, RegisterBrokerRecord, TopicRecord,
};

const T: Uuid = Uuid::from_u128(1);

/// Brokers 1-3 (epoch 10 + id), topic T with partition 0 on [1, 2, 3], ISR [1, 2], led by 1.
fn image() -> MetadataImage {
    let mut image = MetadataImage::default();
    for id in [1, 2, 3] {
        image
            .apply(MetadataRecord::RegisterBroker(RegisterBrokerRecord::for_test(
                id,
                10 + id as i64,
            )))
            .unwrap();
    }
    image
        .apply(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: T,
        }))
        .unwrap();
    let mut r = PartitionRecord::new(T, 0, vec![1, 2, 3]);
    r.isr = vec![1, 2];
    r.leader = 1;
    image.apply(MetadataRecord::Partition(r)).unwrap();
    image
}

fn ask(broker: i32, epoch: i64, leader_epoch: i32, partition_epoch: i32, isr: &[(i32, i64)]) -> AlterPartitionRequest {
    let members = isr
        .iter()
        .map(|(id, e)| {
            BrokerState::default()
                .with_broker_id(BrokerId(*id))
                .with_broker_epoch(*e)
        })
        .collect();
    AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker))
        .with_broker_epoch(epoch)
        .with_topics(vec![Topic::default().with_topic_id(T).with_partitions(vec![
            Asked::default()
                .with_partition_index(0)
                .with_leader_epoch(leader_epoch)
                .with_partition_epoch(partition_epoch)
                .with_new_isr_with_epochs(members),
        ])])
}

fn error(image: &MetadataImage, req: &AlterPartitionRequest) -> i16 {
    let (resp, records) = alter_partition(image, req, 3, &LogConfig::default());
    let code = resp.topics[0].partitions[0].error_code;
    if code != 0 {
        assert!(records.is_empty());
    }
    code
}

#[test]
fn an_accepted_change_commits_the_isr_and_answers_the_new_state() {
    let mut img = image();
    let (resp, records) = alter_partition(
        &img,
        &ask(1, 11, 0, 0, &[(1, 11), (2, 12), (3, 13)]),
        3,
        &LogConfig::default(),
    );
    assert_eq!(resp.error_code, 0);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.isr, vec![BrokerId(1), BrokerId(2), BrokerId(3)]);
    assert_eq!((p.leader_id, p.leader_epoch, p.partition_epoch), (BrokerId(1), 0, 1));
    assert_eq!(records.len(), 1);
    for r in records {
        img.apply(r).unwrap();
    }
    let now = &img.topics[&T].partitions[&0];
    assert_eq!(
        (now.isr.clone(), now.partition_epoch, now.leader_epoch),
        (vec![1, 2, 3], 1, 0)
    );
    // The same ISR again writes nothing and answers the current state.
    let (resp, records) = alter_partition(
        &img,
        &ask(1, 11, 0, 1, &[(1, 11), (2, 12), (3, 13)]),
        3,
        &LogConfig::default(),
    );
    assert!(records.is_empty());
    assert_eq!(resp.topics[0].partitions[0].partition_epoch, 1);
}

#[test]
fn refusals_follow_kafkas_order() {
    let img = image();
    let (resp, records) = alter_partition(&img, &ask(1, 99, 0, 0, &[(1, 11)]), 3, &LogConfig::default());
    assert_eq!(resp.error_code, ResponseError::StaleBrokerEpoch.code());
    assert!(records.is_empty() && resp.topics.is_empty());
    let code = |r: ResponseError| r.code();
    assert_eq!(
        error(&img, &ask(1, 11, 1, 0, &[(1, 11)])),
        code(ResponseError::NotController)
    );
    assert_eq!(
        error(&img, &ask(1, 11, 0, 5, &[(1, 11)])),
        code(ResponseError::NotController)
    );
    assert_eq!(
        error(&img, &ask(2, 12, 0, 0, &[(1, 11)])),
        code(ResponseError::InvalidRequest)
    );
    // Not in the replicas, a duplicate, the leader missing.
    assert_eq!(
        error(&img, &ask(1, 11, 0, 0, &[(1, 11), (4, 1)])),
        code(ResponseError::InvalidRequest)
    );
    assert_eq!(
        error(&img, &ask(1, 11, 0, 0, &[(1, 11), (1, 11)])),
        code(ResponseError::InvalidRequest)
    );
    assert_eq!(
        error(&img, &ask(1, 11, 0, 0, &[(2, 12)])),
        code(ResponseError::InvalidRequest)
    );
    // A member of another incarnation, or fenced.
    assert_eq!(
        error(&img, &ask(1, 11, 0, 0, &[(1, 11), (3, 7)])),
        code(ResponseError::IneligibleReplica)
    );
    let mut fenced = img.clone();
    fenced
        .apply(MetadataRecord::BrokerRegistrationChange(
            BrokerRegistrationChangeRecord {
                broker_id: 3,
                broker_epoch: 13,
                fenced: FENCE,
                in_controlled_shutdown: 0,
                log_dirs: vec![],
            },
        ))
        .unwrap();
    assert_eq!(
        error(&fenced, &ask(1, 11, 0, 0, &[(1, 11), (3, -1)])),
        code(ResponseError::IneligibleReplica)
    );
    // Before v3 the members come without epochs.
    let mut v1 = ask(1, 11, 0, 0, &[]);
    v1.topics[0].partitions[0].new_isr = vec![BrokerId(1), BrokerId(3)];
    let (resp, _) = alter_partition(&fenced, &v1, 1, &LogConfig::default());
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        code(ResponseError::OperationNotAttempted)
    );
    // After a change, an ask at the old partition epoch is stale; an old leader epoch fenced.
    let mut later = img.clone();
    let (_, records) = alter_partition(&later, &ask(1, 11, 0, 0, &[(1, 11)]), 3, &LogConfig::default());
    records.into_iter().for_each(|r| later.apply(r).unwrap());
    assert_eq!(
        error(&later, &ask(1, 11, 0, 0, &[(1, 11), (2, 12)])),
        code(ResponseError::InvalidUpdateVersion)
    );
    let mut c = PartitionChangeRecord::new(T, 0);
    c.leader = 1;
    later.apply(MetadataRecord::PartitionChange(c)).unwrap();
    assert_eq!(
        error(&later, &ask(1, 11, 0, 1, &[(1, 11)])),
        code(ResponseError::FencedLeaderEpoch)
    );
    // Unknown topic id.
    let mut other = ask(1, 11, 0, 0, &[(1, 11)]);
    other.topics[0].topic_id = Uuid::from_u128(9);
    assert_eq!(error(&img, &other), code(ResponseError::UnknownTopicId));
}
