//! Kafka's isolated mode: three brokk processes with `process.roles=controller` (the
//! quorum, nothing but CONTROLLER listeners) and three with `process.roles=broker` (not
//! voters: they read the metadata log from the controllers as observers). Only the brokers
//! are brokers: Metadata lists them alone and replicas go to them; DescribeQuorum through a
//! broker describes the three voters; librdkafka produces with acks=all and consumes
//! everything; the active controller's kill -9 elects another, which the brokers find
//! (a topic created after it, a broker fenced by it); a restarted broker reads the metadata
//! again from nothing and rejoins every ISR.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Raw;
use common::cluster::{SETTLE, consume_distinct};
use common::process::BrokkProcess;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DescribeQuorumRequest, DescribeQuorumResponse, MetadataRequest,
    MetadataResponse,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const FAST: [&str; 3] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=1500",
    "controller.quorum.election.timeout.ms=500",
];

struct Isolated {
    controllers: Vec<Option<BrokkProcess>>,
    brokers: Vec<Option<BrokkProcess>>,
    dirs: Vec<tempfile::TempDir>,
    voters: String,
}

fn start_controller(dir: &Path, id: i32, port: u16, voters: &str) -> BrokkProcess {
    let mut o = vec![
        "process.roles=controller".to_string(),
        format!("node.id={id}"),
        "controller.listener.names=CONTROLLER".to_string(),
        format!("listeners=CONTROLLER://127.0.0.1:{port}"),
        format!("controller.quorum.voters={voters}"),
    ];
    o.extend(FAST.iter().map(|s| s.to_string()));
    BrokkProcess::start(dir, &o.iter().map(String::as_str).collect::<Vec<_>>())
}

fn start_broker(dir: &Path, id: i32, voters: &str) -> BrokkProcess {
    let mut o = vec![
        "process.roles=broker".to_string(),
        format!("node.id={id}"),
        "controller.listener.names=CONTROLLER".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
        format!("controller.quorum.voters={voters}"),
    ];
    o.extend(FAST.iter().map(|s| s.to_string()));
    BrokkProcess::start(dir, &o.iter().map(String::as_str).collect::<Vec<_>>())
}

impl Isolated {
    /// Controllers 1..=3, brokers 4..=6.
    fn start() -> Self {
        let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
        let (ports, voters) = common::cluster::controller_ports();
        let controllers = (0..3)
            .map(|i| Some(start_controller(dirs[i].path(), i as i32 + 1, ports[i], &voters)))
            .collect();
        let brokers = (3..6)
            .map(|i| Some(start_broker(dirs[i].path(), i as i32 + 1, &voters)))
            .collect();
        Self {
            controllers,
            brokers,
            dirs,
            voters,
        }
    }

    fn broker(&self, id: i32) -> &BrokkProcess {
        self.brokers[id as usize - 4].as_ref().expect("broker is running")
    }

    fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .flatten()
            .map(|b| b.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    async fn metadata(&self, id: i32, topics: &[&str]) -> MetadataResponse {
        let mut req = MetadataRequest::default();
        req.topics = Some(
            topics
                .iter()
                .map(|t| {
                    let mut r = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
                    r.name = Some(common::topic(t));
                    r
                })
                .collect(),
        );
        Raw::connect(self.broker(id).addr()).await.call(&req, 12).await
    }

    /// Polls Metadata from broker `id` (every 50 ms, at most [`SETTLE`]: the state is in
    /// other processes) until `done` holds.
    async fn await_metadata(
        &self,
        id: i32,
        topics: &[&str],
        what: &str,
        done: impl Fn(&MetadataResponse) -> bool,
    ) -> MetadataResponse {
        let start = Instant::now();
        loop {
            let m = self.metadata(id, topics).await;
            if done(&m) {
                return m;
            }
            assert!(start.elapsed() < SETTLE, "broker {id}: {what}; last answer {m:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls DescribeQuorum through broker `id` until it names a leader other than `not`
    /// with the three voters; returns the leader.
    async fn await_quorum_leader(&self, id: i32, not: Option<i32>) -> i32 {
        let mut p = PartitionData::default();
        p.partition_index = 0;
        let mut t = TopicData::default();
        t.topic_name = common::topic("__cluster_metadata");
        t.partitions = vec![p];
        let mut req = DescribeQuorumRequest::default();
        req.topics = vec![t];
        let start = Instant::now();
        loop {
            let r: DescribeQuorumResponse = Raw::connect(self.broker(id).addr()).await.call(&req, 2).await;
            let d = &r.topics[0].partitions[0];
            let voters: BTreeSet<i32> = d.current_voters.iter().map(|v| v.replica_id.0).collect();
            if d.error_code == 0 && d.leader_id.0 > 0 && Some(d.leader_id.0) != not {
                assert_eq!(voters, [1, 2, 3].into(), "only the controllers vote: {r:?}");
                assert!(d.high_watermark > 0);
                let nodes: BTreeSet<i32> = r.nodes.iter().map(|n| n.node_id.0).collect();
                assert_eq!(nodes, [1, 2, 3].into());
                return d.leader_id.0;
            }
            assert!(
                start.elapsed() < SETTLE,
                "no quorum leader (not {not:?}) through broker {id}: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn create(&self, through: i32, name: &str) {
        let t = CreatableTopic::default()
            .with_name(common::topic(name))
            .with_num_partitions(3)
            .with_replication_factor(3);
        let r: CreateTopicsResponse = Raw::connect(self.broker(through).addr())
            .await
            .call(
                &CreateTopicsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(30_000),
                7,
            )
            .await;
        assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    }

    /// Waits until broker `id` shows every partition of `name` led, on brokers 4..=6
    /// only, all three in sync.
    async fn await_in_sync(&self, id: i32, name: &str) -> MetadataResponse {
        let brokers: BTreeSet<i32> = [4, 5, 6].into();
        self.await_metadata(id, &[name], "every partition in sync on the three brokers", |m| {
            m.topics.len() == 1
                && m.topics[0].error_code == 0
                && m.topics[0].partitions.len() == 3
                && m.topics[0].partitions.iter().all(|p| {
                    let isr: BTreeSet<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
                    let replicas: BTreeSet<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
                    brokers.contains(&p.leader_id.0) && isr == brokers && replicas == brokers
                })
        })
        .await
    }
}

async fn produce(bootstrap: &str, name: &str, from: usize, to: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    for i in from..to {
        let value = format!("value-{i}");
        producer
            .send(
                FutureRecord::to(name).key(&value).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
    }
}

async fn consume(bootstrap: &str, name: &str, group: &str, n: usize) -> BTreeSet<String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[name]).unwrap();
    consume_distinct(&consumer, n, group).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_and_brokers_in_separate_processes_form_one_cluster() {
    let mut c = Isolated::start();
    // Only the three brokers are brokers.
    let m = c
        .await_metadata(4, &[], "brokers 4, 5 and 6 live", |m| m.brokers.len() == 3)
        .await;
    let ids: BTreeSet<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
    assert_eq!(ids, [4, 5, 6].into());
    assert!(ids.contains(&m.controller_id.0), "clients are told a broker: {m:?}");
    let first_leader = c.await_quorum_leader(5, None).await;
    assert!((1..=3).contains(&first_leader));

    // Topics placed on the brokers only; acks=all through librdkafka.
    c.create(4, "events").await;
    c.await_in_sync(6, "events").await;
    produce(&c.bootstrap(), "events", 0, 300).await;
    assert_eq!(consume(&c.bootstrap(), "events", "g1", 300).await.len(), 300);

    // The active controller goes: another is elected, and the brokers follow it.
    c.controllers[first_leader as usize - 1].take().unwrap().kill();
    let second = c.await_quorum_leader(4, Some(first_leader)).await;
    assert_ne!(second, first_leader);
    c.create(5, "after-failover").await;
    c.await_in_sync(4, "after-failover").await;

    // A broker killed is fenced by the new controller; restarted, it reads the metadata
    // again (from a voter's snapshot) and rejoins every ISR.
    c.brokers[2].take().unwrap().kill();
    c.await_metadata(4, &[], "broker 6 fenced", |m| m.brokers.len() == 2)
        .await;
    produce(&c.bootstrap(), "events", 300, 400).await;
    c.brokers[2] = Some(start_broker(c.dirs[5].path(), 6, &c.voters));
    c.await_in_sync(6, "events").await;
    c.await_in_sync(6, "after-failover").await;
    assert_eq!(consume(&c.bootstrap(), "events", "g2", 400).await.len(), 400);
}
