//! Partition reassignments across three brokk processes: AlterPartitionReassignments moves
//! a partition written on broker 1 to brokers 2 and 3 (they fetch its log, join the ISR,
//! the move completes, broker 1 deletes its copy) and librdkafka's consumer reads every
//! record from the new leader, while the offsets a group committed on broker 1 (its
//! coordinator) stay; a move to a broker that is down stays in progress,
//! ListPartitionReassignments shows it, and cancelling it reverts; Kafka's errors for a
//! replication factor change refused (KIP-860), an unregistered broker, an unknown
//! partition and a cancellation with nothing to cancel.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Raw;
use common::cluster::{Cluster, SETTLE, consume_distinct};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, CreateTopicsRequest,
    CreateTopicsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse, MetadataResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const SETTINGS: [&str; 4] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=3000",
    "replica.lag.time.max.ms=2000",
    "offsets.topic.num.partitions=3",
];

/// A group id whose coordinator is broker `id` (FindCoordinator asked until it names one).
async fn group_coordinated_by(cluster: &Cluster, id: i32) -> String {
    let start = Instant::now();
    for i in 0.. {
        let group = format!("check-{i}");
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.clone()))
            .with_key_type(0);
        loop {
            let r: FindCoordinatorResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 3).await;
            assert!(start.elapsed() < SETTLE, "no coordinator within {SETTLE:?}: {r:?}");
            if r.error_code == 0 {
                if r.node_id.0 == id {
                    return group;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    unreachable!()
}

/// The offset `group` committed for partition 0 of "moved", asked of node `id`.
async fn committed(cluster: &Cluster, id: i32, group: &str) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(common::topic("moved"))
                .with_partition_indexes(vec![0]),
        ]));
    let r: OffsetFetchResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 7).await;
    assert_eq!(r.error_code, 0);
    r.topics[0].partitions[0].committed_offset
}

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|b| BrokerId(*b)).collect()
}

/// AlterPartitionReassignments (v1) of partitions of "moved": (partition, target or None).
fn alter(targets: &[(i32, Option<&[i32]>)], allow_rf_change: bool) -> AlterPartitionReassignmentsRequest {
    let partitions = targets
        .iter()
        .map(|(p, t)| {
            ReassignablePartition::default()
                .with_partition_index(*p)
                .with_replicas(t.map(ids))
        })
        .collect();
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(vec![
            ReassignableTopic::default()
                .with_name(common::topic("moved"))
                .with_partitions(partitions),
        ])
}

/// (error, message) of each partition of the answer.
fn outcomes(r: &AlterPartitionReassignmentsResponse) -> Vec<(i16, Option<String>)> {
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.responses[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.error_message.as_ref().map(|m| m.to_string())))
        .collect()
}

/// (replicas, leader, isr) of partition 0 of "moved" in `m`.
fn assignment(m: &MetadataResponse) -> Option<(Vec<i32>, i32, BTreeSet<i32>)> {
    let t = m.topics.iter().find(|t| t.error_code == 0)?;
    let p = t.partitions.iter().find(|p| p.partition_index == 0)?;
    Some((
        p.replica_nodes.iter().map(|b| b.0).collect(),
        p.leader_id.0,
        p.isr_nodes.iter().map(|b| b.0).collect(),
    ))
}

async fn list(raw: &mut Raw) -> ListPartitionReassignmentsResponse {
    let r: ListPartitionReassignmentsResponse = raw
        .call(&ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000), 0)
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_to_other_brokers_with_its_data_and_a_stalled_move_can_be_cancelled() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
        .await;
    let mut raw = Raw::connect(cluster.node(2).addr()).await;
    // One partition, on broker 1 only.
    let t = CreatableTopic::default()
        .with_name(common::topic("moved"))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(ids(&[1])),
        ]);
    let r: CreateTopicsResponse = raw
        .call(
            &CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(10_000),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    cluster
        .await_metadata(1, Some(&["moved"]), "the topic led by broker 1", |m| {
            assignment(m).is_some_and(|(_, l, _)| l == 1)
        })
        .await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    const N: usize = 200;
    for i in 0..N {
        let (key, value) = (format!("key-{i}"), format!("value-{i}"));
        producer
            .send(
                FutureRecord::to("moved").partition(0).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
    }
    let on_one = cluster.dir(1).join("moved-0");
    assert!(on_one.is_dir(), "broker 1 holds the partition");
    // A group coordinated by broker 1 reads everything and commits.
    let group = group_coordinated_by(&cluster, 1).await;
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&["moved"]).unwrap();
    consume_distinct(&reader, N, "the consumer before the move").await;
    reader.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(reader);
    assert_eq!(committed(&cluster, 1, &group).await, N as i64);

    // Kafka's errors first: nothing changes.
    let r: AlterPartitionReassignmentsResponse = raw.call(&alter(&[(0, Some(&[2, 3]))], false), 1).await;
    assert_eq!(
        outcomes(&r),
        vec![(
            ResponseError::InvalidReplicationFactor.code(),
            Some("The replication factor is changed from 1 to 2".into())
        )]
    );
    let r: AlterPartitionReassignmentsResponse = raw
        .call(&alter(&[(0, Some(&[2, 7])), (4, Some(&[2])), (0, None)], true), 1)
        .await;
    assert_eq!(
        outcomes(&r),
        vec![
            (
                ResponseError::InvalidReplicaAssignment.code(),
                Some("The manual partition assignment includes broker 7, but no such broker is registered.".into())
            ),
            (
                ResponseError::UnknownTopicOrPartition.code(),
                Some("Unable to find partition moved:4.".into())
            ),
            (ResponseError::NoReassignmentInProgress.code(), None),
        ]
    );

    // The move: brokers 2 and 3 fetch, join the ISR, and broker 1 leaves.
    let r: AlterPartitionReassignmentsResponse = raw.call(&alter(&[(0, Some(&[2, 3]))], true), 1).await;
    assert_eq!(outcomes(&r), vec![(0, None)]);
    let moved = cluster
        .await_metadata(3, Some(&["moved"]), "the partition on brokers 2 and 3, in sync", |m| {
            assignment(m)
                .is_some_and(|(r, l, isr)| r == vec![2, 3] && [2, 3].contains(&l) && isr == BTreeSet::from([2, 3]))
        })
        .await;
    assert!(assignment(&moved).is_some());
    assert!(list(&mut raw).await.topics.is_empty(), "nothing is moving any more");
    let start = Instant::now();
    while on_one.exists() {
        assert!(start.elapsed() < SETTLE, "broker 1 still holds {}", on_one.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every record, read from the new leader by librdkafka.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "reassignment-check")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["moved"]).unwrap();
    let seen = consume_distinct(&consumer, N, "the consumer after the move").await;
    assert_eq!(seen, (0..N).map(|i| format!("value-{i}")).collect::<BTreeSet<_>>());
    drop(consumer);
    // Broker 1 hosts no replica of the topic now, but the topic lives: its group's offsets stay.
    assert_eq!(committed(&cluster, 1, &group).await, N as i64);

    // A move to a broker that is down cannot complete: it is listed until cancelled.
    cluster.kill(1);
    cluster
        .await_metadata(2, Some(&[]), "broker 1 fenced", |m| m.brokers.len() == 2)
        .await;
    let r: AlterPartitionReassignmentsResponse = raw.call(&alter(&[(0, Some(&[2, 3, 1]))], true), 1).await;
    assert_eq!(outcomes(&r), vec![(0, None)]);
    let listed = list(&mut raw).await;
    assert_eq!(listed.topics.len(), 1, "{listed:?}");
    let ongoing = &listed.topics[0].partitions[0];
    assert_eq!(
        (
            ongoing.replicas.clone(),
            ongoing.adding_replicas.clone(),
            ongoing.removing_replicas.clone()
        ),
        (ids(&[2, 3, 1]), ids(&[1]), vec![])
    );
    let r: AlterPartitionReassignmentsResponse = raw.call(&alter(&[(0, None)], true), 1).await;
    assert_eq!(outcomes(&r), vec![(0, None)]);
    assert!(list(&mut raw).await.topics.is_empty());
    cluster
        .await_metadata(2, Some(&["moved"]), "the move reverted", |m| {
            assignment(m)
                .is_some_and(|(r, l, isr)| r == vec![2, 3] && [2, 3].contains(&l) && isr == BTreeSet::from([2, 3]))
        })
        .await;
}
