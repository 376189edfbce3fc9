//! Broker registration, heartbeats and fencing: what Kafka's `ClusterControlManager` and
//! `BrokerHeartbeatManager` decide, as pure functions of the metadata image, the request
//! and the active controller's record of when it last heard from each broker.
//!
//! A broker registers (BrokerRegistration) and is fenced until a heartbeat shows it has
//! applied the metadata log up to its own registration; then it is unfenced and clients
//! see it. It is fenced again when it asks to be, when it finishes a controlled shutdown,
//! or when the active controller has not heard from it for `broker.session.timeout.ms`.
//!
//! Owns: the decisions and the records they write. Must not propose anything (that is
//! `active.rs`, which serialises decisions) nor touch partitions' logs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerRegistrationRequest};

use super::election;
use crate::log::LogConfig;
use crate::metadata::MetadataImage;
use crate::metadata::image::BrokerRegistration;
use crate::metadata::records::{
    BrokerRegistrationChangeRecord, Endpoint, FENCE, FeatureRange, MetadataRecord, RegisterBrokerRecord, UNFENCE,
};

/// A refused request: Kafka's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: ResponseError,
    pub message: String,
}

fn refuse(error: ResponseError, message: impl Into<String>) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

/// When the active controller last heard from each broker (Kafka's
/// `BrokerHeartbeatManager`). Empty when a controller becomes active: every unfenced
/// broker then gets a whole session from its first look ([`Self::touch_unknown`]); a
/// fenced one has none until it heartbeats (so a new incarnation may register at once).
#[derive(Debug)]
pub struct Sessions {
    timeout: Duration,
    last_contact: HashMap<i32, Instant>,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            last_contact: HashMap::new(),
        }
    }

    /// Records contact from `broker` at `now`.
    pub fn touch(&mut self, broker: i32, now: Instant) {
        self.last_contact.insert(broker, now);
    }

    /// Starts a session at `now` for every unfenced broker not tracked yet, and forgets
    /// brokers no longer registered.
    pub fn touch_unknown(&mut self, image: &MetadataImage, now: Instant) {
        self.last_contact.retain(|id, _| image.brokers.contains_key(id));
        for b in image.brokers.values().filter(|b| !b.fenced) {
            self.last_contact.entry(b.id).or_insert(now);
        }
    }

    /// The broker's session is live at `now`.
    pub fn is_active(&self, broker: i32, now: Instant) -> bool {
        self.last_contact
            .get(&broker)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.timeout)
    }

    /// Unfenced brokers whose session expired at `now`, lowest id first.
    pub fn expired(&self, image: &MetadataImage, now: Instant) -> Vec<i32> {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced && !self.is_active(b.id, now))
            .map(|b| b.id)
            .collect()
    }
}

/// The feature every registration must name.
const METADATA_VERSION: &str = "metadata.version";

fn unsupported(name: &str, level: i16, min: i16, max: i16) -> Refusal {
    refuse(
        ResponseError::UnsupportedVersion,
        format!(
            "Unable to register because the broker does not support finalized version {level} of {name}. The broker wants a version between {min} and {max}, inclusive."
        ),
    )
}

/// What a registration writes: a RegisterBrokerRecord with epoch `epoch`, fenced, as
/// Kafka's `ClusterControlManager.registerBroker`, after its checks.
pub fn register(
    image: &MetadataImage,
    sessions: &Sessions,
    cluster_id: &str,
    req: &BrokerRegistrationRequest,
    epoch: i64,
    now: Instant,
) -> Result<RegisterBrokerRecord, Refusal> {
    let id = req.broker_id.0;
    if req.cluster_id.as_str() != cluster_id {
        return Err(refuse(
            ResponseError::InconsistentClusterId,
            format!(
                "Expected cluster ID {cluster_id}, but got cluster ID {}",
                req.cluster_id.as_str()
            ),
        ));
    }
    if let Some(existing) = image.brokers.get(&id)
        && existing.incarnation_id != req.incarnation_id
        && sessions.is_active(id, now)
    {
        return Err(refuse(
            ResponseError::DuplicateBrokerRegistration,
            "Another broker is registered with that broker id. If the broker was recently restarted this should self-resolve once the heartbeat manager expires the broker's session.",
        ));
    }
    if !req.features.iter().any(|f| f.name.as_str() == METADATA_VERSION) {
        return Err(refuse(
            ResponseError::InvalidRegistration,
            "Request features do not contain 'metadata.version'",
        ));
    }
    for f in &req.features {
        let level = image.features.get(f.name.as_str()).copied().unwrap_or(0);
        if level < f.min_supported_version || level > f.max_supported_version {
            return Err(unsupported(
                f.name.as_str(),
                level,
                f.min_supported_version,
                f.max_supported_version,
            ));
        }
    }
    for (name, level) in &image.features {
        if *level == 0 {
            continue;
        }
        if !req.features.iter().any(|f| f.name.as_str() == name) {
            return Err(unsupported(name, *level, 0, 0));
        }
    }
    let mut log_dirs = req.log_dirs.clone();
    log_dirs.sort();
    Ok(RegisterBrokerRecord {
        broker_id: id,
        is_migrating_zk_broker: false,
        incarnation_id: req.incarnation_id,
        broker_epoch: epoch,
        end_points: req
            .listeners
            .iter()
            .map(|l| Endpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        features: req
            .features
            .iter()
            .map(|f| FeatureRange {
                name: f.name.to_string(),
                min_supported_version: f.min_supported_version,
                max_supported_version: f.max_supported_version,
            })
            .collect(),
        rack: req.rack.as_ref().map(|r| r.to_string()),
        fenced: true,
        in_controlled_shutdown: false,
        log_dirs,
    })
}

/// A heartbeat's outcome: the records to write and the answer's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub records: Vec<MetadataRecord>,
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

/// The broker's registration if `broker_id` / `broker_epoch` name it (Kafka's
/// `checkBrokerEpoch`: STALE_BROKER_EPOCH either way).
pub fn registered(image: &MetadataImage, broker_id: i32, broker_epoch: i64) -> Result<&BrokerRegistration, Refusal> {
    let b = image.brokers.get(&broker_id).ok_or_else(|| {
        refuse(
            ResponseError::StaleBrokerEpoch,
            format!("No broker registration found for broker id {broker_id}"),
        )
    })?;
    if b.epoch != broker_epoch {
        return Err(refuse(
            ResponseError::StaleBrokerEpoch,
            format!("Expected broker epoch {}, but got broker epoch {broker_epoch}", b.epoch),
        ));
    }
    Ok(b)
}

/// Partitions `broker` leads in the image.
pub fn leaderships(image: &MetadataImage, broker: i32) -> usize {
    image
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.leader == broker)
        .count()
}

fn change(b: &BrokerRegistration) -> BrokerRegistrationChangeRecord {
    BrokerRegistrationChangeRecord {
        broker_id: b.id,
        broker_epoch: b.epoch,
        fenced: 0,
        in_controlled_shutdown: 0,
        log_dirs: vec![],
    }
}

/// The record fencing `b`.
pub fn fence(b: &BrokerRegistration) -> MetadataRecord {
    MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
        fenced: FENCE,
        ..change(b)
    })
}

/// The records fencing `b`: it leaves the ISRs and its leaderships move (Kafka's
/// `handleBrokerFenced`), then the fence itself.
pub fn fence_all(image: &MetadataImage, b: &BrokerRegistration, defaults: &LogConfig) -> Vec<MetadataRecord> {
    let mut out = election::without_broker(image, b.id, defaults);
    out.push(fence(b));
    out
}

/// A broker's state as the heartbeat manager sees it (Kafka's `BrokerControlState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

/// A heartbeat from a registered broker, as Kafka's `BrokerHeartbeatManager`
/// (`calculateNextBrokerState`) and `ReplicationControlManager.processBrokerHeartbeat`:
/// - fenced: shut down at once if it asks to; unfenced once it has applied its own
///   registration and does not ask to stay fenced;
/// - unfenced: fenced if it asks to be (shut down if it asks for both); if it asks to shut
///   down, in controlled shutdown while it leads partitions, else shut down at once;
/// - in controlled shutdown: shut down (and fenced) once it leads no partition.
///
/// Only a change of state writes records: BrokerRegistrationChangeRecord (fenced 1 or -1,
/// or in controlled shutdown), as Kafka 4 writes them.
/// `defaults` are the broker's topic config defaults (for `unclean.leader.election.enable`).
pub fn heartbeat(
    image: &MetadataImage,
    b: &BrokerRegistration,
    req: &BrokerHeartbeatRequest,
    defaults: &LogConfig,
) -> Beat {
    let caught_up = req.current_metadata_offset >= b.epoch;
    let leads = leaderships(image, b.id) > 0;
    let current = if b.in_controlled_shutdown {
        BrokerState::ControlledShutdown
    } else if b.fenced {
        BrokerState::Fenced
    } else {
        BrokerState::Unfenced
    };
    let (fence_me, shut_down) = (req.want_fence, req.want_shut_down);
    let next = match current {
        BrokerState::Fenced if shut_down => BrokerState::ShutdownNow,
        BrokerState::Fenced if !fence_me && caught_up => BrokerState::Unfenced,
        BrokerState::Fenced => BrokerState::Fenced,
        BrokerState::Unfenced if fence_me && shut_down => BrokerState::ShutdownNow,
        BrokerState::Unfenced if fence_me => BrokerState::Fenced,
        BrokerState::Unfenced if shut_down && leads => BrokerState::ControlledShutdown,
        BrokerState::Unfenced if shut_down => BrokerState::ShutdownNow,
        BrokerState::Unfenced => BrokerState::Unfenced,
        BrokerState::ControlledShutdown | BrokerState::ShutdownNow if leads => BrokerState::ControlledShutdown,
        BrokerState::ControlledShutdown | BrokerState::ShutdownNow => BrokerState::ShutdownNow,
    };
    let mut records = vec![];
    match next {
        BrokerState::Fenced | BrokerState::ShutdownNow if !b.fenced => records = fence_all(image, b, defaults),
        BrokerState::Unfenced if b.fenced => {
            let unfence = MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                fenced: UNFENCE,
                ..change(b)
            });
            // Elections see the broker unfenced.
            let mut after = image.clone();
            let _ = after.apply(unfence.clone());
            records.push(unfence);
            records.extend(election::with_broker(&after, defaults));
        }
        BrokerState::ControlledShutdown if !b.in_controlled_shutdown => {
            let shutting = MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                in_controlled_shutdown: 1,
                ..change(b)
            });
            let mut after = image.clone();
            let _ = after.apply(shutting.clone());
            records.push(shutting);
            // Its leaderships move away (or go offline where no other replica is in sync).
            records.extend(election::without_broker(&after, b.id, defaults));
        }
        _ => {}
    }
    Beat {
        records,
        is_caught_up: caught_up,
        is_fenced: matches!(next, BrokerState::Fenced | BrokerState::ShutdownNow),
        should_shut_down: next == BrokerState::ShutdownNow,
    }
}

#[cfg(test)]
mod tests;
