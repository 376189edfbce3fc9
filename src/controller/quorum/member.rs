//! How a broker belongs to the metadata quorum: as a voter (`process.roles=broker,controller`,
//! its own Raft node) or as an observer (`process.roles=broker`, reading the log from the
//! voters). What the broker needs (the image, the offset applied, the leader, the voters'
//! CONTROLLER listeners) is the same either way.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::node::QuorumNode;
use super::observer::MetadataObserver;
use super::{ControllerNode, NodeId};
use crate::metadata::MetadataImage;

#[derive(Debug, Clone)]
pub enum QuorumMember {
    Voter(Arc<QuorumNode>),
    Observer(Arc<MetadataObserver>),
}

impl QuorumMember {
    pub fn node_id(&self) -> NodeId {
        match self {
            Self::Voter(q) => q.node_id,
            Self::Observer(o) => o.node_id,
        }
    }

    /// Follows the metadata image (every committed change).
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        match self {
            Self::Voter(q) => q.image(),
            Self::Observer(o) => o.image(),
        }
    }

    /// One past the last metadata offset applied to this node's image.
    pub fn applied_offset(&self) -> i64 {
        match self {
            Self::Voter(q) => q.applied_offset(),
            Self::Observer(o) => o.applied_offset(),
        }
    }

    /// The quorum's leader as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        match self {
            Self::Voter(q) => q.leader(),
            Self::Observer(o) => o.leader(),
        }
    }

    /// The voters' CONTROLLER listeners.
    pub fn voters(&self) -> &BTreeMap<NodeId, ControllerNode> {
        match self {
            Self::Voter(q) => q.voters(),
            Self::Observer(o) => o.voters(),
        }
    }

    /// This node's Raft node, when it votes.
    pub fn voter(&self) -> Option<&Arc<QuorumNode>> {
        match self {
            Self::Voter(q) => Some(q),
            Self::Observer(_) => None,
        }
    }
}
