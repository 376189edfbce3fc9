//! The broker's side of registration and heartbeats (Kafka's `BrokerLifecycleManager`):
//! it registers with the active controller, heartbeats every
//! `broker.heartbeat.interval.ms` with the metadata offset it has applied (the controller
//! unfences it once that covers its registration), and on a controlled shutdown asks to
//! shut down until the controller allows it. As Kafka's, a refused heartbeat is retried,
//! never answered by registering again.
//!
//! The requests are Kafka's BrokerRegistration and BrokerHeartbeat, sent to the quorum
//! leader's CONTROLLER listener; an answer of NOT_CONTROLLER (or no answer) sends the next
//! try to whichever node leads then.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest, BrokerRegistrationResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::sync::watch;
use uuid::Uuid;

use super::active::{BROKER_HEARTBEAT, BROKER_REGISTRATION, encode};
use super::channel::ControllerChannel;
use super::quorum::member::QuorumMember;

/// The versions sent (Kafka 4's newest).
const REGISTRATION_VERSION: i16 = 4;
const HEARTBEAT_VERSION: i16 = 1;
/// How long a registration may take before the next try.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between tries while no controller answers.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// What the broker registers.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub node_id: i32,
    pub cluster_id: String,
    /// The broker's listeners as clients reach them: (name, host, port, security protocol).
    pub listeners: Vec<(String, String, u16, i16)>,
    pub rack: Option<String>,
    /// Supported features: (name, min, max).
    pub features: Vec<(String, i16, i16)>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `broker.session.timeout.ms`: a heartbeat that has no answer within a third of it is
    /// given up and sent again (to whichever controller leads then), so that a heartbeat
    /// stuck on a controller cut off from the network never outlives the session the new
    /// active controller gave this broker.
    pub session_timeout: Duration,
}

/// This broker's registration with the controller.
pub struct BrokerLifecycle {
    quorum: QuorumMember,
    settings: LifecycleSettings,
    /// A new one per process start, as Kafka's.
    incarnation_id: Uuid,
    /// The epoch of the current registration (-1: none).
    epoch: AtomicI64,
    /// A controlled shutdown was asked for.
    shutting_down: AtomicBool,
    /// The controller has unfenced this broker once since it started: its metadata image
    /// then holds everything up to its registration (everything before this start).
    caught_up: watch::Sender<bool>,
    /// (fenced, may shut down) as the controller last answered.
    state: watch::Sender<(bool, bool)>,
    channel: ControllerChannel,
}

impl std::fmt::Debug for BrokerLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLifecycle")
            .field("node_id", &self.settings.node_id)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl BrokerLifecycle {
    pub fn new(quorum: QuorumMember, settings: LifecycleSettings) -> Arc<Self> {
        let channel = ControllerChannel::new(quorum.clone(), format!("brokk-broker-{}", settings.node_id));
        Arc::new(Self {
            quorum: quorum.clone(),
            settings,
            incarnation_id: Uuid::new_v4(),
            epoch: AtomicI64::new(-1),
            shutting_down: AtomicBool::new(false),
            caught_up: watch::channel(false).0,
            state: watch::channel((true, false)).0,
            channel,
        })
    }

    /// `node.id`.
    pub fn node_id(&self) -> i32 {
        self.settings.node_id
    }

    /// `broker.rack`.
    pub fn rack(&self) -> Option<&str> {
        self.settings.rack.as_deref()
    }

    /// The current registration's broker epoch (-1 before the first).
    pub fn broker_epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Waits (at most `timeout`) until the controller has unfenced this broker once since
    /// it started; whether it has. Changes this broker decides against its image (config
    /// alterations) wait for it, so that a broker just restarted does not decide against
    /// the metadata it is still replaying.
    pub async fn await_caught_up(&self, timeout: Duration) -> bool {
        let mut c = self.caught_up.subscribe();
        matches!(tokio::time::timeout(timeout, c.wait_for(|c| *c)).await, Ok(Ok(_)))
    }

    /// Follows (fenced, may shut down) as the controller answers.
    pub fn state(&self) -> watch::Receiver<(bool, bool)> {
        self.state.subscribe()
    }

    /// Registers and heartbeats until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let pause = match self.communicate().await {
                Ok(()) if self.shutting_down.load(Ordering::Acquire) => RETRY_BACKOFF,
                // Right after a registration, the first heartbeat goes at once.
                Ok(()) if self.state.borrow().0 && self.broker_epoch() >= 0 => RETRY_BACKOFF,
                Ok(()) => self.settings.heartbeat_interval,
                Err(e) => {
                    tracing::debug!(error = %e, "no answer from the controller");
                    RETRY_BACKOFF
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Asks the controller for a controlled shutdown and waits until it allows it (or
    /// `timeout`): leaderships move away before the broker stops.
    pub async fn controlled_shutdown(&self, timeout: Duration) -> bool {
        self.shutting_down.store(true, Ordering::Release);
        let mut state = self.state.subscribe();
        let allowed = tokio::time::timeout(timeout, state.wait_for(|(_, may)| *may)).await;
        matches!(allowed, Ok(Ok(_)))
    }

    /// One registration or heartbeat.
    async fn communicate(&self) -> Result<(), String> {
        if self.broker_epoch() < 0 {
            let resp: BrokerRegistrationResponse = self
                .exchange(
                    BROKER_REGISTRATION,
                    REGISTRATION_VERSION,
                    &encode(&self.registration(), REGISTRATION_VERSION)?,
                )
                .await?;
            match ResponseError::try_from_code(resp.error_code) {
                None => {
                    tracing::info!(broker_epoch = resp.broker_epoch, "registered with the controller");
                    self.epoch.store(resp.broker_epoch, Ordering::Release);
                    Ok(())
                }
                Some(e) => {
                    self.forget_controller_if(e).await;
                    Err(format!("registration refused: {e:?}"))
                }
            }
        } else {
            let req = BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(self.settings.node_id))
                .with_broker_epoch(self.broker_epoch())
                .with_current_metadata_offset(self.quorum.applied_offset() - 1)
                .with_want_fence(false)
                .with_want_shut_down(self.shutting_down.load(Ordering::Acquire));
            let timeout = (self.settings.session_timeout / 3).max(self.settings.heartbeat_interval);
            let resp: BrokerHeartbeatResponse = self
                .channel
                .exchange(
                    BROKER_HEARTBEAT,
                    HEARTBEAT_VERSION,
                    &encode(&req, HEARTBEAT_VERSION)?,
                    timeout.min(EXCHANGE_TIMEOUT),
                )
                .await?;
            match ResponseError::try_from_code(resp.error_code) {
                None => {
                    let next = (resp.is_fenced, resp.should_shut_down);
                    if *self.state.borrow() != next {
                        tracing::info!(
                            fenced = next.0,
                            may_shut_down = next.1,
                            "the controller changed this broker's state"
                        );
                    }
                    self.state.send_replace(next);
                    if !next.0 {
                        self.caught_up.send_if_modified(|c| !std::mem::replace(c, true));
                    }
                    Ok(())
                }
                Some(e) => {
                    self.forget_controller_if(e).await;
                    Err(format!("heartbeat refused: {e:?}"))
                }
            }
        }
    }

    fn registration(&self) -> BrokerRegistrationRequest {
        let s = &self.settings;
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(s.node_id))
            .with_cluster_id(StrBytes::from_string(s.cluster_id.clone()))
            .with_incarnation_id(self.incarnation_id)
            .with_listeners(
                s.listeners
                    .iter()
                    .map(|(name, host, port, protocol)| {
                        Listener::default()
                            .with_name(StrBytes::from_string(name.clone()))
                            .with_host(StrBytes::from_string(host.clone()))
                            .with_port(*port)
                            .with_security_protocol(*protocol)
                    })
                    .collect(),
            )
            .with_features(
                s.features
                    .iter()
                    .map(|(name, min, max)| {
                        Feature::default()
                            .with_name(StrBytes::from_string(name.clone()))
                            .with_min_supported_version(*min)
                            .with_max_supported_version(*max)
                    })
                    .collect(),
            )
            .with_rack(s.rack.clone().map(StrBytes::from_string))
            .with_previous_broker_epoch(-1)
    }

    async fn forget_controller_if(&self, e: ResponseError) {
        if e == ResponseError::NotController {
            self.channel.forget().await;
        }
    }

    async fn exchange<R: Decodable>(&self, key: i16, version: i16, body: &[u8]) -> Result<R, String> {
        self.channel.exchange(key, version, body, EXCHANGE_TIMEOUT).await
    }
}
