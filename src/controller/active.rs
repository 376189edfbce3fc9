//! The active controller: the quorum leader's side of Kafka's controller APIs. Every
//! decision is taken under one lock, against the image as of the last committed record,
//! and its records are committed before the lock is released, so decisions are serial as
//! in Kafka's single-threaded `QuorumController`.
//!
//! Serves, on the CONTROLLER listener: BrokerRegistration (62) and BrokerHeartbeat (63).
//! A controller that does not lead answers NOT_CONTROLLER, and the broker tries the leader.
//! A background pass fences brokers whose session expired (Kafka's
//! `maybeFenceOneStaleBroker`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::sync::{Mutex, watch};

use super::brokers::{self, Sessions};
use super::quorum::node::{ProposeError, QuorumNode};
use crate::metadata::MetadataRecord;

/// BrokerRegistration's API key.
pub const BROKER_REGISTRATION: i16 = 62;
/// BrokerHeartbeat's API key.
pub const BROKER_HEARTBEAT: i16 = 63;

/// What the active controller needs to know.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    pub cluster_id: String,
    /// `broker.session.timeout.ms`.
    pub session_timeout: Duration,
}

/// The controller APIs of one controller node.
pub struct Controller {
    quorum: Arc<QuorumNode>,
    settings: ControllerSettings,
    /// The lock every decision holds; the sessions as this node, while it leads, saw them.
    state: Mutex<State>,
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
fn propose_error(e: &ProposeError) -> ResponseError {
    match e {
        ProposeError::NotLeader(_) => ResponseError::NotController,
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
        let mut image = self.quorum.image();
        let deadline = tokio::time::Instant::now() + self.settings.session_timeout;
        while self.quorum.applied_offset() < end {
            if tokio::time::timeout_at(deadline, image.changed()).await.is_err() {
                return false;
            }
        }
        true
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
            _ => None,
        }
    }

    /// BrokerRegistration: checks, then a RegisterBrokerRecord (fenced) whose epoch is the
    /// offset it is written at.
    pub async fn register(&self, req: BrokerRegistrationRequest) -> BrokerRegistrationResponse {
        let mut resp = BrokerRegistrationResponse::default().with_broker_epoch(-1);
        let Some(mut state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let now = Instant::now();
        let image = self.quorum.image().borrow().clone();
        // This node is the only proposer while it holds the lock: the record lands at the
        // log's end.
        let epoch = self.quorum.log_end_offset();
        match brokers::register(&image, &state.sessions, &self.settings.cluster_id, &req, epoch, now) {
            Err(r) => {
                tracing::warn!(broker = req.broker_id.0, error = ?r.error, message = %r.message, "refused a broker registration");
                resp.error_code = r.error.code();
            }
            Ok(record) => match self.quorum.propose(MetadataRecord::RegisterBroker(record)).await {
                Ok(offset) => {
                    state.sessions.touch(req.broker_id.0, now);
                    tracing::info!(broker = req.broker_id.0, epoch = offset, "registered a broker");
                    resp.broker_epoch = offset;
                }
                Err(e) => resp.error_code = propose_error(&e).code(),
            },
        }
        resp
    }

    /// BrokerHeartbeat: the broker's session is renewed and its state moves (see
    /// [`brokers::heartbeat`]).
    pub async fn heartbeat(&self, req: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse {
        let mut resp = BrokerHeartbeatResponse::default().with_is_fenced(true);
        let Some(mut state) = self.lead().await else {
            return resp.with_error_code(ResponseError::NotController.code());
        };
        let image = self.quorum.image().borrow().clone();
        let b = match brokers::registered(&image, req.broker_id.0, req.broker_epoch) {
            Ok(b) => b,
            Err(r) => return resp.with_error_code(r.error.code()),
        };
        state.sessions.touch(b.id, Instant::now());
        let beat = brokers::heartbeat(&image, b, &req);
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
    pub async fn run_fencing(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = (self.settings.session_timeout / 8).max(Duration::from_millis(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            self.fence_expired().await;
        }
    }

    async fn fence_expired(&self) {
        let Some(state) = self.lead().await else {
            return;
        };
        let image = self.quorum.image().borrow().clone();
        for id in state.sessions.expired(&image, Instant::now()) {
            let Some(b) = image.brokers.get(&id) else { continue };
            tracing::warn!(
                broker = id,
                timeout_ms = self.settings.session_timeout.as_millis() as u64,
                "fencing a broker whose session expired"
            );
            if let Err(e) = self.quorum.propose(brokers::fence(b)).await {
                tracing::warn!(broker = id, error = %e, "fencing failed");
                return;
            }
        }
    }
}
