//! The active controller: the quorum leader's side of Kafka's controller APIs. Every
//! decision is taken under one lock, against the image as of the last committed record,
//! and its records are committed before the lock is released, so decisions are serial as
//! in Kafka's single-threaded `QuorumController`.
//!
//! Serves, on the CONTROLLER listener: BrokerRegistration (62), BrokerHeartbeat (63),
//! CreateTopics (19) / DeleteTopics (20), which brokers forward, and AllocateProducerIds
//! (67), from which brokers take blocks of producer ids, AlterPartition (56), with
//! which partition leaders change their ISRs, and ElectLeaders (43), CreatePartitions
//! (37), IncrementalAlterConfigs (44) of topics, AlterPartitionReassignments (45) and
//! ListPartitionReassignments (46), which brokers forward.
//! A controller that does not lead answers NOT_CONTROLLER, and the broker tries the leader.
//! Background passes fence brokers whose session expired (Kafka's
//! `maybeFenceOneStaleBroker`), restore preferred leaders (`auto.leader.rebalance.enable`)
//! and elect leaders uncleanly where a topic allows it and has none (Kafka's
//! `maybeElectUncleanLeaders`, every five minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse, AlterPartitionRequest, AlterPartitionResponse, BrokerHeartbeatRequest,
    BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    ElectLeadersRequest, ElectLeadersResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName, UnregisterBrokerRequest,
    UnregisterBrokerResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::sync::{Mutex, watch};

use super::brokers::{self, Sessions};
use super::election;
use super::leaders;
use super::quorum::node::{ProposeError, QuorumNode};
use super::topics::{self, TopicDefaults};
use crate::metadata::MetadataRecord;

/// BrokerRegistration's API key.
pub const BROKER_REGISTRATION: i16 = 62;
/// BrokerHeartbeat's API key.
pub const BROKER_HEARTBEAT: i16 = 63;
/// CreateTopics' API key.
pub const CREATE_TOPICS: i16 = 19;
/// DeleteTopics' API key.
pub const DELETE_TOPICS: i16 = 20;
/// AllocateProducerIds' API key.
pub const ALLOCATE_PRODUCER_IDS: i16 = 67;
/// AlterPartition's API key.
pub const ALTER_PARTITION: i16 = 56;
/// ElectLeaders' API key (brokers forward it, at v2).
pub const ELECT_LEADERS: i16 = 43;
/// CreatePartitions' API key (brokers forward it, at v3).
pub const CREATE_PARTITIONS: i16 = 37;
/// IncrementalAlterConfigs' API key (brokers forward topic changes, SET and DELETE, at v1).
pub const INCREMENTAL_ALTER_CONFIGS: i16 = 44;
/// AlterPartitionReassignments' API key (brokers forward it, at v1).
pub const ALTER_PARTITION_REASSIGNMENTS: i16 = 45;
/// ListPartitionReassignments' API key (brokers forward it, at v0).
pub const LIST_PARTITION_REASSIGNMENTS: i16 = 46;
/// UnregisterBroker's API key (v0, forwarded by brokers).
pub const UNREGISTER_BROKER: i16 = 64;
/// How often the active controller looks for leaderless partitions to elect leaders for
/// uncleanly (Kafka's `uncleanLeaderElectionCheckIntervalMs`).
pub const UNCLEAN_CHECK_INTERVAL: Duration = Duration::from_secs(300);
/// Producer ids per block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK: i32 = 1000;

/// What the active controller needs to know.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    pub cluster_id: String,
    /// `broker.session.timeout.ms`.
    pub session_timeout: Duration,
    /// What topic creation defaults to.
    pub topics: TopicDefaults,
    /// `leader.imbalance.check.interval.seconds`, when `auto.leader.rebalance.enable`.
    pub leader_balance: Option<Duration>,
}

/// The controller APIs of one controller node.
pub struct Controller {
    quorum: Arc<QuorumNode>,
    settings: ControllerSettings,
    /// The lock every decision holds; the sessions as this node, while it leads, saw them.
    state: Mutex<State>,
    /// When each broker's last heartbeat arrived, before it waited for the lock: a
    /// heartbeat queued behind a slow commit (which holds the lock) still proves the
    /// broker alive, so the fencing pass does not fence it meanwhile.
    arrivals: std::sync::Mutex<std::collections::HashMap<i32, Instant>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("settings", &self.settings).finish()
    }
}

#[derive(Debug)]
struct State {
    sessions: Sessions,
    /// The quorum epoch in which this node last became active (sessions restart then).
    active_in: Option<u64>,
}

/// `m` at `version`.
pub fn encode(m: &impl Encodable, version: i16) -> Result<Vec<u8>, String> {
    let mut out = BytesMut::new();
    m.encode(&mut out, version).map_err(|e| e.to_string())?;
    Ok(out.to_vec())
}

/// A decision that did not commit: the answer's error.
/// UnregisterBroker's answer for a broker with no registration (Kafka's message).
pub fn not_registered(id: i32) -> UnregisterBrokerResponse {
    UnregisterBrokerResponse::default()
        .with_error_code(ResponseError::BrokerIdNotRegistered.code())
        .with_error_message(Some(StrBytes::from_string(format!(
            "Broker ID {id} is not currently registered"
        ))))
}

fn propose_error(e: &ProposeError) -> ResponseError {
    match e {
        ProposeError::NotLeader(_) => ResponseError::NotController,
        ProposeError::TimedOut => ResponseError::RequestTimedOut,
        ProposeError::Failed(_) => ResponseError::UnknownServerError,
    }
}

impl Controller {
    pub fn new(quorum: Arc<QuorumNode>, settings: ControllerSettings) -> Arc<Self> {
        let sessions = Sessions::new(settings.session_timeout);
        Arc::new(Self {
            quorum,
            settings,
            state: Mutex::new(State {
                sessions,
                active_in: None,
            }),
            arrivals: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Takes the lock as the active controller: `None` when this node does not lead. On
    /// the first decision of a new term, sessions restart (every registered broker gets a
    /// whole session) and a metadata transaction the previous leader left open is aborted.
    async fn lead(&self) -> Option<tokio::sync::MutexGuard<'_, State>> {
        let status = self.quorum.status();
        if !status.is_leader {
            return None;
        }
        let mut state = self.state.lock().await;
        if state.active_in != Some(status.epoch) {
            // The image must hold everything committed before this term: wait until the
            // term's first entry is applied.
            if !self.caught_up_as_leader().await {
                return None;
            }
            if let Err(e) = self.quorum.abort_dangling_transaction().await {
                tracing::warn!(error = %e, "aborting the open metadata transaction failed");
                return None;
            }
            if let Err(e) = self.bootstrap().await {
                tracing::warn!(error = %e, "writing the bootstrap metadata failed");
                return None;
            }
            state.sessions = Sessions::new(self.settings.session_timeout);
            state.active_in = Some(status.epoch);
            tracing::info!(epoch = status.epoch, "became the active controller");
        }
        let image = self.quorum.image().borrow().clone();
        state.sessions.touch_unknown(&image, Instant::now());
        Some(state)
    }

    /// The first active controller of a new cluster finalizes `metadata.version` (Kafka's
    /// bootstrap metadata, which `kafka-storage format` writes and the first activation
    /// commits): brokers register against it.
    async fn bootstrap(&self) -> Result<(), ProposeError> {
        if self.quorum.image().borrow().features.contains_key("metadata.version") {
            return Ok(());
        }
        let level = crate::metadata::records::FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: crate::api::api_versions::METADATA_VERSION,
        };
        tracing::info!(
            level = level.feature_level,
            "finalizing metadata.version for a new cluster"
        );
        self.quorum.propose(MetadataRecord::FeatureLevel(level)).await.map(drop)
    }

    /// Waits (bounded) until this leader has applied its log's end: everything committed
    /// by earlier leaders is then in the image.
    async fn caught_up_as_leader(&self) -> bool {
        let end = self.quorum.log_end_offset();
        self.quorum.await_applied(end, self.settings.session_timeout).await
    }

    /// Serves one controller API request: the encoded answer, or `None` for an API it
    /// does not serve (the connection is closed).
    pub async fn serve(&self, api_key: i16, version: i16, body: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let mut buf = bytes::Bytes::copy_from_slice(body);
        match api_key {
            BROKER_REGISTRATION => Some(match BrokerRegistrationRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.register(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            BROKER_HEARTBEAT => Some(match BrokerHeartbeatRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.heartbeat(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            CREATE_TOPICS => Some(match CreateTopicsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.create_topics(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            DELETE_TOPICS => Some(match DeleteTopicsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.delete_topics(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            ALLOCATE_PRODUCER_IDS => Some(match AllocateProducerIdsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.allocate_producer_ids(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            ALTER_PARTITION => Some(match AlterPartitionRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.alter_partition(req, version).await, version),
                Err(e) => Err(e.to_string()),
            }),
            INCREMENTAL_ALTER_CONFIGS => Some(match IncrementalAlterConfigsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.alter_configs(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            CREATE_PARTITIONS => Some(match CreatePartitionsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.create_partitions(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            ELECT_LEADERS => Some(match ElectLeadersRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.elect_leaders(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            ALTER_PARTITION_REASSIGNMENTS => {
                Some(match AlterPartitionReassignmentsRequest::decode(&mut buf, version) {
                    Ok(req) => encode(&self.alter_reassignments(req).await, version),
                    Err(e) => Err(e.to_string()),
                })
            }
            LIST_PARTITION_REASSIGNMENTS => Some(match ListPartitionReassignmentsRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.list_reassignments(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            UNREGISTER_BROKER => Some(match UnregisterBrokerRequest::decode(&mut buf, version) {
                Ok(req) => encode(&self.unregister_broker(req).await, version),
                Err(e) => Err(e.to_string()),
            }),
            _ => None,
        }
    }

    /// AllocateProducerIds: the next block of producer ids for a registered broker (Kafka's
    /// `ProducerIdControlManager`), committed as a ProducerIdsRecord before it is given.
    pub async fn allocate_producer_ids(&self, req: AllocateProducerIdsRequest) -> AllocateProducerIdsResponse {
        let mut resp =
            AllocateProducerIdsResponse::default().with_producer_id_start(kafka_protocol::messages::ProducerId(-1));
        let Some(_state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let image = self.quorum.image().borrow().clone();
        if let Err(r) = brokers::registered(&image, req.broker_id.0, req.broker_epoch) {
            return resp.with_error_code(r.error.code());
        }
        let start = image.next_producer_id.unwrap_or(0);
        let Some(next) = start.checked_add(PRODUCER_ID_BLOCK as i64) else {
            return resp.with_error_code(ResponseError::UnknownServerError.code());
        };
        let record = crate::metadata::records::ProducerIdsRecord {
            broker_id: req.broker_id.0,
            broker_epoch: req.broker_epoch,
            next_producer_id: next,
        };
        match self.quorum.propose(MetadataRecord::ProducerIds(record)).await {
            Ok(_) => {
                resp.producer_id_start = kafka_protocol::messages::ProducerId(start);
                resp.producer_id_len = PRODUCER_ID_BLOCK;
            }
            Err(e) => resp.error_code = propose_error(&e).code(),
        }
        resp
    }

    /// CreateTopics: each topic checked against the image (and the topics before it in
    /// the request); the records of all that pass are committed together, unless
    /// `validate_only`.
    pub async fn create_topics(&self, req: CreateTopicsRequest) -> CreateTopicsResponse {
        let mut resp = CreateTopicsResponse::default();
        let result = |name: &TopicName, error: ResponseError, message: Option<String>| {
            let mut r = CreatableTopicResult::default();
            r.name = name.clone();
            r.error_code = error.code();
            r.error_message = message.map(StrBytes::from_string);
            r.num_partitions = -1;
            r.replication_factor = -1;
            r
        };
        let Some(_state) = self.lead().await else {
            resp.topics = req
                .topics
                .iter()
                .map(|t| result(&t.name, ResponseError::NotController, None))
                .collect();
            return resp;
        };
        let mut image = (*self.quorum.image().borrow().clone()).clone();
        let mut records = vec![];
        let mut created = vec![];
        for t in &req.topics {
            match topics::create(&image, &self.settings.topics, t, fastrand::u64(..)) {
                Err(r) => resp.topics.push(result(&t.name, r.error, Some(r.message))),
                Ok(c) => {
                    for r in &c.records {
                        // Later topics of the request see this one (a name given twice).
                        let _ = image.apply(r.clone());
                    }
                    let mut r = result(&t.name, ResponseError::UnknownServerError, None);
                    r.error_code = 0;
                    r.topic_id = c.id;
                    r.num_partitions = c.partitions;
                    r.replication_factor = c.replication_factor as i16;
                    created.push(resp.topics.len());
                    resp.topics.push(r);
                    records.extend(c.records);
                }
            }
        }
        if req.validate_only || records.is_empty() {
            if req.validate_only {
                for i in created {
                    resp.topics[i].topic_id = uuid::Uuid::nil();
                }
            }
            return resp;
        }
        if let Err(e) = self.quorum.propose_all(records, "create topics").await {
            for i in created {
                let r = &mut resp.topics[i];
                r.error_code = propose_error(&e).code();
                r.error_message = Some(StrBytes::from_string(e.to_string()));
                r.topic_id = uuid::Uuid::nil();
            }
        } else {
            tracing::info!(topics = created.len(), "created topics");
        }
        resp
    }

    /// DeleteTopics (v6's topics, by name or id): RemoveTopicRecords for those that
    /// exist, committed together.
    pub async fn delete_topics(&self, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
        let mut resp = DeleteTopicsResponse::default();
        let Some(_state) = self.lead().await else {
            resp.responses = req
                .topics
                .iter()
                .map(|t| {
                    let mut r = DeletableTopicResult::default();
                    r.name = t.name.clone();
                    r.topic_id = t.topic_id;
                    r.error_code = ResponseError::NotController.code();
                    r
                })
                .collect();
            return resp;
        };
        let image = self.quorum.image().borrow().clone();
        let mut records = vec![];
        let mut deleted = vec![];
        for t in &req.topics {
            let mut r = DeletableTopicResult::default();
            r.name = t.name.clone();
            r.topic_id = t.topic_id;
            let id = if t.topic_id.is_nil() {
                t.name.as_ref().and_then(|n| image.topic_ids.get(n.0.as_str()).copied())
            } else {
                Some(t.topic_id)
            };
            match id.map(|id| (id, topics::delete(&image, id))) {
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some((_, Err(e))) => {
                    r.error_code = e.error.code();
                    r.error_message = Some(StrBytes::from_string(e.message));
                }
                Some((id, Ok(record))) => {
                    if let Some(topic) = image.topics.get(&id) {
                        r.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
                        r.topic_id = id;
                    }
                    if !records.contains(&record) {
                        records.push(record);
                    }
                    deleted.push(resp.responses.len());
                }
            }
            resp.responses.push(r);
        }
        if !records.is_empty()
            && let Err(e) = self.quorum.propose_all(records, "delete topics").await
        {
            for i in deleted {
                resp.responses[i].error_code = propose_error(&e).code();
            }
        }
        resp
    }

    /// BrokerRegistration: checks, then a RegisterBrokerRecord (fenced) whose epoch is the
    /// offset it is written at.
    pub async fn register(&self, req: BrokerRegistrationRequest) -> BrokerRegistrationResponse {
        let mut resp = BrokerRegistrationResponse::default().with_broker_epoch(-1);
        let Some(state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let now = Instant::now();
        let image = self.quorum.image().borrow().clone();
        // A new incarnation of a registered broker: the old one's leaderships and ISR
        // places go first (Kafka's `registerBroker` shutdown handling), in the same commit.
        let mut records = match image.brokers.get(&req.broker_id.0) {
            Some(old) if old.incarnation_id != req.incarnation_id => {
                election::without_broker(&image, old.id, &self.settings.topics.log)
            }
            _ => vec![],
        };
        // This node is the only proposer while it holds the lock: the records land at the
        // log's end, the registration last (after a BeginTransactionRecord when several).
        let n = records.len() as i64 + 1;
        let epoch = self.quorum.log_end_offset() + if n > 1 { n } else { 0 };
        match brokers::register(&image, &state.sessions, &self.settings.cluster_id, &req, epoch, now) {
            Err(r) => {
                tracing::warn!(broker = req.broker_id.0, error = ?r.error, message = %r.message, "refused a broker registration");
                resp.error_code = r.error.code();
            }
            Ok(record) => {
                records.push(MetadataRecord::RegisterBroker(record));
                match self.quorum.propose_all(records, "register a broker").await {
                    Ok(_) => {
                        tracing::info!(broker = req.broker_id.0, epoch, "registered a broker");
                        // The epoch the image holds (the record's).
                        resp.broker_epoch = epoch;
                    }
                    Err(e) => resp.error_code = propose_error(&e).code(),
                }
            }
        }
        resp
    }

    /// AlterPartition: a leader's ISR change (see [`super::isr`]).
    pub async fn alter_partition(&self, req: AlterPartitionRequest, version: i16) -> AlterPartitionResponse {
        let Some(_state) = self.lead().await else {
            return AlterPartitionResponse::default().with_error_code(ResponseError::NotController.code());
        };
        let image = self.quorum.image().borrow().clone();
        let (resp, records) = super::isr::alter_partition(&image, &req, version, &self.settings.topics.log);
        if records.is_empty() {
            return resp;
        }
        match self.quorum.propose_all(records, "change ISRs").await {
            Ok(_) => resp,
            Err(e) => AlterPartitionResponse::default().with_error_code(propose_error(&e).code()),
        }
    }

    /// BrokerHeartbeat: the broker's session is renewed and its state moves (see
    /// [`brokers::heartbeat`]).
    pub async fn heartbeat(&self, req: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse {
        let mut resp = BrokerHeartbeatResponse::default().with_is_fenced(true);
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(req.broker_id.0, Instant::now());
        let Some(mut state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let image = self.quorum.image().borrow().clone();
        let b = match brokers::registered(&image, req.broker_id.0, req.broker_epoch) {
            Ok(b) => b,
            Err(r) => return resp.with_error_code(r.error.code()),
        };
        state.sessions.touch(b.id, Instant::now());
        let beat = brokers::heartbeat(&image, b, &req, &self.settings.topics.log);
        if !beat.records.is_empty() {
            if let Err(e) = self.quorum.propose_all(beat.records, "broker heartbeat").await {
                return resp.with_error_code(propose_error(&e).code());
            }
            tracing::info!(
                broker = b.id,
                fenced = beat.is_fenced,
                shut_down = beat.should_shut_down,
                "broker state changed"
            );
        }
        resp.is_caught_up = beat.is_caught_up;
        resp.is_fenced = beat.is_fenced;
        resp.should_shut_down = beat.should_shut_down;
        resp
    }

    /// Fences, while this node leads, every broker whose session expired; runs until
    /// `shutdown`. Checks every eighth of a session, as Kafka.
    /// IncrementalAlterConfigs of topics (forwarded by a broker, v1, with SET and DELETE
    /// only): each resource checked against the image; the records of all that pass are
    /// committed together, unless `validate_only`.
    pub async fn alter_configs(&self, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
        use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
        let mut resp = IncrementalAlterConfigsResponse::default();
        let result = |r: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
                      e: Option<(ResponseError, String)>| {
            let mut out = AlterConfigsResourceResponse::default();
            out.resource_type = r.resource_type;
            out.resource_name = r.resource_name.clone();
            if let Some((e, msg)) = e {
                out.error_code = e.code();
                out.error_message = Some(StrBytes::from_string(msg));
            }
            out
        };
        let Some(_state) = self.lead().await else {
            resp.responses = req
                .resources
                .iter()
                .map(|r| {
                    let mut out = result(r, None);
                    out.error_code = ResponseError::NotController.code();
                    out
                })
                .collect();
            return resp;
        };
        let mut image = (*self.quorum.image().borrow().clone()).clone();
        let mut records = vec![];
        let mut changed = vec![];
        for r in &req.resources {
            let topic = r.resource_type == crate::metadata::image::TOPIC_RESOURCE;
            if !topic && r.resource_type != crate::metadata::image::BROKER_RESOURCE {
                resp.responses.push(result(
                    r,
                    Some((
                        ResponseError::InvalidRequest,
                        "only topic and broker configs are forwarded".into(),
                    )),
                ));
                continue;
            }
            let mut changes = vec![];
            let mut bad = None;
            for c in &r.configs {
                match c.config_operation {
                    0 => changes.push((c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))),
                    1 => changes.push((c.name.to_string(), None)),
                    op => bad = Some(op),
                }
            }
            if let Some(op) = bad {
                resp.responses.push(result(
                    r,
                    Some((
                        ResponseError::InvalidRequest,
                        format!("unexpected config operation {op}"),
                    )),
                ));
                continue;
            }
            let decided = if topic {
                super::configs::alter_topic(&image, &self.settings.topics.log, r.resource_name.as_str(), &changes)
            } else {
                super::configs::alter_broker(&image, r.resource_name.as_str(), &changes)
            };
            match decided {
                Ok(rs) => {
                    for rec in &rs {
                        // Later resources of the request see this one's change.
                        let _ = image.apply(rec.clone());
                    }
                    changed.push(resp.responses.len());
                    resp.responses.push(result(r, None));
                    records.extend(rs);
                }
                Err(e) => resp.responses.push(result(r, Some((e.error, e.message)))),
            }
        }
        if req.validate_only || records.is_empty() {
            return resp;
        }
        if let Err(e) = self.quorum.propose_all(records, "alter configs").await {
            for i in changed {
                resp.responses[i].error_code = propose_error(&e).code();
                resp.responses[i].error_message = Some(StrBytes::from_string(e.to_string()));
            }
        } else {
            tracing::info!(resources = changed.len(), "changed configs");
        }
        resp
    }

    /// CreatePartitions (forwarded by a broker, v3, duplicate names already answered):
    /// each topic checked against the image; the records of all that pass are committed
    /// together, unless `validate_only`.
    pub async fn create_partitions(&self, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
        use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
        let mut resp = CreatePartitionsResponse::default();
        let result = |name: &TopicName, error: Option<(ResponseError, String)>| {
            let mut r = CreatePartitionsTopicResult::default();
            r.name = name.clone();
            if let Some((e, msg)) = error {
                r.error_code = e.code();
                r.error_message = (!msg.is_empty()).then(|| StrBytes::from_string(msg));
            }
            r
        };
        let Some(_state) = self.lead().await else {
            resp.results = req
                .topics
                .iter()
                .map(|t| result(&t.name, Some((ResponseError::NotController, String::new()))))
                .collect();
            return resp;
        };
        let image = self.quorum.image().borrow().clone();
        let mut records = vec![];
        let mut grown = vec![];
        for t in &req.topics {
            match super::partitions::grow(&image, t, fastrand::u64(..)) {
                Ok(rs) => {
                    grown.push(resp.results.len());
                    resp.results.push(result(&t.name, None));
                    records.extend(rs);
                }
                Err(r) => resp.results.push(result(&t.name, Some((r.error, r.message)))),
            }
        }
        if req.validate_only || records.is_empty() {
            return resp;
        }
        if let Err(e) = self.quorum.propose_all(records, "create partitions").await {
            for i in grown {
                resp.results[i].error_code = propose_error(&e).code();
                resp.results[i].error_message = Some(StrBytes::from_string(e.to_string()));
            }
        } else {
            tracing::info!(topics = grown.len(), "added partitions");
        }
        resp
    }

    /// ElectLeaders (forwarded by a broker, v2): preferred or unclean elections of the
    /// partitions asked for, or of every partition (`topic_partitions` null; then, as
    /// Kafka, the partitions that need none are left out of the answer). The changes are
    /// committed together.
    pub async fn elect_leaders(&self, req: ElectLeadersRequest) -> ElectLeadersResponse {
        use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
        let mut resp = ElectLeadersResponse::default();
        let Some(election) = leaders::Election::from_wire(req.election_type) else {
            resp.error_code = ResponseError::InvalidRequest.code();
            return resp;
        };
        let Some(_state) = self.lead().await else {
            resp.error_code = ResponseError::NotController.code();
            return resp;
        };
        let image = self.quorum.image().borrow().clone();
        let result = |partition: i32, e: Option<(ResponseError, String)>| {
            let mut r = PartitionResult::default();
            r.partition_id = partition;
            if let Some((e, msg)) = e {
                r.error_code = e.code();
                r.error_message = Some(StrBytes::from_string(msg));
            }
            r
        };
        let all = req.topic_partitions.is_none();
        let wanted: Vec<(String, Vec<i32>)> = match req.topic_partitions {
            None => image
                .topics
                .values()
                .map(|t| (t.name.clone(), t.partitions.keys().copied().collect()))
                .collect(),
            Some(tps) => tps
                .into_iter()
                .map(|tp| (tp.topic.0.to_string(), tp.partitions))
                .collect(),
        };
        let mut records = vec![];
        let mut elected = vec![];
        for (name, partitions) in wanted {
            let mut tr = ReplicaElectionResult::default();
            tr.topic = TopicName(StrBytes::from_string(name.clone()));
            let topic = image.topic(&name);
            for p in partitions {
                let outcome = match topic {
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("No such topic as {name}"),
                    )),
                    Some(t) => match t.partitions.get(&p) {
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("No such partition as {name}-{p}"),
                        )),
                        Some(reg) => {
                            leaders::elect(&image, t.id, p, reg, election).map_err(|(e, msg)| (e, msg.to_string()))
                        }
                    },
                };
                match outcome {
                    Ok(change) => {
                        records.push(MetadataRecord::PartitionChange(change));
                        elected.push((resp.replica_election_results.len(), tr.partition_result.len()));
                        tr.partition_result.push(result(p, None));
                    }
                    Err((ResponseError::ElectionNotNeeded, _)) if all => {}
                    Err(e) => tr.partition_result.push(result(p, Some(e))),
                }
            }
            resp.replica_election_results.push(tr);
        }
        if !records.is_empty() {
            let n = records.len();
            match self.quorum.propose_all(records, "elect leaders").await {
                Ok(_) => tracing::info!(partitions = n, ?election, "elected leaders"),
                Err(e) => {
                    for (t, p) in elected {
                        let r = &mut resp.replica_election_results[t].partition_result[p];
                        r.error_code = propose_error(&e).code();
                        r.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                }
            }
        }
        resp
    }

    /// UnregisterBroker (forwarded by a broker, v0), as Kafka's
    /// `ReplicationControlManager.unregisterBroker`: the broker leaves every ISR, its
    /// leaderships move (as when it is fenced; it stays in the replica lists until they
    /// are reassigned), and its registration is removed (UnregisterBrokerRecord), all
    /// committed together. BROKER_ID_NOT_REGISTERED for a broker with no registration; a
    /// running broker is unregistered too (it stays out until it registers again at its
    /// next start), as in Kafka.
    pub async fn unregister_broker(&self, req: UnregisterBrokerRequest) -> UnregisterBrokerResponse {
        let mut resp = UnregisterBrokerResponse::default();
        let Some(_state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let image = self.quorum.image().borrow().clone();
        let id = req.broker_id.0;
        let Some(b) = image.brokers.get(&id) else {
            return not_registered(id);
        };
        let mut records = election::without_broker(&image, id, &self.settings.topics.log);
        records.push(MetadataRecord::UnregisterBroker(
            crate::metadata::records::UnregisterBrokerRecord {
                broker_id: id,
                broker_epoch: b.epoch,
            },
        ));
        match self.quorum.propose_all(records, "unregister a broker").await {
            Ok(_) => tracing::info!(broker = id, "unregistered a broker"),
            Err(e) => resp.error_code = propose_error(&e).code(),
        }
        resp
    }

    /// AlterPartitionReassignments (forwarded by a broker, v1): each partition's change
    /// decided by `reassign.rs` against the image before the request (as Kafka's); the
    /// changes are committed together or not at all (Kafka's `atomicOf`).
    pub async fn alter_reassignments(
        &self,
        req: AlterPartitionReassignmentsRequest,
    ) -> AlterPartitionReassignmentsResponse {
        use kafka_protocol::messages::alter_partition_reassignments_response::{
            ReassignablePartitionResponse, ReassignableTopicResponse,
        };
        let mut resp = AlterPartitionReassignmentsResponse::default();
        resp.error_message = None;
        resp.allow_replication_factor_change = req.allow_replication_factor_change;
        let Some(_state) = self.lead().await else {
            resp.error_code = ResponseError::NotController.code();
            return resp;
        };
        let image = self.quorum.image().borrow().clone();
        let mut records = vec![];
        let mut changed = vec![];
        for t in &req.topics {
            let mut tr = ReassignableTopicResponse::default();
            tr.name = t.name.clone();
            let name = t.name.0.as_str();
            for p in &t.partitions {
                let mut r = ReassignablePartitionResponse::default();
                r.partition_index = p.partition_index;
                r.error_message = None;
                let unclean = super::configs::unclean_enabled(&image, &self.settings.topics.log, name);
                let outcome = super::reassign::alter(
                    &image,
                    name,
                    p.partition_index,
                    p.replicas.as_deref(),
                    req.allow_replication_factor_change,
                    unclean,
                );
                match outcome {
                    Ok(change) => {
                        if let Some(c) = change {
                            records.push(MetadataRecord::PartitionChange(c));
                        }
                        changed.push((resp.responses.len(), tr.partitions.len()));
                    }
                    Err(e) => {
                        tracing::info!(topic = name, partition = p.partition_index, error = ?e.error, message = %e.message, "refused a partition reassignment");
                        r.error_code = e.error.code();
                        r.error_message = (!e.message.is_empty()).then(|| StrBytes::from_string(e.message));
                    }
                }
                tr.partitions.push(r);
            }
            resp.responses.push(tr);
        }
        if !records.is_empty() {
            let n = records.len();
            match self.quorum.propose_all(records, "reassign partitions").await {
                Ok(_) => tracing::info!(partitions = n, "altered partition reassignments"),
                Err(e) => {
                    for (t, p) in changed {
                        let r = &mut resp.responses[t].partitions[p];
                        r.error_code = propose_error(&e).code();
                        r.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                }
            }
        }
        resp
    }

    /// ListPartitionReassignments (forwarded by a broker): the ongoing reassignments among
    /// the partitions asked for, or all (see [`super::reassign::list`]).
    pub async fn list_reassignments(
        &self,
        req: ListPartitionReassignmentsRequest,
    ) -> ListPartitionReassignmentsResponse {
        let mut resp = ListPartitionReassignmentsResponse::default();
        resp.error_message = None;
        if self.lead().await.is_none() {
            resp.error_code = ResponseError::NotController.code();
            return resp;
        }
        let image = self.quorum.image().borrow().clone();
        let wanted = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        resp.topics = super::reassign::list(&image, wanted);
        resp
    }

    /// Kafka's `maybeElectUncleanLeaders`: every [`UNCLEAN_CHECK_INTERVAL`], while this
    /// node is the active controller, the leaderless partitions of topics that allow
    /// unclean elections get a leader (any replica that may lead).
    pub async fn run_unclean_elections(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(UNCLEAN_CHECK_INTERVAL) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = self.elect_unclean_leaders() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn elect_unclean_leaders(&self) {
        let Some(_state) = self.lead().await else {
            return;
        };
        let image = self.quorum.image().borrow().clone();
        let defaults = &self.settings.topics.log;
        let records = super::election::leaderless(&image, defaults, |t| {
            super::configs::unclean_enabled(&image, defaults, t)
        });
        if records.is_empty() {
            return;
        }
        let n = records.len();
        match self.quorum.propose_all(records, "unclean leader elections").await {
            Ok(_) => tracing::error!(partitions = n, "elected leaders uncleanly for offline partitions"),
            Err(e) => tracing::warn!(error = %e, "unclean leader elections failed"),
        }
    }

    /// The automatic leader rebalance (`auto.leader.rebalance.enable`): every
    /// `leader.imbalance.check.interval.seconds`, while this node is the active controller,
    /// the preferred replicas that may lead lead again.
    pub async fn run_leader_balance(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(period) = self.settings.leader_balance else {
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = self.balance_leaders() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn balance_leaders(&self) {
        let Some(_state) = self.lead().await else {
            return;
        };
        let records = leaders::rebalance(&self.quorum.image().borrow());
        if records.is_empty() {
            return;
        }
        let n = records.len();
        match self.quorum.propose_all(records, "rebalance leaders").await {
            Ok(_) => tracing::info!(partitions = n, "preferred leaders restored"),
            Err(e) => tracing::warn!(error = %e, "restoring preferred leaders failed"),
        }
    }

    pub async fn run_fencing(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = (self.settings.session_timeout / 8).max(Duration::from_millis(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            tokio::select! {
                _ = self.fence_expired() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn fence_expired(&self) {
        let Some(state) = self.lead().await else {
            return;
        };
        let now = Instant::now();
        let expired: Vec<i32> = {
            let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
            state
                .sessions
                .expired(&self.quorum.image().borrow(), now)
                .into_iter()
                .filter(|id| {
                    arrivals
                        .get(id)
                        .is_none_or(|t| now.duration_since(*t) >= self.settings.session_timeout)
                })
                .collect()
        };
        for id in expired {
            // Each fence sees the ones before it (ISRs and leaders already moved).
            let image = self.quorum.image().borrow().clone();
            let Some(b) = image.brokers.get(&id).filter(|b| !b.fenced) else {
                continue;
            };
            tracing::warn!(
                broker = id,
                timeout_ms = self.settings.session_timeout.as_millis() as u64,
                "fencing a broker whose session expired"
            );
            if let Err(e) = self
                .quorum
                .propose_all(
                    brokers::fence_all(&image, b, &self.settings.topics.log),
                    "fence a broker",
                )
                .await
            {
                tracing::warn!(broker = id, error = %e, "fencing failed");
                return;
            }
        }
    }
}
