//! The broker handle that API handlers get, and the embeddable start/stop API.
//!
//! Owns: wiring config, storage and the server together; the shutdown signal; topic
//! auto-creation. Handlers reach storage only through [`Broker`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), brokk::broker::StartError> {
//! let running = brokk::Broker::builder().listen("127.0.0.1:0").ephemeral().start().await?;
//! let addr = running.local_addr(); // give this to a Kafka client
//! running.shutdown().await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, DataDir, parse_host_port};
use crate::controller::active::{Controller, ControllerSettings};
use crate::controller::channel::ControllerChannel;
use crate::controller::lifecycle::{BrokerLifecycle, LifecycleSettings};
use crate::controller::quorum::ControllerNode;
use crate::controller::quorum::member::QuorumMember;
use crate::controller::quorum::node::{QuorumConfig, QuorumNode};
use crate::controller::quorum::observer::MetadataObserver;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::log::cleaner::LogCleaner;
use crate::log::manager::{TopicError, TopicLog};
use crate::quotas::ClientQuotas;
use crate::txn::{ProducerIdManager, TransactionCoordinator};

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the temporary data directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("storage: {0}")]
    Log(#[from] crate::log::LogError),
}

/// Shared broker state handed to every handler.
#[derive(Debug)]
pub struct Broker {
    config: Config,
    logs: Arc<LogManager>,
    cleaner: Arc<LogCleaner>,
    quotas: Arc<ClientQuotas>,
    groups: Arc<GroupCoordinator>,
    producer_ids: Arc<ProducerIdManager>,
    txns: Arc<TransactionCoordinator>,
    advertised: (String, i32),
    /// Every client listener's name and advertised address (the inter-broker one among
    /// them).
    listeners: BTreeMap<String, (String, i32)>,
    shutdown: watch::Receiver<bool>,
    /// `queued.max.request.bytes`: the request bytes all connections may hold.
    request_memory: crate::server::connection::RequestMemory,
    /// This node's membership of the metadata quorum (`controller.quorum.voters` set): a
    /// voter with `process.roles` naming `controller`, an observer without.
    quorum: Option<QuorumMember>,
    /// This broker's registration with the active controller (with a quorum).
    lifecycle: Option<Arc<BrokerLifecycle>>,
    /// Where requests only the active controller answers go (with a quorum).
    forwarding: Option<ControllerChannel>,
    /// The replicated partitions this broker leads (with a quorum).
    replication: Option<Arc<crate::replica::Replication>>,
}

impl Broker {
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The broker-wide pool of request bytes (`queued.max.request.bytes`).
    pub fn request_memory(&self) -> &crate::server::connection::RequestMemory {
        &self.request_memory
    }
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }
    /// This node's membership of the metadata quorum, in a cluster.
    pub fn quorum(&self) -> Option<&QuorumMember> {
        self.quorum.as_ref()
    }
    /// This broker's registration with the active controller, with a quorum.
    pub fn lifecycle(&self) -> Option<&Arc<BrokerLifecycle>> {
        self.lifecycle.as_ref()
    }
    /// The replicated partitions this broker leads, with a quorum.
    pub fn replication(&self) -> Option<&Arc<crate::replica::Replication>> {
        self.replication.as_ref()
    }
    /// The stored client quotas.
    pub fn quotas(&self) -> &Arc<ClientQuotas> {
        &self.quotas
    }
    /// The log cleaner (compacted topics).
    pub fn cleaner(&self) -> &Arc<LogCleaner> {
        &self.cleaner
    }
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }
    pub fn producer_ids(&self) -> &Arc<ProducerIdManager> {
        &self.producer_ids
    }
    pub fn txns(&self) -> &Arc<TransactionCoordinator> {
        &self.txns
    }
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }
    pub fn cluster_id(&self) -> &str {
        &self.logs.cluster_id
    }
    /// Host and port of the inter-broker listener (`inter.broker.listener.name`).
    pub fn advertised(&self) -> (&str, i32) {
        (&self.advertised.0, self.advertised.1)
    }
    /// The inter-broker listener's name.
    pub fn inter_broker_listener(&self) -> &str {
        &self.config.inter_broker_listener
    }
    /// Host and port of listener `name` (the inter-broker listener's for a name this node
    /// does not have).
    pub fn advertised_on(&self, name: &str) -> (&str, i32) {
        match self.listeners.get(name) {
            Some((h, p)) => (h, *p),
            None => self.advertised(),
        }
    }
    /// The brokers a client of listener `listener` is told about (Metadata,
    /// DescribeCluster, coordinators, KIP-951's leader endpoints), each with its endpoint
    /// of that listener, as Kafka's brokers answer: with a quorum, every registered broker
    /// that has one, from the metadata image, fenced ones marked (clients are shown only
    /// unfenced ones), and this broker until its registration is applied; alone, this
    /// broker.
    pub fn brokers(&self, listener: &str) -> Vec<BrokerNode> {
        let own = || {
            let (host, port) = self.advertised_on(listener);
            BrokerNode {
                id: self.node_id(),
                host: host.to_string(),
                port,
                rack: None,
                fenced: false,
            }
        };
        let Some(q) = &self.quorum else {
            return vec![own()];
        };
        let image = q.image().borrow().clone();
        let mut out: Vec<BrokerNode> = image
            .brokers
            .values()
            .filter_map(|b| {
                let e = b.endpoint(listener)?;
                Some(BrokerNode {
                    id: b.id,
                    host: e.host.clone(),
                    port: e.port as i32,
                    rack: b.rack.clone(),
                    fenced: b.fenced,
                })
            })
            .collect();
        // Until its registration is applied (a broker registered without this listener
        // is not reachable through it, as in Kafka).
        if !image.brokers.contains_key(&self.node_id()) {
            let mut me = own();
            me.rack = self.lifecycle.as_ref().and_then(|l| l.rack().map(str::to_string));
            out.push(me);
            out.sort_by_key(|b| b.id);
        }
        out
    }

    /// Who leads `topic`-`partition`, as requests that need the leader check it: alone, or
    /// for a topic the cluster's image does not have (the coordinators' internal topics,
    /// each broker's own for now), this broker's log answers; in a cluster, the image says.
    pub fn leadership(&self, topic: &str, partition: i32) -> Leadership {
        match self.image() {
            None => Leadership::Here,
            Some(image) => self.leadership_in(&image, topic, partition),
        }
    }

    /// [`Self::leadership`] in a cluster, against `image` (a request reads the image once,
    /// not once per partition).
    pub fn leadership_in(&self, image: &crate::metadata::MetadataImage, topic: &str, partition: i32) -> Leadership {
        let Some(t) = image.topic(topic) else {
            return Leadership::Unknown;
        };
        match t.partitions.get(&partition) {
            None => Leadership::Unknown,
            Some(p) if p.leader == self.node_id() => Leadership::Here,
            Some(p) => Leadership::Elsewhere {
                leader: p.leader,
                leader_epoch: p.leader_epoch,
            },
        }
    }

    /// Whether this broker serves its local log `t`: alone, always; in a cluster, only the
    /// image's incarnation of the topic (a local log of a deleted namesake is not), or a
    /// coordinator's internal topic the image does not have.
    pub fn serves(image: Option<&crate::metadata::MetadataImage>, t: &TopicLog) -> bool {
        image.is_none_or(|i| match i.topic(&t.name) {
            Some(it) => it.id == t.id,
            None => false,
        })
    }

    /// Sends `req` to the active controller (Kafka's forwarding of controller-bound
    /// requests) and returns its answer, trying again (on the node that leads then) while
    /// the exchange fails or `not_controller` says the answer came from a controller that
    /// no longer leads, until `timeout`. None alone or after the timeout.
    pub async fn forward<Q, R>(
        &self,
        (key, version): (i16, i16),
        req: &Q,
        timeout: Duration,
        not_controller: impl Fn(&R) -> bool,
    ) -> Option<R>
    where
        Q: kafka_protocol::protocol::Encodable,
        R: kafka_protocol::protocol::Decodable,
    {
        let channel = self.forwarding.as_ref()?;
        let body = crate::controller::active::encode(req, version).ok()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut stop = self.shutdown.clone();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let exchanged = tokio::select! {
                r = channel.exchange::<R>(key, version, &body, left) => r,
                // A broker shutting down does not wait for the controller.
                _ = stop.wait_for(|s| *s) => return None,
            };
            match exchanged {
                Ok(r) if !not_controller(&r) => return Some(r),
                Ok(_) => channel.forget().await,
                Err(e) => {
                    tracing::debug!(api_key = key, error = %e, "forwarding to the controller failed");
                    channel.forget().await;
                }
            }
            if tokio::time::Instant::now() + FORWARD_BACKOFF >= deadline {
                return None;
            }
            tokio::time::sleep(FORWARD_BACKOFF).await;
        }
    }

    /// Waits (at most `timeout`) until this broker's image satisfies `done`; whether it
    /// does. Alone: at once.
    pub async fn await_image(&self, timeout: Duration, done: impl Fn(&crate::metadata::MetadataImage) -> bool) -> bool {
        let Some(q) = &self.quorum else {
            return true;
        };
        let mut image = q.image();
        matches!(
            tokio::time::timeout(timeout, image.wait_for(|i| done(i))).await,
            Ok(Ok(_))
        )
    }

    /// The cluster's metadata image as this broker has applied it (None alone).
    pub fn image(&self) -> Option<Arc<crate::metadata::MetadataImage>> {
        self.quorum.as_ref().map(|q| q.image().borrow().clone())
    }

    /// Creates topic `name` through the active controller with the defaults
    /// (`num.partitions`, `default.replication.factor`), as auto-creation does in a
    /// cluster, and waits until this broker's image has it. The controller's error, if any.
    pub async fn auto_create_in_cluster(&self, name: &str) -> Result<(), (kafka_protocol::ResponseError, String)> {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        let topic = CreatableTopic::default()
            .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                name.to_string(),
            )))
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        self.create_in_cluster(topic).await
    }

    /// Makes sure internal topic `name` (`__consumer_offsets`, `__transaction_state`)
    /// exists in the cluster, created through the active controller as Kafka's brokers
    /// create it: the coordinator's partition count and replication factor (Kafka's
    /// default, 3, when not set), compacted, its segment size; `__transaction_state` with
    /// `min.insync.replicas` = `transaction.state.log.min.isr` and every state fsynced.
    pub async fn ensure_internal_topic_in_cluster(
        &self,
        name: &'static str,
    ) -> Result<(), (kafka_protocol::ResponseError, String)> {
        use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
        if self.image().is_some_and(|i| i.topic(name).is_some()) {
            return Ok(());
        }
        let config = |k: &str, v: String| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v)))
        };
        let (g, t) = (&self.config.group, &self.config.txn);
        let (partitions, rf, configs) = if name == crate::group::OFFSETS_TOPIC {
            (
                g.offsets_topic_partitions,
                g.offsets_topic_replication_factor,
                vec![
                    config("cleanup.policy", "compact".into()),
                    config("compression.type", "producer".into()),
                    config("segment.bytes", g.offsets_topic_segment_bytes.to_string()),
                ],
            )
        } else {
            (
                t.state_log_partitions,
                t.state_log_replication_factor,
                vec![
                    config("cleanup.policy", "compact".into()),
                    config("compression.type", "uncompressed".into()),
                    config("segment.bytes", t.state_log_segment_bytes.to_string()),
                    config("min.insync.replicas", t.state_log_min_isr.to_string()),
                    config("unclean.leader.election.enable", "false".into()),
                    // As a single broker's: a state is on disk before it is acted on.
                    config("flush.messages", "1".into()),
                ],
            )
        };
        let topic = CreatableTopic::default()
            .with_name(kafka_protocol::messages::TopicName(StrBytes::from_static_str(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(rf.unwrap_or(3) as i16)
            .with_configs(configs);
        self.create_in_cluster(topic).await
    }

    /// Creates `topic` through the active controller and waits until this broker's image
    /// has it. The controller's error, if any.
    async fn create_in_cluster(
        &self,
        topic: kafka_protocol::messages::create_topics_request::CreatableTopic,
    ) -> Result<(), (kafka_protocol::ResponseError, String)> {
        use kafka_protocol::ResponseError;
        use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
        let name = topic.name.0.to_string();
        let timeout = Duration::from_millis(AUTO_CREATE_TIMEOUT_MS as u64);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(AUTO_CREATE_TIMEOUT_MS);
        let not_controller = |r: &CreateTopicsResponse| {
            r.topics
                .iter()
                .any(|t| t.error_code == ResponseError::NotController.code())
        };
        let resp = self
            .forward(
                (crate::controller::active::CREATE_TOPICS, 7),
                &req,
                timeout,
                not_controller,
            )
            .await
            .ok_or((
                ResponseError::RequestTimedOut,
                "the controller did not answer".to_string(),
            ))?;
        let r = resp
            .topics
            .first()
            .ok_or((ResponseError::UnknownServerError, "no answer".to_string()))?;
        match ResponseError::try_from_code(r.error_code) {
            None | Some(ResponseError::TopicAlreadyExists) => {}
            Some(e) => return Err((e, r.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())),
        }
        // Kafka answers LEADER_NOT_AVAILABLE at once while the topic is being created;
        // the image here usually has it within moments of the commit.
        if self
            .await_image(AUTO_CREATE_IMAGE_WAIT, |i| i.topic(&name).is_some())
            .await
        {
            Ok(())
        } else {
            Err((ResponseError::LeaderNotAvailable, "the topic is being created".into()))
        }
    }

    /// Partition `partition` of `topic` exists: in a cluster, in the image (or in this
    /// broker's logs for the coordinators' internal topics); alone, in this broker's logs.
    pub fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        if let Some(image) = self.image()
            && let Some(t) = image.topic(topic)
        {
            return t.partitions.contains_key(&partition);
        }
        if self.quorum.is_some() {
            return false;
        }
        self.logs
            .topic(topic)
            .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
    }

    /// The controller id clients are told (Metadata, DescribeCluster): as Kafka's brokers,
    /// a random unfenced broker (clients send controller-bound requests to any broker),
    /// -1 when there is none; alone, this broker.
    pub fn client_controller_id(&self, brokers: &[BrokerNode]) -> i32 {
        if self.quorum.is_none() {
            return self.node_id();
        }
        let live: Vec<i32> = brokers.iter().filter(|b| !b.fenced).map(|b| b.id).collect();
        if live.is_empty() {
            -1
        } else {
            live[fastrand::usize(..live.len())]
        }
    }

    /// Resolves when the broker starts shutting down (long-polls end early).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Creates a topic on a blocking thread (file creation and fsync).
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<TopicLog>, TopicError> {
        let logs = self.logs.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || logs.create_topic(&name, partitions, overrides))
            .await
            .unwrap_or_else(|e| {
                Err(TopicError::Log(crate::log::LogError::Invalid(format!(
                    "create task failed: {e}"
                ))))
            })
    }

    /// Returns the topic, creating it with `num.partitions` if auto-creation is allowed
    /// (a concurrent creation of the same topic counts as success).
    pub async fn get_or_create_topic(&self, name: &str) -> Result<Arc<TopicLog>, TopicError> {
        if let Some(t) = self.logs.topic(name) {
            return Ok(t);
        }
        if crate::log::internal::is_internal(name) {
            // Created with the coordinator's partition count and settings, never defaults.
            let created = if name == crate::group::OFFSETS_TOPIC {
                self.groups.ensure_offsets_topic().await.map_err(|e| e.to_string())
            } else {
                self.txns.ensure_topic().await.map_err(|e| e.to_string())
            };
            created
                .map_err(|e| TopicError::Log(crate::log::LogError::Invalid(format!("creating {name} failed: {e}"))))?;
            return self
                .logs
                .topic(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string()));
        }
        match self
            .create_topic(name, self.config.num_partitions, BTreeMap::new())
            .await
        {
            Err(TopicError::AlreadyExists(_)) => self
                .logs
                .topic(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string())),
            other => other,
        }
    }
}

/// The address a client listener advertises: `advertised.listeners`' entry, else the bound
/// host (127.0.0.1 for a wildcard) and port.
fn advertise(advertised: Option<&(String, u16)>, bind_host: &str, bound_port: u16) -> (String, i32) {
    match advertised {
        Some((h, p)) => (h.clone(), *p as i32),
        None if bind_host == "0.0.0.0" || bind_host == "::" => ("127.0.0.1".to_string(), bound_port as i32),
        None => (bind_host.to_string(), bound_port as i32),
    }
}

/// The voters' CONTROLLER listeners of `controller.quorum.voters`.
fn controller_nodes(k: &crate::config::KraftSettings) -> BTreeMap<u64, ControllerNode> {
    k.voters
        .iter()
        .map(|(id, (host, port))| {
            let node = ControllerNode {
                host: host.clone(),
                port: *port,
            };
            (*id as u64, node)
        })
        .collect()
}

/// Producer-id blocks from the active controller (AllocateProducerIds), for this broker's
/// current registration.
fn cluster_producer_ids(
    quorum: QuorumMember,
    lifecycle: Arc<BrokerLifecycle>,
) -> crate::txn::producer_ids::BlockSource {
    use crate::controller::active::ALLOCATE_PRODUCER_IDS;
    use kafka_protocol::messages::{AllocateProducerIdsRequest, AllocateProducerIdsResponse, BrokerId};
    let channel = Arc::new(ControllerChannel::new(quorum, "brokk-producer-ids".into()));
    Arc::new(move || {
        let (channel, lifecycle) = (channel.clone(), lifecycle.clone());
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let req = AllocateProducerIdsRequest::default()
                    .with_broker_id(BrokerId(lifecycle.node_id()))
                    .with_broker_epoch(lifecycle.broker_epoch());
                let body = crate::controller::active::encode(&req, 0)?;
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match channel
                    .exchange::<AllocateProducerIdsResponse>(ALLOCATE_PRODUCER_IDS, 0, &body, left)
                    .await
                {
                    Ok(r) if r.error_code == 0 => return Ok((r.producer_id_start.0, r.producer_id_len as i64)),
                    Ok(r) => {
                        channel.forget().await;
                        if tokio::time::Instant::now() >= deadline {
                            return Err(format!(
                                "the controller refused a producer id block: error {}",
                                r.error_code
                            ));
                        }
                    }
                    Err(e) => {
                        channel.forget().await;
                        if tokio::time::Instant::now() >= deadline {
                            return Err(e);
                        }
                    }
                }
                tokio::time::sleep(FORWARD_BACKOFF).await;
            }
        })
    })
}

/// How long auto-creation waits for the controller.
const AUTO_CREATE_TIMEOUT_MS: i32 = 10_000;
/// How long auto-creation waits for the new topic to reach this broker's image.
const AUTO_CREATE_IMAGE_WAIT: Duration = Duration::from_millis(500);

/// The pause before a forwarded request is tried again.
const FORWARD_BACKOFF: Duration = Duration::from_millis(50);

/// Where a partition's leader is (see [`Broker::leadership`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// This broker leads it (or hosts it alone): its local log answers.
    Here,
    /// Another broker leads it (-1: none does now).
    Elsewhere { leader: i32, leader_epoch: i32 },
    /// The cluster has no such partition.
    Unknown,
}

/// A broker as clients are told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// Builds and starts a broker (the binary and embedding tests use the same path).
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    config: Config,
    errors: Vec<String>,
}

impl BrokerBuilder {
    /// Starts from a complete configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// `host:port` to listen on; port 0 picks a free one.
    pub fn listen(mut self, addr: &str) -> Self {
        self.config.listen = addr.to_string();
        self
    }
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = DataDir::Path(dir.into());
        self
    }
    /// Uses a temporary data directory removed at shutdown.
    pub fn ephemeral(mut self) -> Self {
        self.config.data_dir = DataDir::Ephemeral;
        self
    }
    /// Sets one Kafka `server.properties` key.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        if let Err(e) = self.config.apply_override(&format!("{key}={value}")) {
            self.errors.push(e);
        }
        self
    }

    /// Opens storage (recovering if needed), binds, and starts serving.
    pub async fn start(self) -> Result<RunningBroker, StartError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(StartError::Config(e));
        }
        let config = self.config;
        config.validate().map_err(StartError::Config)?;
        let (dir, tempdir) = match &config.data_dir {
            DataDir::Path(p) => (p.clone(), None),
            DataDir::Ephemeral => {
                let t = tempfile::Builder::new()
                    .prefix("brokk-")
                    .tempdir()
                    .map_err(StartError::TempDir)?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let kraft = config.kraft().map_err(StartError::Config)?;
        let roles = kraft.as_ref().map_or(
            crate::config::Roles {
                broker: true,
                controller: false,
            },
            |k| k.roles,
        );
        let bind = |addr: String| async move {
            let l = TcpListener::bind(&addr).await.map_err(|source| StartError::Bind {
                addr: addr.clone(),
                source,
            })?;
            let local = l.local_addr().map_err(|source| StartError::Bind { addr, source })?;
            Ok::<_, StartError>((l, local))
        };
        // A controller alone (`process.roles=controller`) serves only its CONTROLLER listener.
        let listener = match roles.broker {
            true => Some(bind(config.listen.clone()).await?),
            false => None,
        };
        let mut other_listeners = vec![];
        if roles.broker {
            for l in &config.other_listeners {
                let bound = bind(format!("{}:{}", l.bind.0, l.bind.1)).await?;
                other_listeners.push((l.clone(), bound));
            }
        }
        let controller_listener = match kraft.as_ref() {
            Some(k) if k.roles.controller => {
                let (host, port) = k.controller_listener.clone().unwrap_or_default();
                Some(bind(format!("{host}:{port}")).await?)
            }
            _ => None,
        };
        let local = match (&listener, &controller_listener) {
            (Some((_, a)), _) | (None, Some((_, a))) => *a,
            (None, None) => unreachable!("a node has the broker role, the controller role or both"),
        };
        let (logs, report) = {
            let mut dirs = vec![dir.clone()];
            if matches!(config.data_dir, DataDir::Path(_)) {
                dirs.extend(config.extra_log_dirs.iter().cloned());
            }
            let (defaults, node) = (config.log.clone(), config.node_id);
            let cluster = kraft.as_ref().map(|k| k.cluster_id());
            tokio::task::spawn_blocking(move || LogManager::open_dirs_in(&dirs, defaults, node, cluster))
                .await
                .map_err(|e| StartError::Config(format!("storage start-up task failed: {e}")))??
        };
        let (bind_host, _) = parse_host_port(&config.listen).map_err(StartError::Config)?;
        let advertised = advertise(config.advertised.as_ref(), &bind_host, local.port());
        let mut listeners = BTreeMap::new();
        listeners.insert(config.inter_broker_listener.clone(), advertised.clone());
        for (l, (_, bound)) in other_listeners.iter().filter(|(l, _)| l.registered) {
            listeners.insert(
                l.name.clone(),
                advertise(l.advertised.as_ref(), &l.bind.0, bound.port()),
            );
        }
        let (tx, rx) = watch::channel(false);
        logs.halt_on_dir_failure(config.halt_on_log_dir_failure);
        let logs = Arc::new(logs);
        let mut group_config = config.group.clone();
        group_config.in_cluster = kraft.is_some();
        let groups = Arc::new(GroupCoordinator::new(logs.clone(), group_config, rx.clone()));
        let mut txn_config = config.txn.clone();
        txn_config.in_cluster = kraft.is_some();
        let loaded = groups
            .load()
            .await
            .map_err(|e| StartError::Config(format!("loading consumer groups failed: {e}")))?;
        let producer_ids = Arc::new(ProducerIdManager::open(&dir)?);
        let txns = Arc::new(TransactionCoordinator::new(
            logs.clone(),
            txn_config,
            groups.clone(),
            producer_ids.clone(),
        ));
        let transactional_ids = txns
            .load()
            .await
            .map_err(|e| StartError::Config(format!("loading transactions failed: {e}")))?;
        let cleaner = Arc::new(LogCleaner::new(logs.clone(), config.cleaner.clone()));
        let quotas = Arc::new(
            ClientQuotas::open(logs.data_dir())
                .map_err(|e| StartError::Config(format!("loading client quotas failed: {e}")))?,
        );
        let cluster_settings = kraft.clone();
        let quorum = match (kraft, controller_listener) {
            (Some(k), Some((listener, _))) => {
                let voters = controller_nodes(&k);
                let cfg = QuorumConfig {
                    node_id: config.node_id as u64,
                    voters,
                    election_timeout_ms: k.election_timeout_ms,
                };
                let node = QuorumNode::start(cfg, &logs, listener).await?;
                tracing::info!(node_id = config.node_id, voters = ?k.voters, "joined the metadata quorum");
                Some(QuorumMember::Voter(Arc::new(node)))
            }
            (Some(k), None) => {
                let observer = MetadataObserver::start(config.node_id as u64, controller_nodes(&k), rx.clone());
                tracing::info!(node_id = config.node_id, voters = ?k.voters, "following the metadata quorum as an observer (process.roles=broker); waiting to catch up");
                // As Kafka's broker: nothing is served before the metadata has caught up.
                observer.await_caught_up().await;
                tracing::info!(offset = observer.applied_offset(), "caught up with the metadata quorum");
                Some(QuorumMember::Observer(observer))
            }
            _ => None,
        };
        let controller = match (quorum.as_ref().and_then(QuorumMember::voter), &cluster_settings) {
            (Some(q), Some(k)) => {
                let controller = Controller::new(
                    q.clone(),
                    ControllerSettings {
                        cluster_id: logs.cluster_id.clone(),
                        session_timeout: Duration::from_millis(k.session_timeout_ms),
                        leader_balance: k.leader_balance,
                        topics: crate::controller::topics::TopicDefaults {
                            num_partitions: config.num_partitions,
                            replication_factor: k.default_replication_factor,
                            log: (*logs.defaults()).clone(),
                        },
                    },
                );
                q.serve_controller(controller.clone());
                Some(controller)
            }
            _ => None,
        };
        let lifecycle = match (&quorum, &cluster_settings) {
            (Some(q), Some(k)) if k.roles.broker => {
                let features = crate::api::api_versions::SUPPORTED_FEATURES
                    .iter()
                    .map(|(n, min, max)| (n.to_string(), *min, *max))
                    .collect();
                Some(BrokerLifecycle::new(
                    q.clone(),
                    LifecycleSettings {
                        node_id: config.node_id,
                        cluster_id: logs.cluster_id.clone(),
                        // The inter-broker listener first, then the others.
                        listeners: std::iter::once((config.inter_broker_listener.clone(), advertised.clone()))
                            .chain(
                                listeners
                                    .iter()
                                    .filter(|(n, _)| **n != config.inter_broker_listener)
                                    .map(|(n, a)| (n.clone(), a.clone())),
                            )
                            .map(|(name, (host, port))| (name, host, port as u16, 0))
                            .collect(),
                        rack: k.rack.clone(),
                        features,
                        heartbeat_interval: Duration::from_millis(k.heartbeat_interval_ms),
                        session_timeout: Duration::from_millis(k.session_timeout_ms),
                    },
                ))
            }
            _ => None,
        };
        if let (Some(q), Some(l)) = (&quorum, &lifecycle) {
            producer_ids.use_cluster_blocks(cluster_producer_ids(q.clone(), l.clone()));
        }
        let config_queued = config.queued_max_request_bytes;
        let node_id = config.node_id;
        let broker = Arc::new(Broker {
            config,
            cleaner: cleaner.clone(),
            quotas,
            logs: logs.clone(),
            groups: groups.clone(),
            producer_ids,
            txns: txns.clone(),
            advertised,
            listeners,
            shutdown: rx.clone(),
            request_memory: crate::server::connection::RequestMemory::new(config_queued),
            forwarding: quorum
                .as_ref()
                .map(|q| ControllerChannel::new(q.clone(), format!("brokk-forwarding-{node_id}"))),
            replication: match (&lifecycle, &cluster_settings) {
                (Some(_), Some(k)) => Some(Arc::new(crate::replica::Replication::new(
                    node_id,
                    k.replica_lag_time_max_ms as i64,
                ))),
                _ => None,
            },
            quorum,
            lifecycle: lifecycle.clone(),
        });
        tracing::info!(
            clean_shutdown = report.clean_shutdown,
            topics = report.topics,
            partitions = report.partitions,
            segments_scanned = report.recovery.segments_scanned,
            torn_bytes = report.recovery.torn_bytes,
            groups = loaded,
            transactional_ids,
            "storage opened"
        );
        if broker.quorum.is_none()
            && let Some(roles) = broker.config.static_props.get("process.roles")
        {
            tracing::warn!(
                "process.roles={roles} without controller.quorum.voters: brokk runs as a single-node cluster (controller.quorum.bootstrap.servers, KIP-853's dynamic quorum, is not implemented)"
            );
        }
        if !broker.config.unimplemented_keys.is_empty() {
            tracing::warn!(keys = ?broker.config.unimplemented_keys, "configuration keys brokk does not implement were ignored");
        }
        let cleaner_task = tokio::spawn(cleaner.clone().run(rx.clone()));
        let maintenance = tokio::spawn(logs.clone().run_maintenance(
            Duration::from_millis(broker.config.retention_check_interval_ms),
            rx.clone(),
        ));
        let expiration = tokio::spawn(groups.clone().run_expiration(rx.clone()));
        let txn_maintenance = tokio::spawn(txns.run_maintenance(rx.clone()));
        let mut cluster_tasks = vec![];
        if let Some(c) = controller {
            cluster_tasks.push(tokio::spawn(c.clone().run_leader_balance(rx.clone())));
            cluster_tasks.push(tokio::spawn(c.clone().run_unclean_elections(rx.clone())));
            cluster_tasks.push(tokio::spawn(c.run_fencing(rx.clone())));
        }
        if let Some(l) = lifecycle {
            cluster_tasks.push(tokio::spawn(l.run(rx.clone())));
        }
        if let (Some(q), Some(l)) = (&broker.quorum, &broker.lifecycle) {
            let replication = broker.replication.clone().expect("a cluster broker replicates");
            broker.groups.join_cluster(
                replication.clone(),
                Duration::from_millis(broker.config.group.offsets_commit_timeout_ms),
            );
            let fetchers = crate::replica::fetcher::FetcherManager::new(
                broker.node_id(),
                crate::replica::fetcher::FetchSettings {
                    listener: broker.inter_broker_listener().to_string(),
                    ..Default::default()
                },
                q.image(),
            );
            broker.txns.join_cluster(
                broker.node_id(),
                broker.inter_broker_listener().to_string(),
                replication.clone(),
                q.image(),
            );
            let replicas = crate::replica::ReplicaManager::new(
                broker.node_id(),
                logs.clone(),
                broker.cleaner.clone(),
                broker.groups.clone(),
                broker.txns.clone(),
                replication.clone(),
                fetchers,
            );
            cluster_tasks.push(tokio::spawn(replicas.run(q.image(), l.state(), rx.clone())));
            let channel = Arc::new(ControllerChannel::new(
                q.clone(),
                format!("brokk-alter-partition-{}", broker.node_id()),
            ));
            cluster_tasks.push(tokio::spawn(crate::replica::isr::run(
                replication,
                channel,
                l.clone(),
                q.image(),
                rx.clone(),
            )));
        }
        let server = match listener {
            Some((listener, _)) => {
                let mut servers = vec![];
                for (l, (bound, addr)) in other_listeners {
                    let (host, port) = broker.advertised_on(&l.name);
                    tracing::info!(listener = %l.name, "listener {} on {addr} (advertised {host}:{port})", l.name);
                    servers.push(tokio::spawn(crate::server::serve(
                        bound,
                        l.name.into(),
                        broker.clone(),
                        rx.clone(),
                    )));
                }
                let name: Arc<str> = broker.inter_broker_listener().into();
                servers.push(tokio::spawn(crate::server::serve(listener, name, broker.clone(), rx)));
                tracing::info!(
                    "brokk listening on {local} (advertised {}:{}), data in {}",
                    broker.advertised.0,
                    broker.advertised.1,
                    dir.display()
                );
                Some(servers)
            }
            None => {
                tracing::info!(
                    "brokk listening on {local} (process.roles=controller: the CONTROLLER listener only), data in {}",
                    dir.display()
                );
                None
            }
        };
        Ok(RunningBroker {
            local,
            broker,
            shutdown: tx,
            server,
            maintenance,
            expiration,
            txn_maintenance,
            cleaner: cleaner_task,
            cluster_tasks,
            _tempdir: tempdir,
        })
    }
}

/// A started broker: its address, and a clean shutdown.
#[derive(Debug)]
pub struct RunningBroker {
    local: SocketAddr,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    /// The client listeners' servers (none on a controller alone).
    server: Option<Vec<JoinHandle<()>>>,
    maintenance: JoinHandle<()>,
    expiration: JoinHandle<()>,
    txn_maintenance: JoinHandle<()>,
    cleaner: JoinHandle<()>,
    /// The active controller's fencing pass and the broker's heartbeats (with a quorum).
    cluster_tasks: Vec<JoinHandle<()>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl RunningBroker {
    /// The bound listener address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, lets in-flight requests finish, flushes and trims every partition,
    /// and writes the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), StartError> {
        if let Some(l) = &self.broker.lifecycle {
            // Kafka's controlled shutdown: the controller moves this broker's leaderships
            // away and fences it before it stops serving (bounded by the session timeout,
            // after which the controller fences it anyway).
            let timeout = self
                .broker
                .config
                .kraft()
                .ok()
                .flatten()
                .map_or(9000, |k| k.session_timeout_ms);
            if !l.controlled_shutdown(Duration::from_millis(timeout)).await {
                tracing::warn!("the controller did not allow a controlled shutdown in time; stopping anyway");
            }
        }
        let _ = self.shutdown.send(true);
        for t in self.cluster_tasks {
            let _ = t.await;
        }
        for server in self.server.into_iter().flatten() {
            let _ = server.await;
        }
        let _ = self.maintenance.await;
        let _ = self.expiration.await;
        let _ = self.txn_maintenance.await;
        let _ = self.cleaner.await;
        self.broker.groups.stopped().await;
        if let Some(q) = self.broker.quorum.as_ref().and_then(QuorumMember::voter) {
            q.shutdown().await;
        }
        let logs = self.broker.logs.clone();
        tokio::task::spawn_blocking(move || logs.shutdown())
            .await
            .map_err(|e| StartError::Config(format!("shutdown task failed: {e}")))??;
        tracing::info!("brokk stopped cleanly");
        Ok(())
    }
}
