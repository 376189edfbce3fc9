//! Consumer groups across a `kill -9` of their coordinator, in a three-broker cluster.
//!
//! `__consumer_offsets` is created by the first FindCoordinator through the controller
//! with Kafka's default of three replicas; a group's coordinator is the leader of its
//! partition. A librdkafka consumer commits, its coordinator is killed, and the group
//! carries on: the leadership of the partition moves to an in-sync follower, which loads
//! the group (members and offsets) and coordinates it; commits go on; a new member of the
//! group starts at the committed offsets; the killed broker, restarted, catches up, and
//! the controller's leader rebalance makes it the partition's (preferred) leader again:
//! the group moves back to it, with its offsets, and the other broker hands it over.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SETTLE};
use common::{Raw, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const SETTINGS: [&str; 5] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=1500",
    "replica.lag.time.max.ms=2000",
    // Preferred leaders come back within a second of being in sync again.
    "leader.imbalance.check.interval.seconds=1",
    // Few partitions: the test's group is in one of them either way.
    "offsets.topic.num.partitions=3",
];

const GROUP: &str = "failover";
const TOPIC: &str = "events";

/// FindCoordinator (v3) for `GROUP` asked of node `id`: the coordinator's id, or the error.
async fn coordinator(cluster: &Cluster, id: i32) -> Result<i32, i16> {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str(GROUP))
        .with_key_type(0);
    let r: FindCoordinatorResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 3).await;
    match r.error_code {
        0 => Ok(r.node_id.0),
        e => Err(e),
    }
}

/// Asks node `id` until FindCoordinator names a live coordinator other than `not`.
async fn await_coordinator(cluster: &Cluster, id: i32, not: Option<i32>) -> i32 {
    let start = Instant::now();
    loop {
        match coordinator(cluster, id).await {
            Ok(c) if Some(c) != not => return c,
            other => assert!(
                start.elapsed() < SETTLE,
                "no coordinator for {GROUP} within {SETTLE:?}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// OffsetFetch (v7) of `GROUP`'s offsets of `TOPIC` partitions 0..3 from node `id`:
/// the group-level error, and partition → committed offset (of those with one).
async fn committed(cluster: &Cluster, id: i32) -> (i16, BTreeMap<i32, i64>) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic(TOPIC))
                .with_partition_indexes(vec![0, 1, 2]),
        ]));
    let r: OffsetFetchResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 7).await;
    let offsets = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.committed_offset)))
        .filter(|(_, o)| *o >= 0)
        .collect();
    (r.error_code, offsets)
}

/// OffsetFetch from node `id`, asked again while it answers that it is loading the group
/// or not (yet) its coordinator (the leadership still moving), within [`SETTLE`].
async fn await_offsets(cluster: &Cluster, id: i32) -> BTreeMap<i32, i64> {
    let start = Instant::now();
    loop {
        let (error, offsets) = committed(cluster, id).await;
        if error == 0 {
            return offsets;
        }
        assert!(
            [
                ResponseError::CoordinatorLoadInProgress.code(),
                ResponseError::NotCoordinator.code()
            ]
            .contains(&error)
                && start.elapsed() < SETTLE,
            "OffsetFetch from coordinator {id}: error {error}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn consumer(cluster: &Cluster) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap()
}

/// A synchronous commit of the consumer's positions, retried while the coordinator moves
/// (librdkafka reports NOT_COORDINATOR and the like to a synchronous commit).
async fn commit(c: &StreamConsumer) {
    let start = Instant::now();
    loop {
        match c.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => return,
            Err(e) => assert!(start.elapsed() < SETTLE, "commit failed for {SETTLE:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_carries_on_when_its_coordinator_is_killed() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster.create_replicated(TOPIC, 3).await;
    // The first lookup creates __consumer_offsets, with three replicas by default.
    let first = coordinator(&cluster, 1).await;
    assert!(
        first.is_ok() || first == Err(ResponseError::CoordinatorNotAvailable.code()),
        "{first:?}"
    );
    cluster.await_in_sync(1, &["__consumer_offsets", TOPIC]).await;
    let m = cluster.metadata(1, Some(&["__consumer_offsets"])).await;
    assert!(m.topics[0].is_internal);
    assert_eq!(m.topics[0].partitions.len(), 3);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let produce = |range: std::ops::Range<usize>| {
        let producer = producer.clone();
        async move {
            for i in range {
                let (key, value) = (format!("key-{i}"), format!("value-{i}"));
                producer
                    .send(
                        FutureRecord::to(TOPIC).key(&key).payload(&value),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
            }
        }
    };
    produce(0..300).await;

    // A member consumes half and commits.
    let c = consumer(&cluster);
    c.subscribe(&[TOPIC]).unwrap();
    let mut seen = common::cluster::consume_distinct(&c, 150, "before the kill").await;
    commit(&c).await;
    let old = await_coordinator(&cluster, 1, None).await;
    let (error, before) = committed(&cluster, old).await;
    assert_eq!(error, 0);
    assert_eq!(before.values().sum::<i64>(), 150, "{before:?}");

    // kill -9 of the coordinator: a follower of the group's partition takes over.
    cluster.kill(old);
    let observer = (1..=3).find(|id| *id != old).unwrap();
    let new = await_coordinator(&cluster, observer, Some(old)).await;
    let after_kill = await_offsets(&cluster, new).await;
    assert_eq!(after_kill, before, "the committed offsets moved with the coordinator");

    // The same member carries on, and commits with the new coordinator.
    let rest = common::cluster::consume_distinct(&c, 150, "after the kill").await;
    assert!(seen.is_disjoint(&rest), "a message was consumed twice");
    seen.extend(rest);
    assert_eq!(seen.len(), 300);
    commit(&c).await;
    let (error, done) = committed(&cluster, new).await;
    assert_eq!(error, 0);
    assert_eq!(done.values().sum::<i64>(), 300, "{done:?}");
    drop(c);

    // A new member starts at the committed offsets: it reads only what comes next.
    produce(300..330).await;
    let c = consumer(&cluster);
    c.subscribe(&[TOPIC]).unwrap();
    let next = common::cluster::consume_distinct(&c, 30, "a new member").await;
    let expected: BTreeSet<String> = (300..330).map(|i| format!("value-{i}")).collect();
    assert_eq!(next, expected);
    commit(&c).await;
    drop(c);

    // The old coordinator comes back, catches up, and leads its preferred partitions
    // again: the group moves back to it, and the broker that had it hands it over.
    cluster.restart(old);
    let start = Instant::now();
    while coordinator(&cluster, observer).await != Ok(old) {
        assert!(
            start.elapsed() < SETTLE,
            "the preferred leader {old} did not get the group back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = await_offsets(&cluster, old).await;
    assert_eq!(back.values().sum::<i64>(), 330, "{back:?}");
    let (error, _) = committed(&cluster, new).await;
    assert_eq!(error, ResponseError::NotCoordinator.code());
    // And the group works there: a member reads what comes next.
    produce(330..340).await;
    let c = consumer(&cluster);
    c.subscribe(&[TOPIC]).unwrap();
    let next = common::cluster::consume_distinct(&c, 10, "a member after the move back").await;
    let expected: BTreeSet<String> = (330..340).map(|i| format!("value-{i}")).collect();
    assert_eq!(next, expected);
}
