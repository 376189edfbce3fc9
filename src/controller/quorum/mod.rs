//! The metadata quorum: an openraft Raft group whose log is Kafka's `__cluster_metadata-0`
//! and whose state machine is the [`MetadataImage`](crate::metadata::MetadataImage).
//!
//! Kafka's KRaft terms map one to one: a Raft term is a leader epoch (openraft's
//! `single-term-leader`: one leader per term, as KRaft), a log index is an offset, an entry
//! is one record batch of one record whose partition leader epoch is the entry's term:
//! - a proposal (one metadata record) is a data batch, as Kafka's controller writes it;
//! - the blank entry a new leader commits first is a LeaderChange control record;
//! - a membership change is a Voters control record (KIP-853), with the full openraft
//!   membership (joint configurations, learners) in a tagged field of brokk's.
//!
//! Where things are (all in the metadata log directory's `__cluster_metadata-0`): the
//! segments, `quorum-state` (the vote, in Kafka's JSON format), `quorum-purged` (the last
//! entry removed from the log's front) and snapshots `<end offset>-<epoch>.checkpoint`
//! (Kafka's snapshot format; the membership and last entry in a tagged field of its header).

pub mod backoff;
pub mod codec;
pub mod describe;
pub mod frame;
pub mod log_store;
pub mod member;
pub mod network;
pub mod node;
pub mod observe;
pub mod observer;
pub mod rpc;
pub mod server;
pub mod state_machine;
pub mod vote;

#[cfg(test)]
mod tests;

use crate::metadata::MetadataRecord;

/// A voter's (or learner's) controller listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerNode {
    pub host: String,
    pub port: u16,
}

openraft::declare_raft_types!(
    /// The quorum's openraft types.
    pub Quorum:
        D = MetadataRecord,
        R = i64,
        NodeId = u64,
        Node = ControllerNode,
        Entry = openraft::Entry<Quorum>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, ControllerNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, ControllerNode>;
pub type Entry = openraft::Entry<Quorum>;
pub type StorageError = openraft::StorageError<NodeId>;

/// The log id of the entry at `index` written in `term`.
pub fn log_id(term: u64, index: u64) -> LogId {
    openraft::LogId::new(openraft::CommittedLeaderId::new(term, 0), index)
}
