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

use common::netns::Netns;
use common::process::BrokkProcess;
use common::{Raw, batch, decode_records, fetch_req, produce_req, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, CreateTopicsRequest,
    CreateTopicsResponse, ElectLeadersRequest, ElectLeadersResponse, FetchResponse, MetadataRequest, MetadataResponse,
    ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "cut";
const PORT: u16 = 9092;
const CONTROLLER_PORT: u16 = 9093;
/// How long the test waits for the cluster to settle.
const SETTLE: Duration = Duration::from_secs(30);

/// Fields drop in order: the processes are killed before their namespaces go.
struct Nodes {
    procs: Vec<BrokkProcess>,
    _dirs: Vec<tempfile::TempDir>,
    net: Netns,
}

impl Nodes {
    fn start(net: Netns) -> Self {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let voters = (1..=3)
            .map(|i| format!("{i}@{}", net.socket(i, CONTROLLER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let procs = (1..=3)
            .map(|i| {
                let o = [
                    "process.roles=broker,controller".to_string(),
                    format!("node.id={i}"),
                    "controller.listener.names=CONTROLLER".to_string(),
                    format!(
                        "listeners=PLAINTEXT://{},CONTROLLER://{}",
                        net.socket(i, PORT),
                        net.socket(i, CONTROLLER_PORT)
                    ),
                    format!("controller.quorum.voters={voters}"),
                    "controller.quorum.election.timeout.ms=500".to_string(),
                    "broker.heartbeat.interval.ms=100".to_string(),
                    "broker.session.timeout.ms=1500".to_string(),
                    "replica.lag.time.max.ms=2000".to_string(),
                ];
                let refs: Vec<&str> = o.iter().map(String::as_str).collect();
                BrokkProcess::start_in_netns(&net.name(i), net.socket(i, PORT), dirs[i - 1].path(), &refs)
            })
            .collect();
        Self {
            procs,
            _dirs: dirs,
            net,
        }
    }

    fn addr(&self, i: i32) -> SocketAddr {
        self.net.socket(i as usize, PORT)
    }

    async fn metadata(&self, i: i32) -> MetadataResponse {
        let mut req = MetadataRequest::default();
        req.topics = Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default().with_name(Some(topic(TOPIC))),
        ]);
        Raw::connect(self.addr(i)).await.call(&req, 12).await
    }

    /// (leader, leader epoch, isr) of partition 0 as node `i` sees it.
    async fn partition(&self, i: i32) -> Option<(i32, i32, BTreeSet<i32>)> {
        let m = self.metadata(i).await;
        let p = m.topics.first()?.partitions.first()?;
        Some((p.leader_id.0, p.leader_epoch, p.isr_nodes.iter().map(|b| b.0).collect()))
    }

    /// Polls node `i` (every 50 ms, at most [`SETTLE`]: the state lives in other
    /// processes) until partition 0 satisfies `done`.
    async fn await_partition(
        &self,
        i: i32,
        what: &str,
        done: impl Fn(&(i32, i32, BTreeSet<i32>)) -> bool,
    ) -> (i32, i32, BTreeSet<i32>) {
        let start = Instant::now();
        loop {
            let p = self.partition(i).await;
            if let Some(p) = p.as_ref().filter(|p| done(p)) {
                return p.clone();
            }
            assert!(
                start.elapsed() < SETTLE,
                "node {i}: {what} within {SETTLE:?}; last {p:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
    let nodes = Nodes::start(net);
    let all = BTreeSet::from([1, 2, 3]);
    let t = CreatableTopic::default()
        .with_name(topic(TOPIC))
        .with_num_partitions(1)
        .with_replication_factor(3)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2"))),
        ]);
    let start = Instant::now();
    loop {
        let r: CreateTopicsResponse = Raw::connect(nodes.addr(1))
            .await
            .call(
                &CreateTopicsRequest::default()
                    .with_topics(vec![t.clone()])
                    .with_timeout_ms(30_000),
                7,
            )
            .await;
        // Until three brokers are registered the placement has too few.
        if r.topics[0].error_code == 0 {
            break;
        }
        assert!(start.elapsed() < SETTLE, "{:?}", r.topics[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, _, _) = nodes
        .await_partition(1, "three in-sync replicas", |p| p.0 > 0 && p.2 == all)
        .await;
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
    nodes.net.cut(leader as usize);
    let lost = nodes.produce(leader, 3, LOST).await;
    assert_ne!(lost, 0, "a cut-off leader acknowledged an acks=all write");
    let (new_leader, _, isr) = nodes
        .await_partition(other, "the leadership moved off the cut-off node", |p| {
            p.0 > 0 && p.0 != leader && !p.2.contains(&leader)
        })
        .await;
    assert_eq!(isr.len(), 2);
    assert_eq!(
        nodes.produce_to_leader(new_leader, 4, AFTER).await,
        0,
        "acks=all on the majority side"
    );
    let again = nodes.produce(leader, 1, LOST + 100).await;
    assert_ne!(again, 0, "the cut-off node still acknowledged a write");
    eprintln!("the cut-off leader answered acks=all with error {lost}, then {again}");

    // Healed: the old leader truncates, catches up and is in sync again.
    nodes.net.heal(leader as usize);
    nodes
        .await_partition(other, "the old leader back in the ISR", |p| p.2 == all)
        .await;
    // Made leader again (first replica, then a preferred election), it serves exactly the
    // acknowledged records.
    let mut others: Vec<i32> = (1..=3).filter(|i| *i != leader).collect();
    others.insert(0, leader);
    let reorder = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
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
        .with_timeout_ms(30_000);
    let r: ElectLeadersResponse = Raw::connect(nodes.addr(other)).await.call(&elect, 2).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    nodes
        .await_partition(leader, "the old leader leading again", |p| p.0 == leader && p.2 == all)
        .await;
    let f: FetchResponse = Raw::connect(nodes.addr(leader))
        .await
        .call(&fetch_req(TOPIC, 0, 0, 0, 0), 12)
        .await;
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    let stamps: Vec<i64> = decode_records(p.records.as_ref().expect("records"))
        .into_iter()
        .map(|(_, _, _, ts)| ts)
        .collect();
    let expected: Vec<i64> = (0..5).map(|i| BEFORE + i).chain((0..4).map(|i| AFTER + i)).collect();
    assert_eq!(stamps, expected, "exactly the acknowledged records, in order");
    assert_eq!(nodes.procs.len(), 3);
}
