//! brokk as its own single-voter KRaft controller: the quorum epoch (one more at every
//! start, as a lone voter elects itself) and the metadata offset, which counts the changes
//! Kafka would write to `__cluster_metadata` (topics created and deleted, partitions added,
//! topic and broker configs changed). DescribeQuorum reports both; ApiVersions' finalized
//! features epoch is the metadata offset, as on Kafka.
//!
//! Persisted in `<data-dir>/quorum-state` (properties: `leader.epoch`, `metadata.offset`),
//! rewritten atomically at start-up and with every change.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use super::LogManager;
use crate::log::LogError;
use crate::log::checkpoint::{self, parse_properties, render_properties};

const FILE: &str = "quorum-state";

/// The controller's state.
#[derive(Debug, Default)]
pub struct QuorumState {
    pub leader_epoch: AtomicI32,
    pub metadata_offset: AtomicI64,
}

impl QuorumState {
    /// Reads the last state and starts a new epoch (one per start, as a single voter's
    /// election).
    pub(super) fn start(dir: &Path) -> Result<Self, LogError> {
        let props = std::fs::read_to_string(dir.join(FILE))
            .ok()
            .and_then(|t| parse_properties(&t).ok())
            .unwrap_or_default();
        let get = |k: &str| props.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let s = Self {
            leader_epoch: AtomicI32::new(get("leader.epoch") as i32 + 1),
            metadata_offset: AtomicI64::new(get("metadata.offset")),
        };
        s.store(dir)?;
        Ok(s)
    }

    fn store(&self, dir: &Path) -> Result<(), LogError> {
        let mut props = BTreeMap::new();
        props.insert(
            "leader.epoch".to_string(),
            self.leader_epoch.load(Ordering::Acquire).to_string(),
        );
        props.insert(
            "metadata.offset".to_string(),
            self.metadata_offset.load(Ordering::Acquire).to_string(),
        );
        checkpoint::write_atomic(&dir.join(FILE), render_properties("brokk quorum state", &props))
    }
}

impl LogManager {
    pub fn quorum(&self) -> &QuorumState {
        &self.quorum
    }

    /// Records one metadata change (the caller holds the admin lock). A failure to persist
    /// it is logged: the change itself is already durable in its own files.
    pub(super) fn metadata_changed(&self) {
        self.quorum.metadata_offset.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.quorum.store(&self.dir) {
            tracing::warn!(error = %e, "writing the quorum state failed");
        }
    }
}
