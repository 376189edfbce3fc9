//! Three brokk processes as one KRaft cluster, each node in its own network namespace
//! ([`Netns`]): nodes can be killed (`kill -9`), stopped (SIGTERM), restarted on their data,
//! and cut off from the other nodes and healed, while the test reaches every node.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

use super::netns::Netns;
use super::process::BrokkProcess;
use super::{Raw, topic};

/// Every node's client and CONTROLLER ports (on its own address).
pub const PORT: u16 = 9092;
pub const CONTROLLER_PORT: u16 = 9093;
/// How long a test waits for the cluster to settle.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Fields drop in order: the processes are killed before their namespaces go.
pub struct NetCluster {
    procs: Vec<Option<BrokkProcess>>,
    dirs: Vec<tempfile::TempDir>,
    extra: Vec<String>,
    pub net: Netns,
}

impl NetCluster {
    /// Starts nodes 1..=3 in `net` with `extra` overrides each.
    pub fn start(net: Netns, extra: &[&str]) -> Self {
        let mut c = Self {
            procs: (0..3).map(|_| None).collect(),
            dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            net,
        };
        for id in 1..=3 {
            c.restart(id);
        }
        c
    }

    /// Starts node `id` (again) on its data directory.
    pub fn restart(&mut self, id: i32) {
        let i = id as usize;
        assert!(self.procs[i - 1].is_none(), "node {id} is running");
        let voters = (1..=3)
            .map(|n| format!("{n}@{}", self.net.socket(n, CONTROLLER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let mut o = vec![
            "process.roles=broker,controller".to_string(),
            format!("node.id={id}"),
            "controller.listener.names=CONTROLLER".to_string(),
            format!(
                "listeners=PLAINTEXT://{},CONTROLLER://{}",
                self.net.socket(i, PORT),
                self.net.socket(i, CONTROLLER_PORT)
            ),
            format!("controller.quorum.voters={voters}"),
            "controller.quorum.election.timeout.ms=500".to_string(),
        ];
        o.extend(self.extra.iter().cloned());
        let refs: Vec<&str> = o.iter().map(String::as_str).collect();
        self.procs[i - 1] = Some(BrokkProcess::start_in_netns(
            &self.net.name(i),
            self.net.socket(i, PORT),
            self.dirs[i - 1].path(),
            &refs,
        ));
    }

    /// `kill -9` of node `id`.
    pub fn kill(&mut self, id: i32) {
        self.procs[id as usize - 1].take().expect("node is running").kill();
    }

    /// SIGTERM of node `id` (a controlled shutdown), waiting (bounded) for its exit.
    pub fn terminate(&mut self, id: i32) -> std::process::ExitStatus {
        self.procs[id as usize - 1].take().expect("node is running").terminate()
    }

    pub fn is_running(&self, id: i32) -> bool {
        self.procs[id as usize - 1].is_some()
    }

    /// Node `id`'s client address.
    pub fn addr(&self, id: i32) -> SocketAddr {
        self.net.socket(id as usize, PORT)
    }

    /// Every node's client address, comma-separated.
    pub fn bootstrap(&self) -> String {
        (1..=3).map(|i| self.addr(i).to_string()).collect::<Vec<_>>().join(",")
    }

    /// Creates `name` with `partitions` partitions of three replicas and `min.insync.replicas`
    /// `min_isr` through node 1, asked again (bounded) while fewer than three brokers are
    /// registered (the placement then has too few).
    pub async fn create_replicated(&self, name: &str, partitions: i32, min_isr: &str) {
        use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
        use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
        use kafka_protocol::protocol::StrBytes;
        let t = CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(3)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("min.insync.replicas"))
                    .with_value(Some(StrBytes::from_string(min_isr.to_string()))),
            ]);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(10_000);
        let start = Instant::now();
        loop {
            let r: CreateTopicsResponse = Raw::connect(self.addr(1)).await.call(&req, 7).await;
            if r.topics[0].error_code == 0 {
                return;
            }
            assert!(start.elapsed() < SETTLE, "{:?}", r.topics[0]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Metadata (v12) of `name` from node `id`.
    pub async fn metadata(&self, id: i32, name: &str) -> MetadataResponse {
        let mut req = MetadataRequest::default();
        req.topics = Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default().with_name(Some(topic(name))),
        ]);
        req.allow_auto_topic_creation = false;
        Raw::connect(self.addr(id)).await.call(&req, 12).await
    }

    /// (leader, leader epoch, isr) of each partition of `name` as node `id` sees it.
    pub async fn partitions(&self, id: i32, name: &str) -> Vec<(i32, i32, BTreeSet<i32>)> {
        let m = self.metadata(id, name).await;
        m.topics
            .iter()
            .filter(|t| t.error_code == 0)
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.leader_id.0, p.leader_epoch, p.isr_nodes.iter().map(|b| b.0).collect()))
            .collect()
    }

    /// Polls node `id` (every 50 ms, at most [`SETTLE`]: the state lives in other
    /// processes) until the partitions of `name` satisfy `done`; returns them.
    pub async fn await_partitions(
        &self,
        id: i32,
        name: &str,
        what: &str,
        done: impl Fn(&[(i32, i32, BTreeSet<i32>)]) -> bool,
    ) -> Vec<(i32, i32, BTreeSet<i32>)> {
        let start = Instant::now();
        loop {
            let ps = self.partitions(id, name).await;
            if !ps.is_empty() && done(&ps) {
                return ps;
            }
            assert!(
                start.elapsed() < SETTLE,
                "node {id}: {what} within {SETTLE:?}; last {ps:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
