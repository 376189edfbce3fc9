//! Broker configuration: one validated [`Config`] from command-line flags and an optional
//! Kafka `server.properties` file (Kafka's own key names). Defaults are documented here only.
//!
//! Precedence: built-in defaults < `--config FILE` < `--override KEY=VALUE` < the named
//! flags (`--listen`, `--data-dir`, ...). Keys brokk does not implement are collected in
//! [`Config::unimplemented_keys`] and reported once at start, never silently dropped.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `listeners` | `PLAINTEXT://127.0.0.1:9092` | where brokk listens: named listeners, each PLAINTEXT (see `listeners.rs`) |
//! | `advertised.listeners` | the listeners | host:port per listener returned in Metadata |
//! | `listener.security.protocol.map` | Kafka's | each listener's security protocol (PLAINTEXT only for now) |
//! | `inter.broker.listener.name` | `PLAINTEXT` | the listener brokers reach each other on; `--listen` sets its address |
//! | `log.dirs` / `log.dir` | `./brokk-data` | data directories, comma-separated; the first holds the metadata |
//! | `node.id` / `broker.id` | `0` | this broker's id (also the controller id) |
//! | `process.roles` | none | `broker`, `controller` or both; with `controller.quorum.voters` a controller joins the metadata quorum |
//! | `controller.quorum.voters` | none | `ID@HOST:PORT,...`: the quorum's voters (their CONTROLLER listeners); unset: a single-node cluster |
//! | `controller.listener.names` | none | the CONTROLLER listener's name in `listeners` |
//! | `controller.quorum.election.timeout.ms` | `1000` | a follower without a leader's word this long (to twice that) starts an election |
//! | `broker.session.timeout.ms` | `9000` | with a quorum: a broker not heard from this long is fenced (out of Metadata) |
//! | `broker.heartbeat.interval.ms` | `2000` | with a quorum: how often a broker heartbeats to the active controller |
//! | `broker.rack` | none | with a quorum: the broker's rack, in its registration and Metadata |
//! | `num.partitions` | `1` | partitions of auto-created topics and CreateTopics with -1 |
//! | `default.replication.factor` | `1` | replicas of topics created without a replication factor; above 1 only in a cluster |
//! | `replica.lag.time.max.ms` | `30000` | in a cluster: an in-sync follower not caught up with its leader this long leaves the ISR |
//! | `min.insync.replicas` | `1` | acks=all needs this many in-sync replicas (NOT_ENOUGH_REPLICAS); in a cluster the high watermark waits for as many |
//! | `auto.create.topics.enable` | `true` | Metadata/Produce may create unknown topics |
//! | `delete.topic.enable` | `true` | DeleteTopics allowed |
//! | `log.retention.check.interval.ms` | `300000` | period of the retention pass |
//! | `log.cleaner.enable` | `true` | compact topics with `cleanup.policy=compact` |
//! | `log.cleaner.backoff.ms` | `15000` | the cleaner's sleep when nothing is dirty enough |
//! | `log.cleaner.dedupe.buffer.size` | `134217728` | memory of the cleaner's key map |
//! | `log.cleaner.threads` | `1` | cleaner threads (dynamic, as the next three) |
//! | `log.cleaner.io.max.bytes.per.second` | unlimited | the cleaner threads' read + write rate |
//! | `socket.request.max.bytes` | `104857600` | largest request frame accepted |
//! | `queued.max.request.bytes` | `-1` (0 or less: unbounded) | request bytes all connections may hold while reading or handling requests; a connection waits for room before it reads a request's body |
//! | `connections.max.idle.ms` | `600000` | a connection on which nothing was read or written this long is closed (between requests, mid-request, or not reading its responses); negative: never |
//! | `fetch.max.bytes` | `57671680` | cap on one Fetch response's record bytes |
//! | `log.*` topic defaults | Kafka 4.0's | see `log::config_defs::TOPIC_CONFIGS` |
//! | `group.min.session.timeout.ms` | `6000` | smallest session timeout a member may ask for |
//! | `group.max.session.timeout.ms` | `1800000` | largest session timeout a member may ask for |
//! | `group.initial.rebalance.delay.ms` | `0` | wait for more members before an empty group's first rebalance (see below) |
//! | `group.max.size` | `2147483647` | members per group (GROUP_MAX_SIZE_REACHED beyond) |
//! | `offsets.topic.num.partitions` | `50` | partitions of `__consumer_offsets` (fixed once created) |
//! | `offsets.topic.segment.bytes` | `104857600` | segment size of `__consumer_offsets` |
//! | `offsets.topic.replication.factor` | `1` alone, `3` in a cluster | replicas of each `__consumer_offsets` partition; a single broker has one; in a cluster, as Kafka, FindCoordinator answers COORDINATOR_NOT_AVAILABLE until that many brokers are registered |
//! | `offsets.commit.timeout.ms` | `5000` | in a cluster, how long a write to `__consumer_offsets` waits for the in-sync replicas (then COORDINATOR_NOT_AVAILABLE) |
//! | `offset.metadata.max.bytes` | `4096` | largest commit metadata (OFFSET_METADATA_TOO_LARGE) |
//! | `offsets.retention.minutes` | `10080` | how long an empty group's offsets are kept |
//! | `offsets.retention.check.interval.ms` | `600000` | period of the offset-expiration pass |
//! | `producer.id.expiration.ms` | `86400000` | idle idempotent producers are forgotten after this |
//! | `transaction.max.timeout.ms` | `900000` | largest `transaction.timeout.ms` (INVALID_TRANSACTION_TIMEOUT beyond) |
//! | `transaction.state.log.num.partitions` | `50` | partitions of `__transaction_state` (fixed once created) |
//! | `transaction.state.log.segment.bytes` | `104857600` | segment size of `__transaction_state` |
//! | `transaction.state.log.replication.factor` | `1` alone, `3` in a cluster | replicas of each `__transaction_state` partition, as `offsets.topic.replication.factor` |
//! | `transaction.state.log.min.isr` | `2` | `__transaction_state`'s `min.insync.replicas` in a cluster |
//! | `auto.leader.rebalance.enable` | `true` | in a cluster, the active controller restores preferred leaders |
//! | `leader.imbalance.check.interval.seconds` | `300` | how often it does |
//! | `transaction.abort.timed.out.transaction.cleanup.interval.ms` | `10000` | how often open transactions are checked against their timeout |
//! | `transactional.id.expiration.ms` | `604800000` | idle transactional ids are forgotten after this |
//! | `transaction.remove.expired.transaction.cleanup.interval.ms` | `3600000` | how often idle transactional ids are looked for |
//!
//! `group.initial.rebalance.delay.ms` defaults to 0, the value Kafka's own shipped
//! `config/server.properties` sets "for a better out-of-the-box experience for development
//! and testing" (Kafka's built-in default is 3000). brokk is mostly run for development and
//! tests, where a 3-second pause before every new group's first assignment is pure cost;
//! production-like setups can set 3000 to let a starting fleet join in one rebalance.

pub mod listeners;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::group::GroupConfig;
use crate::log::LogConfig;
use crate::log::cleaner::CleanerConfig;
use crate::log::config_defs::topic_key_of;
use crate::txn::TxnConfig;

/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "./brokk-data";
/// Default listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";

/// Where partition data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    Path(PathBuf),
    /// A temporary directory removed when the broker stops.
    Ephemeral,
}

/// The validated broker configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` to bind (port 0 picks a free port).
    pub listen: String,
    /// `host:port` advertised to clients; `None` = the bound address.
    pub advertised: Option<(String, u16)>,
    /// The name of the listener `listen` binds: the inter-broker listener
    /// (`inter.broker.listener.name`, PLAINTEXT by default).
    pub inter_broker_listener: String,
    /// The other client listeners of `listeners` (see `listeners.rs`).
    pub other_listeners: Vec<listeners::ClientListener>,
    pub data_dir: DataDir,
    /// The other directories of `log.dirs` (after the first, which is `data_dir`).
    pub extra_log_dirs: Vec<PathBuf>,
    /// Halt the process when the metadata log dir or every log dir fails, as Kafka does
    /// (the `brokk` binary sets it; an embedded broker keeps serving what it can).
    pub halt_on_log_dir_failure: bool,
    pub node_id: i32,
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub retention_check_interval_ms: u64,
    pub max_request_bytes: usize,
    /// `queued.max.request.bytes`: `None` (Kafka's -1) is unbounded.
    pub queued_max_request_bytes: Option<usize>,
    /// `connections.max.idle.ms` (`None`: a negative value, never).
    pub connections_max_idle_ms: Option<u64>,
    /// `fetch.max.bytes`: cap on a Fetch response's record bytes, whatever the client asks.
    pub fetch_max_bytes: usize,
    /// Topic defaults (`log.*` keys).
    pub log: LogConfig,
    /// Group coordinator settings (`group.*`, `offsets.*`).
    pub group: GroupConfig,
    /// Transaction coordinator settings (`transaction.*`, `transactional.id.*`).
    pub txn: TxnConfig,
    /// Log cleaner settings (`log.cleaner.*`).
    pub cleaner: CleanerConfig,
    /// Keys that were given but that brokk does not implement.
    pub unimplemented_keys: Vec<String>,
    /// Every key given in the file or as an override, as given (DescribeConfigs reports
    /// them as STATIC_BROKER_CONFIG).
    pub static_props: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            advertised: None,
            inter_broker_listener: listeners::DEFAULT_INTER_BROKER.to_string(),
            other_listeners: vec![],
            data_dir: DataDir::Path(PathBuf::from(DEFAULT_DATA_DIR)),
            extra_log_dirs: vec![],
            halt_on_log_dir_failure: false,
            node_id: 0,
            num_partitions: 1,
            auto_create_topics: true,
            delete_topic_enable: true,
            retention_check_interval_ms: 300_000,
            max_request_bytes: 104_857_600,
            queued_max_request_bytes: None,
            connections_max_idle_ms: Some(600_000),
            fetch_max_bytes: 57_671_680,
            log: LogConfig::default(),
            group: GroupConfig::default(),
            txn: TxnConfig::default(),
            cleaner: CleanerConfig::default(),
            unimplemented_keys: vec![],
            static_props: BTreeMap::new(),
        }
    }
}

/// `process.roles`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// A KRaft node's settings (see [`Config::kraft`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KraftSettings {
    pub roles: Roles,
    /// `controller.quorum.voters`: node id -> its CONTROLLER listener.
    pub voters: BTreeMap<i32, (String, u16)>,
    /// This node's CONTROLLER listener (the first of `controller.listener.names` in
    /// `listeners`), when it is a controller.
    pub controller_listener: Option<(String, u16)>,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    pub session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: how often a broker heartbeats to the controller.
    pub heartbeat_interval_ms: u64,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `default.replication.factor`: topics created without one.
    pub default_replication_factor: i32,
    /// `replica.lag.time.max.ms`: an in-sync follower not caught up this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `leader.imbalance.check.interval.seconds` (300), or `None` with
    /// `auto.leader.rebalance.enable=false`: how often the active controller restores
    /// preferred leaders.
    pub leader_balance: Option<std::time::Duration>,
}

impl KraftSettings {
    /// The cluster id every node of this quorum formats an empty data directory with: a
    /// name-based UUID (v5) of the voters, so nodes started with the same
    /// `controller.quorum.voters` agree without a `kafka-storage format -t` step. In
    /// Kafka's text form (URL-safe base64, no padding).
    pub fn cluster_id(&self) -> String {
        let voters: Vec<String> = self.voters.iter().map(|(id, (h, p))| format!("{id}@{h}:{p}")).collect();
        let u = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("brokk-kraft:{}", voters.join(",")).as_bytes(),
        );
        crate::log::manager::uuid_to_kafka_string(u)
    }
}

/// Splits `host:port` (IPv6 in brackets) and checks the port.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {s:?}"))?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port in {s:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_string(), port))
}

/// The listener names of a Kafka listener list.
fn listener_names(v: &str) -> impl Iterator<Item = &str> {
    v.split(',')
        .map(str::trim)
        .filter_map(|e| e.split_once("://").map(|(name, _)| name))
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("invalid value {v:?} for {key}: not a number"))
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("invalid value {v:?} for {key}: expected true or false")),
    }
}

impl Config {
    /// Applies a set of Kafka `server.properties` keys. Retention and roll keys follow
    /// Kafka's precedence (`ms` over `minutes` over `hours`).
    pub fn apply_properties(&mut self, props: &BTreeMap<String, String>) -> Result<(), String> {
        for (key, v) in props {
            self.static_props.insert(key.clone(), v.clone());
            match key.as_str() {
                // Resolved together below (they depend on each other and may come from
                // different sources); checked strictly by `validate()`.
                "listeners"
                | "advertised.listeners"
                | "inter.broker.listener.name"
                | "listener.security.protocol.map"
                | "controller.listener.names" => {}
                "log.dirs" | "log.dir" => {
                    let dirs: Vec<&str> = v.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
                    let Some((first, rest)) = dirs.split_first() else {
                        return Err(format!("{key} names no directory"));
                    };
                    let unique: std::collections::BTreeSet<_> = dirs.iter().collect();
                    if unique.len() != dirs.len() {
                        return Err(format!("{key} names a directory twice: {v:?}"));
                    }
                    self.data_dir = DataDir::Path(PathBuf::from(first));
                    self.extra_log_dirs = rest.iter().map(PathBuf::from).collect();
                }
                "node.id" | "broker.id" => self.node_id = parse_num(key, v)?,
                "num.partitions" => {
                    self.num_partitions = parse_num(key, v)?;
                    if self.num_partitions < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                // Checked by `kraft()`: above 1 only in a cluster.
                "default.replication.factor" => {
                    if parse_num::<i32>(key, v)? < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "transaction.state.log.replication.factor" => {
                    let rf = parse_num::<i32>(key, v)?;
                    if !(1..=i16::MAX as i32).contains(&rf) {
                        return Err(format!("{key} must be between 1 and 32767"));
                    }
                    self.txn.state_log_replication_factor = Some(rf);
                }
                "transaction.state.log.min.isr" => {
                    self.txn.state_log_min_isr = parse_num(key, v)?;
                    if self.txn.state_log_min_isr < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "offsets.topic.replication.factor" => {
                    let rf = parse_num::<i32>(key, v)?;
                    if !(1..=i16::MAX as i32).contains(&rf) {
                        return Err(format!("{key} must be between 1 and 32767"));
                    }
                    self.group.offsets_topic_replication_factor = Some(rf);
                }
                "offsets.commit.timeout.ms" => {
                    self.group.offsets_commit_timeout_ms = parse_num(key, v)?;
                    if self.group.offsets_commit_timeout_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "auto.create.topics.enable" => self.auto_create_topics = parse_bool(key, v)?,
                "delete.topic.enable" => self.delete_topic_enable = parse_bool(key, v)?,
                "log.retention.check.interval.ms" => {
                    self.retention_check_interval_ms = parse_num(key, v)?;
                    if self.retention_check_interval_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "socket.request.max.bytes" => self.max_request_bytes = parse_num(key, v)?,
                // As Kafka: a value of 0 or less is unbounded.
                "queued.max.request.bytes" => {
                    let n: i64 = parse_num(key, v)?;
                    self.queued_max_request_bytes = (n > 0).then_some(n as usize);
                }
                // As Kafka: a negative value never expires connections.
                "connections.max.idle.ms" => {
                    let n: i64 = parse_num(key, v)?;
                    self.connections_max_idle_ms = (n >= 0).then_some(n as u64);
                }
                "fetch.max.bytes" => {
                    self.fetch_max_bytes = parse_num(key, v)?;
                    if self.fetch_max_bytes < 1024 {
                        return Err(format!("{key} must be at least 1024"));
                    }
                }
                "group.min.session.timeout.ms" => self.group.limits.min_session_timeout_ms = parse_num(key, v)?,
                "group.max.session.timeout.ms" => self.group.limits.max_session_timeout_ms = parse_num(key, v)?,
                "group.initial.rebalance.delay.ms" => self.group.limits.initial_rebalance_delay_ms = parse_num(key, v)?,
                "group.max.size" => {
                    self.group.limits.max_size = parse_num(key, v)?;
                    if self.group.limits.max_size < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "offsets.topic.num.partitions" => {
                    self.group.offsets_topic_partitions = parse_num(key, v)?;
                    if !(1..=10_000).contains(&self.group.offsets_topic_partitions) {
                        return Err(format!("{key} must be between 1 and 10000"));
                    }
                }
                "offsets.topic.segment.bytes" => {
                    self.group.offsets_topic_segment_bytes = parse_num(key, v)?;
                    if self.group.offsets_topic_segment_bytes < 1 << 20 {
                        return Err(format!("{key} must be at least 1048576"));
                    }
                }
                "log.cleaner.enable" => self.cleaner.enable = parse_bool(key, v)?,
                "log.cleaner.backoff.ms" => {
                    self.cleaner.backoff_ms = parse_num(key, v)?;
                    if self.cleaner.backoff_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "log.cleaner.dedupe.buffer.size" => self.cleaner.dedupe_buffer_size = parse_num(key, v)?,
                "log.cleaner.threads" => {
                    // 0 (Kafka's "no cleaner threads") is refused rather than cleaning anyway.
                    self.cleaner.threads = parse_num(key, v)?;
                    if self.cleaner.threads < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "log.cleaner.io.max.bytes.per.second" => {
                    self.cleaner.io_max_bytes_per_second = parse_num(key, v)?;
                    if self.cleaner.io_max_bytes_per_second.is_nan() || self.cleaner.io_max_bytes_per_second <= 0.0 {
                        return Err(format!("{key} must be above 0"));
                    }
                }
                "producer.id.expiration.ms" => {
                    self.log.producer_id_expiration_ms = parse_num(key, v)?;
                    if self.log.producer_id_expiration_ms < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "offset.metadata.max.bytes" => self.group.offset_metadata_max_bytes = parse_num(key, v)?,
                "offsets.retention.minutes" => {
                    let m: i64 = parse_num(key, v)?;
                    if m < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                    self.group.offsets_retention_ms = m.saturating_mul(60_000);
                }
                "offsets.retention.check.interval.ms" => {
                    self.group.offsets_retention_check_interval_ms = parse_num(key, v)?;
                    if self.group.offsets_retention_check_interval_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "transaction.max.timeout.ms" => {
                    self.txn.max_timeout_ms = parse_num(key, v)?;
                    if self.txn.max_timeout_ms < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "transaction.state.log.num.partitions" => {
                    self.txn.state_log_partitions = parse_num(key, v)?;
                    if !(1..=10_000).contains(&self.txn.state_log_partitions) {
                        return Err(format!("{key} must be between 1 and 10000"));
                    }
                }
                "transaction.state.log.segment.bytes" => {
                    self.txn.state_log_segment_bytes = parse_num(key, v)?;
                    if self.txn.state_log_segment_bytes < 1 << 20 {
                        return Err(format!("{key} must be at least 1048576"));
                    }
                }
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    self.txn.abort_interval_ms = parse_num(key, v)?;
                    if self.txn.abort_interval_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "transactional.id.expiration.ms" => {
                    self.txn.id_expiration_ms = parse_num(key, v)?;
                    if self.txn.id_expiration_ms < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                    self.txn.remove_interval_ms = parse_num(key, v)?;
                    if self.txn.remove_interval_ms == 0 {
                        return Err(format!("{key} must be at least 1"));
                    }
                }
                "log.retention.minutes"
                | "log.retention.hours"
                | "log.roll.hours"
                | "log.roll.jitter.hours"
                | "log.flush.scheduler.interval.ms" => {}
                // Read together by `Config::kraft` (they depend on each other and on
                // `listeners`, which may come from different sources).
                "process.roles"
                | "controller.quorum.voters"
                | "controller.quorum.election.timeout.ms"
                | "broker.session.timeout.ms"
                | "broker.heartbeat.interval.ms"
                | "broker.rack"
                | "replica.lag.time.max.ms"
                | "auto.leader.rebalance.enable"
                | "leader.imbalance.check.interval.seconds" => {}
                _ => {
                    if let Some(topic_key) = topic_key_of(key) {
                        self.log.set(topic_key, v)?;
                    } else {
                        self.unimplemented_keys.push(key.clone());
                    }
                }
            }
        }
        let listener_keys = [
            "listeners",
            "advertised.listeners",
            "inter.broker.listener.name",
            "listener.security.protocol.map",
            "controller.listener.names",
        ];
        if listener_keys.iter().any(|k| props.contains_key(*k)) {
            let get = |k: &str| self.static_props.get(k).cloned();
            let r = listeners::resolve(&get, true, false)?;
            let named = props.contains_key("inter.broker.listener.name");
            if (named || props.contains_key("listeners"))
                && let Some((h, p)) = &r.bind
            {
                self.listen = format!("{h}:{p}");
            }
            if (named || props.contains_key("advertised.listeners"))
                && let Some(a) = r.advertised
            {
                self.advertised = Some(a);
            }
            self.inter_broker_listener = r.inter_broker;
            self.other_listeners = r.others;
        }
        // Kafka's precedence for the coarse retention/roll keys: only when `ms` is absent.
        let hours = |k: &str| props.get(k).map(|v| parse_num::<i64>(k, v)).transpose();
        if !props.contains_key("log.retention.ms") {
            if let Some(m) = hours("log.retention.minutes")? {
                self.log
                    .set("retention.ms", &(if m < 0 { -1 } else { m * 60_000 }).to_string())?;
            } else if let Some(h) = hours("log.retention.hours")? {
                self.log
                    .set("retention.ms", &(if h < 0 { -1 } else { h * 3_600_000 }).to_string())?;
            }
        }
        if !props.contains_key("log.roll.ms")
            && let Some(h) = hours("log.roll.hours")?
        {
            self.log.set("segment.ms", &(h * 3_600_000).to_string())?;
        }
        if !props.contains_key("log.roll.jitter.ms")
            && let Some(h) = hours("log.roll.jitter.hours")?
        {
            self.log.set("segment.jitter.ms", &(h * 3_600_000).to_string())?;
        }
        if !props.contains_key("log.flush.interval.ms")
            && let Some(ms) = hours("log.flush.scheduler.interval.ms")?
        {
            self.log.set("flush.ms", &ms.to_string())?;
        }
        Ok(())
    }

    /// Reads and applies a `server.properties` file.
    pub fn apply_file(&mut self, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let props = crate::log::checkpoint::parse_properties(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        self.apply_properties(&props)
    }

    /// Applies one `KEY=VALUE` override.
    pub fn apply_override(&mut self, kv: &str) -> Result<(), String> {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--override expects KEY=VALUE, got {kv:?}"))?;
        let mut m = BTreeMap::new();
        m.insert(k.trim().to_string(), v.trim().to_string());
        self.apply_properties(&m)
    }

    /// The KRaft settings (`process.roles`, `controller.quorum.voters`, the CONTROLLER
    /// listener), checked as Kafka's `KafkaConfig` checks them. `None` without
    /// `controller.quorum.voters`: brokk is then the single-node cluster it always was
    /// (with the broker role, or none; a controller alone needs its quorum).
    pub fn kraft(&self) -> Result<Option<KraftSettings>, String> {
        let get = |k: &str| self.static_props.get(k).map(|v| v.trim());
        let mut roles = Roles::default();
        if let Some(v) = get("process.roles") {
            for role in v.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let slot = match role {
                    "broker" => &mut roles.broker,
                    "controller" => &mut roles.controller,
                    other => {
                        return Err(format!(
                            "Unknown process role: {other} (must be 'broker', 'controller', or both)"
                        ));
                    }
                };
                if std::mem::replace(slot, true) {
                    return Err(format!("process.roles={v} lists {role} twice"));
                }
            }
        }
        let names: Vec<&str> = get("controller.listener.names")
            .map(|v| v.split(',').map(str::trim).filter(|n| !n.is_empty()).collect())
            .unwrap_or_default();
        let listeners = get("listeners").unwrap_or_default();
        let controller_alone = roles.controller && !roles.broker;
        if controller_alone {
            if listener_names(listeners).any(|n| !names.contains(&n)) {
                return Err("The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller".into());
            }
        } else if get("listeners").is_some() && listener_names(listeners).all(|n| names.contains(&n)) {
            return Err(format!(
                "There must be at least one advertised listener. Perhaps all listeners appear in controller.listener.names? (listeners={listeners})"
            ));
        }
        let replication = |key: &str| -> Result<i32, String> { get(key).map_or(Ok(1), |v| parse_num::<i32>(key, v)) };
        let Some(voters_v) = get("controller.quorum.voters").filter(|v| !v.is_empty()) else {
            if roles.broker && !roles.controller {
                return Err("process.roles=broker needs controller.quorum.voters (the quorum whose metadata it follows); controller.quorum.bootstrap.servers, KIP-853's dynamic quorum, is not implemented".into());
            }
            if controller_alone {
                return Err("process.roles=controller needs controller.quorum.voters (the quorum it belongs to); controller.quorum.bootstrap.servers, KIP-853's dynamic quorum, is not implemented".into());
            }
            for key in [
                "default.replication.factor",
                "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor",
            ] {
                if replication(key)? != 1 {
                    return Err(format!(
                        "{key}={}: a single broker (no controller.quorum.voters) has one replica of each partition, the replication factor must be 1",
                        get(key).unwrap_or_default()
                    ));
                }
            }
            return Ok(None);
        };
        if !roles.broker && !roles.controller {
            return Err("controller.quorum.voters is set but process.roles is not".into());
        }
        let mut voters = BTreeMap::new();
        for entry in voters_v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, addr) = entry
                .split_once('@')
                .ok_or_else(|| format!("controller.quorum.voters: expected ID@HOST:PORT, got {entry:?}"))?;
            let id: i32 = id
                .parse()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| format!("controller.quorum.voters: invalid node id in {entry:?}"))?;
            let hp = parse_host_port(addr).map_err(|e| format!("controller.quorum.voters: {e}"))?;
            if voters.insert(id, hp).is_some() {
                return Err(format!("controller.quorum.voters names node {id} twice"));
            }
        }
        if voters.is_empty() {
            return Err(format!("controller.quorum.voters={voters_v} names no voter"));
        }
        let mut controller_listener = None;
        if roles.controller {
            if names.is_empty() {
                return Err(
                    "controller.listener.names must contain at least one value when running the KRaft controller role"
                        .into(),
                );
            }
            for entry in get("listeners").unwrap_or_default().split(',').map(str::trim) {
                if let Some((name, addr)) = entry.split_once("://")
                    && name == names[0]
                {
                    controller_listener = Some(parse_host_port(addr).map_err(|e| format!("listeners: {e}"))?);
                }
            }
            if controller_listener.is_none() {
                return Err(format!(
                    "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role (no {} listener)",
                    names[0]
                ));
            }
            if !voters.contains_key(&self.node_id) {
                return Err(format!(
                    "If process.roles contains the 'controller' role, the node id {} must be included in the set of voters controller.quorum.voters={voters_v}",
                    self.node_id
                ));
            }
        } else {
            // A broker alone reaches the controllers through their listener name.
            if names.is_empty() {
                return Err(
                    "controller.listener.names must contain at least one value when running KRaft with just the broker role"
                        .into(),
                );
            }
            if listener_names(listeners).any(|n| names.contains(&n)) {
                return Err("controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role".into());
            }
            if voters.contains_key(&self.node_id) {
                return Err(format!(
                    "If process.roles contains just the 'broker' role, the node id {} must not be included in the set of voters controller.quorum.voters={voters_v}",
                    self.node_id
                ));
            }
        }
        let election_timeout_ms = match get("controller.quorum.election.timeout.ms") {
            Some(v) => parse_num::<u64>("controller.quorum.election.timeout.ms", v)?,
            None => 1000,
        };
        if election_timeout_ms == 0 {
            return Err("controller.quorum.election.timeout.ms must be at least 1".into());
        }
        let millis = |key: &str, default: u64| -> Result<u64, String> {
            let v = get(key).map_or(Ok(default), |v| parse_num::<u64>(key, v))?;
            if v == 0 {
                return Err(format!("{key} must be at least 1"));
            }
            Ok(v)
        };
        let session_timeout_ms = millis("broker.session.timeout.ms", 9000)?;
        let heartbeat_interval_ms = millis("broker.heartbeat.interval.ms", 2000)?;
        let replica_lag_time_max_ms = millis("replica.lag.time.max.ms", 30_000)?;
        let rebalance =
            get("auto.leader.rebalance.enable").map_or(Ok(true), |v| parse_bool("auto.leader.rebalance.enable", v))?;
        let leader_balance = match rebalance {
            false => None,
            true => Some(std::time::Duration::from_secs(millis(
                "leader.imbalance.check.interval.seconds",
                300,
            )?)),
        };
        Ok(Some(KraftSettings {
            default_replication_factor: replication("default.replication.factor")?,
            replica_lag_time_max_ms,
            leader_balance,
            roles,
            voters,
            controller_listener,
            election_timeout_ms,
            session_timeout_ms,
            heartbeat_interval_ms,
            rack: get("broker.rack").filter(|r| !r.is_empty()).map(str::to_string),
        }))
    }

    /// Checks cross-field consistency once everything is applied.
    pub fn validate(&self) -> Result<(), String> {
        parse_host_port(&self.listen).map_err(|e| format!("listen address: {e}"))?;
        let broker = self.kraft()?.is_none_or(|k| k.roles.broker);
        let get = |k: &str| self.static_props.get(k).cloned();
        listeners::resolve(&get, broker, true)?;
        if self.max_request_bytes < 1024 {
            return Err("socket.request.max.bytes must be at least 1024".into());
        }
        let l = &self.group.limits;
        if l.min_session_timeout_ms < 0 || l.min_session_timeout_ms > l.max_session_timeout_ms {
            return Err("group.min.session.timeout.ms must be between 0 and group.max.session.timeout.ms".into());
        }
        self.cleaner.check_dedupe_per_thread()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafka_server_properties() {
        let mut c = Config::default();
        c.apply_properties(&props(&[
            ("listeners", "PLAINTEXT://127.0.0.1:9999,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            ("log.dirs", "/tmp/x"),
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "2048"),
            ("num.partitions", "3"),
            ("process.roles", "broker,controller"),
        ]))
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9999");
        assert_eq!(c.data_dir, DataDir::Path("/tmp/x".into()));
        assert_eq!(c.log.retention_ms, 3_600_000);
        assert_eq!(c.log.segment_bytes, 2048);
        assert_eq!(c.num_partitions, 3);
        assert!(c.unimplemented_keys.is_empty(), "{:?}", c.unimplemented_keys);
        // No voters: the single-node cluster brokk always was.
        assert_eq!(c.kraft(), Ok(None));
    }

    #[test]
    fn kraft_keys_are_checked_as_kafka_checks_them() {
        let base = [
            ("listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"),
            ("controller.listener.names", "CONTROLLER"),
            ("process.roles", "broker,controller"),
            ("node.id", "2"),
            (
                "controller.quorum.voters",
                "1@127.0.0.1:19093,2@127.0.0.1:9093,3@[::1]:29093",
            ),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut c = Config::default();
            let mut all: Vec<(&str, &str)> = base.to_vec();
            all.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            all.extend_from_slice(extra);
            c.apply_properties(&props(&all))?;
            c.kraft()
        };
        let k = with(&[]).unwrap().unwrap();
        // Every node of the quorum derives the same cluster id; another quorum another one.
        assert_eq!(k.cluster_id(), with(&[("node.id", "1")]).unwrap().unwrap().cluster_id());
        assert_eq!(k.cluster_id().len(), 22, "Kafka's text form: {}", k.cluster_id());
        let other = with(&[("controller.quorum.voters", "1@127.0.0.1:1,2@127.0.0.1:9093")])
            .unwrap()
            .unwrap();
        assert_ne!(k.cluster_id(), other.cluster_id());
        assert_eq!(
            k.roles,
            Roles {
                broker: true,
                controller: true
            }
        );
        assert_eq!(k.voters[&3], ("::1".to_string(), 29093));
        assert_eq!(k.controller_listener, Some(("127.0.0.1".to_string(), 9093)));
        assert_eq!(k.election_timeout_ms, 1000);
        for (bad, why) in [
            (("process.roles", "broker,zookeeper"), "Unknown process role"),
            (("process.roles", "broker,broker"), "twice"),
            (("node.id", "7"), "must be included in the set of voters"),
            (("controller.quorum.voters", "1@127.0.0.1"), "HOST:PORT"),
            (("controller.quorum.voters", "x@127.0.0.1:1"), "invalid node id"),
            (("controller.listener.names", "OTHER"), "(no OTHER listener)"),
            (
                ("listeners", "PLAINTEXT://127.0.0.1:9092"),
                "appearing in the 'listeners'",
            ),
        ] {
            let e = with(&[bad]).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        // A broker alone: not a voter, no CONTROLLER listener, but its name.
        let broker = [
            ("process.roles", "broker"),
            ("node.id", "4"),
            ("listeners", "PLAINTEXT://127.0.0.1:9092"),
        ];
        let k = with(&broker).unwrap().unwrap();
        assert_eq!(
            (k.roles.broker, k.roles.controller, k.controller_listener),
            (true, false, None)
        );
        for (bad, why) in [
            (("node.id", "2"), "must not be included in the set of voters"),
            (
                ("controller.listener.names", ""),
                "at least one value when running KRaft with just the broker role",
            ),
            (
                ("listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"),
                "must not contain a value appearing in the 'listeners'",
            ),
        ] {
            let mut all = broker.to_vec();
            all.retain(|(k, _)| *k != bad.0);
            all.push(bad);
            let e = with(&all).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        // A controller alone: only CONTROLLER listeners.
        let controller = [
            ("process.roles", "controller"),
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
        ];
        let k = with(&controller).unwrap().unwrap();
        assert_eq!((k.roles.broker, k.roles.controller), (false, true));
        assert_eq!(k.controller_listener, Some(("127.0.0.1".to_string(), 9093)));
        let e = with(&[("process.roles", "controller")]).unwrap_err();
        assert!(e.contains("must only contain KRaft controller listeners"), "{e}");
        // Without the controller role, a list of controller listeners alone is refused.
        let mut c = Config::default();
        c.apply_properties(&props(&[
            ("controller.listener.names", "CONTROLLER"),
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
        ]))
        .unwrap();
        assert!(
            c.kraft()
                .unwrap_err()
                .contains("There must be at least one advertised listener")
        );
        // A controller alone needs its quorum.
        let mut c = Config::default();
        let mut alone = controller.to_vec();
        alone.push(("controller.listener.names", "CONTROLLER"));
        c.apply_properties(&props(&alone)).unwrap();
        assert!(c.kraft().unwrap_err().contains("needs controller.quorum.voters"));
        // So does a broker alone (Kafka's sample broker.properties names bootstrap servers).
        let mut c = Config::default();
        c.apply_properties(&props(&[
            ("process.roles", "broker"),
            ("controller.quorum.bootstrap.servers", "localhost:9093"),
        ]))
        .unwrap();
        assert!(
            c.kraft()
                .unwrap_err()
                .contains("process.roles=broker needs controller.quorum.voters")
        );
        let e = with(&[("controller.quorum.voters", " , ")]).unwrap_err();
        assert!(e.contains("names no voter"), "{e}");
    }

    #[test]
    fn retention_ms_wins_over_hours() {
        let mut c = Config::default();
        c.apply_properties(&props(&[("log.retention.hours", "1"), ("log.retention.ms", "5")]))
            .unwrap();
        assert_eq!(c.log.retention_ms, 5);
    }

    #[test]
    fn several_log_dirs_the_first_holds_the_metadata() {
        let mut c = Config::default();
        c.apply_properties(&props(&[("log.dirs", "/d/a, /d/b,/d/c")])).unwrap();
        assert_eq!(c.data_dir, DataDir::Path("/d/a".into()));
        assert_eq!(c.extra_log_dirs, vec![PathBuf::from("/d/b"), PathBuf::from("/d/c")]);
    }

    #[test]
    fn bad_values_are_errors() {
        for (k, v) in [
            ("num.partitions", "0"),
            ("listeners", "SSL:/:9093"),
            ("default.replication.factor", "0"),
            ("log.segment.bytes", "x"),
            ("log.dirs", "a,a"),
            ("log.dirs", " , "),
            ("auto.create.topics.enable", "yes"),
        ] {
            assert!(
                Config::default().apply_properties(&props(&[(k, v)])).is_err(),
                "{k}={v}"
            );
        }
    }
}
