//! Three brokk processes configured as one KRaft cluster (Kafka's keys: `process.roles`,
//! `node.id`, `controller.quorum.voters`, `controller.listener.names`, `listeners` with a
//! CONTROLLER listener), each with its own data directory; nodes can be killed and
//! restarted on the same directory and CONTROLLER port.

use std::path::Path;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

use super::Raw;
use super::process::BrokkProcess;

/// How long a cluster test waits for the cluster to settle.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Three free ports for the CONTROLLER listeners, and the `controller.quorum.voters`
/// naming them (nodes 1, 2, 3).
pub fn controller_ports() -> (Vec<u16>, String) {
    let ports: Vec<u16> = (0..3).map(|_| super::ports::reserved_port()).collect();
    let voters = (0..3)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    (ports, voters)
}

/// Fields drop in order: the nodes are killed before their data directories go.
pub struct Cluster {
    pub nodes: Vec<Option<BrokkProcess>>,
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    voters: String,
    extra: Vec<String>,
}

fn start_node(dir: &Path, id: usize, voters: &str, port: u16, extra: &[String]) -> BrokkProcess {
    let mut overrides = vec![
        "process.roles=broker,controller".to_string(),
        format!("node.id={id}"),
        "controller.listener.names=CONTROLLER".to_string(),
        format!("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}"),
        format!("controller.quorum.voters={voters}"),
        "controller.quorum.election.timeout.ms=500".to_string(),
    ];
    overrides.extend(extra.iter().cloned());
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    BrokkProcess::start(dir, &refs)
}

impl Cluster {
    /// Starts nodes 1..=3 with `extra` overrides each.
    pub fn start(extra: &[&str]) -> Self {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let (ports, voters) = controller_ports();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let nodes = (0..3)
            .map(|i| Some(start_node(dirs[i].path(), i + 1, &voters, ports[i], &extra)))
            .collect();
        Self {
            dirs,
            ports,
            voters,
            extra,
            nodes,
        }
    }

    /// Node `id` (1-based), which must be running.
    pub fn node(&self, id: i32) -> &BrokkProcess {
        self.nodes[id as usize - 1].as_ref().expect("node is running")
    }

    /// Node `id`'s data directory.
    pub fn dir(&self, id: i32) -> &Path {
        self.dirs[id as usize - 1].path()
    }

    /// The running nodes' client addresses, comma-separated (a client's bootstrap list).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `kill -9` of node `id`.
    pub fn kill(&mut self, id: i32) {
        self.nodes[id as usize - 1].take().expect("node is running").kill();
    }

    /// SIGTERM of node `id` (a controlled shutdown), waiting (bounded) for its exit.
    pub fn terminate(&mut self, id: i32) -> std::process::ExitStatus {
        self.nodes[id as usize - 1].take().expect("node is running").terminate()
    }

    /// Starts node `id` again on its data directory.
    pub fn restart(&mut self, id: i32) {
        let i = id as usize - 1;
        assert!(self.nodes[i].is_none(), "node {id} is running");
        self.nodes[i] = Some(start_node(
            self.dirs[i].path(),
            id as usize,
            &self.voters,
            self.ports[i],
            &self.extra,
        ));
    }

    /// Metadata (v12) for `topics` (None: all) from node `id`.
    pub async fn metadata(&self, id: i32, topics: Option<&[&str]>) -> MetadataResponse {
        let mut req = MetadataRequest::default();
        req.topics = topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    let mut r = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
                    r.name = Some(super::topic(t));
                    r
                })
                .collect()
        });
        req.allow_auto_topic_creation = false;
        Raw::connect(self.node(id).addr()).await.call(&req, 12).await
    }

    /// Polls Metadata from node `id` (every 50 ms, at most [`SETTLE`]; the cluster's state
    /// lives in other processes, so there is no event to await) until `done` holds;
    /// returns that answer.
    pub async fn await_metadata(
        &self,
        id: i32,
        topics: Option<&[&str]>,
        what: &str,
        done: impl Fn(&MetadataResponse) -> bool,
    ) -> MetadataResponse {
        let start = Instant::now();
        loop {
            let m = self.metadata(id, topics).await;
            if done(&m) {
                return m;
            }
            assert!(
                start.elapsed() < SETTLE,
                "node {id}: {what} within {SETTLE:?}; last answer {m:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Cluster {
    /// Waits for three live brokers, then creates `name` with `partitions` partitions of
    /// three replicas through node 1.
    pub async fn create_replicated(&self, name: &str, partitions: i32) {
        self.create_replicated_with(name, partitions, &[]).await
    }

    /// [`Self::create_replicated`] with topic `configs`.
    pub async fn create_replicated_with(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
        use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
        use kafka_protocol::protocol::StrBytes;
        self.await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
            .await;
        let t = CreatableTopic::default()
            .with_name(super::topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(3)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(Some(StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            );
        let r: CreateTopicsResponse = Raw::connect(self.node(1).addr())
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

    /// Waits until node `id` shows every partition of `topics` led, with three replicas,
    /// all in sync.
    pub async fn await_in_sync(&self, id: i32, topics: &[&str]) -> MetadataResponse {
        let all: std::collections::BTreeSet<i32> = [1, 2, 3].into();
        self.await_metadata(id, Some(topics), "every partition fully in sync", |m| {
            m.topics.len() == topics.len()
                && m.topics.iter().all(|t| {
                    t.error_code == 0
                        && !t.partitions.is_empty()
                        && t.partitions.iter().all(|p| {
                            p.leader_id.0 > 0
                                && p.replica_nodes.len() == 3
                                && p.isr_nodes
                                    .iter()
                                    .map(|b| b.0)
                                    .collect::<std::collections::BTreeSet<_>>()
                                    == all
                        })
                })
        })
        .await
    }
}

/// Reads `n` distinct values from `consumer` (each at most once: a second copy fails the
/// test), each within [`SETTLE`]. librdkafka reports a broker it cannot reach (a killed
/// node's old address in the bootstrap list) as an error event and carries on, so those
/// are skipped. `what` names the consumer in failures.
pub async fn consume_distinct(
    consumer: &rdkafka::consumer::StreamConsumer,
    n: usize,
    what: &str,
) -> std::collections::BTreeSet<String> {
    use rdkafka::error::KafkaError;
    use rdkafka::message::Message;
    use rdkafka::types::RDKafkaErrorCode;
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < n {
        let m = tokio::time::timeout(SETTLE, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: only {} of {n} messages consumed", seen.len()));
        let m = match m {
            Ok(m) => m,
            Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
            )) => continue,
            Err(e) => panic!("{what}: {e}"),
        };
        let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
        assert!(seen.insert(value.clone()), "{what}: {value} consumed twice");
    }
    seen
}
