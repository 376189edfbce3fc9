//! A network partition, not a kill: three brokk nodes, each in its own network namespace,
//! and the leader of a replicated partition (replication factor 3, min.insync.replicas 2)
//! cut off from the other two while the test can still reach it. The cut-off leader
//! acknowledges no acks=all write (the records it appended are never committed), the
//! controller on the majority side fences it and moves the leadership, and the majority
//! acknowledges writes. Once the partition heals, the old leader truncates what it
//! appended and never committed, catches up and rejoins the ISR; made leader again, it
//! serves exactly the acknowledged records.
//!
//! Needs network namespaces (root); where they cannot be made the test says so and does
//! nothing.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::net_cluster::{NetCluster, SETTLE};
use common::netns::Netns;
use common::{Raw, batch, decode_records, fetch_req, produce_req, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, ElectLeadersRequest,
    ElectLeadersResponse, FetchResponse, ProduceResponse,
};
use kafka_protocol::records::Compression;

const TOPIC: &str = "cut";

/// Polls node `i` until partition 0 satisfies `done`.
async fn await_partition(
    c: &NetCluster,
    i: i32,
    what: &str,
    done: impl Fn(&(i32, i32, BTreeSet<i32>)) -> bool,
) -> (i32, i32, BTreeSet<i32>) {
    c.await_partitions(i, TOPIC, what, |ps| done(&ps[0])).await.remove(0)
}

struct Nodes(NetCluster);

impl Nodes {
    fn addr(&self, i: i32) -> SocketAddr {
        self.0.addr(i)
    }

    /// [`Self::produce`] to a node the image names leader: its log may open a moment after
    /// the image names it, NOT_LEADER_OR_FOLLOWER (retriable) until then, asked again.
    async fn produce_to_leader(&self, i: i32, n: usize, ts0: i64) -> i16 {
        let start = Instant::now();
        loop {
            let e = self.produce(i, n, ts0).await;
            if e != ResponseError::NotLeaderOrFollower.code() || start.elapsed() > SETTLE {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Produces one batch of `n` records stamped from `ts0` with acks=all to node `i`:
    /// the partition's error code.
    async fn produce(&self, i: i32, n: usize, ts0: i64) -> i16 {
        let mut req = produce_req(TOPIC, 0, batch(n, ts0, Compression::None), -1);
        req.timeout_ms = 3_000;
        let r: ProduceResponse = Raw::connect(self.addr(i)).await.call(&req, 9).await;
        r.responses[0].partition_responses[0].error_code
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_acknowledges_nothing_and_truncates_what_it_never_committed() {
    let Some(net) = Netns::create(3) else {
        return;
    };
    let nodes = Nodes(NetCluster::start(
        net,
        &[
            "broker.heartbeat.interval.ms=100",
            "broker.session.timeout.ms=1500",
            "replica.lag.time.max.ms=2000",
        ],
    ));
    let all = BTreeSet::from([1, 2, 3]);
    nodes.0.create_replicated(TOPIC, 1, "2").await;
    let (leader, _, _) = await_partition(&nodes.0, 1, "three in-sync replicas", |p| p.0 > 0 && p.2 == all).await;
    let other = (1..=3).find(|i| *i != leader).unwrap();
    const BEFORE: i64 = 1_000;
    const LOST: i64 = 2_000;
    const AFTER: i64 = 3_000;
    assert_eq!(
        nodes.produce_to_leader(leader, 5, BEFORE).await,
        0,
        "acks=all before the cut"
    );

    // The leader is cut off from the other two; the test still reaches it.
    nodes.0.net.cut(leader as usize);
    // Appended there, never committed: the purgatory's timeout answers (as Kafka's).
    let timed_out = ResponseError::RequestTimedOut.code();
    let lost = nodes.produce(leader, 3, LOST).await;
    assert_eq!(lost, timed_out, "a cut-off leader's answer to acks=all");
    // The other two lead and are in sync (a follower may leave the ISR for a moment, while
    // its fetcher still waits on the cut-off node, and come back).
    let majority: BTreeSet<i32> = (1..=3).filter(|i| *i != leader).collect();
    let (new_leader, _, _) = await_partition(&nodes.0, other, "the leadership moved off the cut-off node", |p| {
        p.0 > 0 && p.0 != leader && p.2 == majority
    })
    .await;
    assert_eq!(
        nodes.produce_to_leader(new_leader, 4, AFTER).await,
        0,
        "acks=all on the majority side"
    );
    let again = nodes.produce(leader, 1, LOST + 100).await;
    assert_eq!(again, timed_out, "the cut-off node's answer to acks=all, later");

    // Healed: the old leader truncates, catches up and is in sync again.
    nodes.0.net.heal(leader as usize);
    await_partition(&nodes.0, other, "the old leader back in the ISR", |p| p.2 == all).await;
    // Made leader again (first replica, then a preferred election), it serves exactly the
    // acknowledged records.
    let mut others: Vec<i32> = (1..=3).filter(|i| *i != leader).collect();
    others.insert(0, leader);
    let reorder = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            ReassignableTopic::default()
                .with_name(topic(TOPIC))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(Some(others.iter().map(|b| BrokerId(*b)).collect())),
                ]),
        ]);
    let r: AlterPartitionReassignmentsResponse = Raw::connect(nodes.addr(other)).await.call(&reorder, 0).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0, "{r:?}");
    let elect = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(topic(TOPIC))
                .with_partitions(vec![0]),
        ]))
        .with_timeout_ms(10_000);
    let r: ElectLeadersResponse = Raw::connect(nodes.addr(other)).await.call(&elect, 2).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let elected = r.replica_election_results[0].partition_result[0].error_code;
    assert!([0, ResponseError::ElectionNotNeeded.code()].contains(&elected), "{r:?}");
    await_partition(&nodes.0, leader, "the old leader leading again", |p| {
        p.0 == leader && p.2 == all
    })
    .await;
    // Its log may take over a moment after the image says so (NOT_LEADER_OR_FOLLOWER), and
    // its high watermark a fetch round after that: asked again, bounded.
    let expected: Vec<i64> = (0..5).map(|i| BEFORE + i).chain((0..4).map(|i| AFTER + i)).collect();
    let start = Instant::now();
    loop {
        let f: FetchResponse = Raw::connect(nodes.addr(leader))
            .await
            .call(&fetch_req(TOPIC, 0, 0, 500, 1), 12)
            .await;
        let p = &f.responses[0].partitions[0];
        let stamps: Vec<i64> = match (p.error_code, &p.records) {
            (0, Some(records)) => decode_records(records).into_iter().map(|(_, _, _, ts)| ts).collect(),
            (0, None) => vec![],
            (e, _) => {
                assert_eq!(e, ResponseError::NotLeaderOrFollower.code(), "{p:?}");
                // Not leading yet: the state is in another process, polled.
                tokio::time::sleep(Duration::from_millis(50)).await;
                vec![]
            }
        };
        if stamps.len() >= expected.len() || start.elapsed() > SETTLE {
            assert_eq!(stamps, expected, "exactly the acknowledged records, in order");
            break;
        }
        assert!(
            expected.starts_with(&stamps),
            "only acknowledged records, in order: {stamps:?}"
        );
    }
}
