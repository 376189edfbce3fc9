//! The consumer-group coordinator (Kafka's classic group protocol).
//!
//! Owns: group membership (join, sync, heartbeat, leave), generations, session and rebalance
//! deadlines, and committed offsets with their durable copy in the internal
//! `__consumer_offsets` topic. Must not touch: the wire (handlers in `api/` translate
//! requests to the types here) or partition data other than `__consumer_offsets`.
//!
//! Layout:
//! - [`state`]: the pure per-group state machine (time is an argument; replies are oneshots
//!   it completes), unit-tested without a runtime;
//! - [`actor`]: one task per group owning a [`state::Group`], sleeping until its earliest
//!   deadline or the next command;
//! - [`coordinator`]: the registry of groups, request routing, start-up load and the offset
//!   expiration pass;
//! - [`records`]: the `__consumer_offsets` key/value formats (Kafka's, so Kafka tools can
//!   read them) and the batch writer;
//! - [`subscription`]: reads topic names out of consumer-protocol member metadata;
//! - [`cluster`]: in a cluster, groups are coordinated by the leader of
//!   their `__consumer_offsets` partition, loaded when it is elected and stopped when it
//!   resigns, and their writes wait for the in-sync replicas.

pub mod actor;
pub mod cluster;
pub mod coordinator;
pub mod records;
pub mod state;
pub mod subscription;
pub mod txn_offsets;

pub use coordinator::{GroupConfig, GroupCoordinator};

/// Why a group operation failed; mapped to Kafka error codes in `api/errors.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("invalid group id")]
    InvalidGroupId,
    #[error("session timeout outside the broker's bounds")]
    InvalidSessionTimeout,
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("a member id is required: rejoin with the returned one")]
    MemberIdRequired,
    #[error("protocol type or protocols inconsistent with the group")]
    InconsistentGroupProtocol,
    #[error("the group reached group.max.size")]
    GroupMaxSizeReached,
    #[error("another member with the same group.instance.id replaced this one")]
    FencedInstanceId,
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("the generation is not the group's current one")]
    IllegalGeneration,
    #[error("the group has members")]
    NonEmptyGroup,
    #[error("the group does not exist")]
    GroupIdNotFound,
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("the offset metadata is larger than offset.metadata.max.bytes")]
    OffsetMetadataTooLarge,
    #[error("this broker is not the group's coordinator (now)")]
    NotCoordinator,
    #[error("the coordinator is loading the group's partition")]
    LoadInProgress,
    #[error("the commit is larger than a __consumer_offsets batch may be")]
    CommitTooLarge,
    #[error("a newer producer with the same transactional id fenced this one")]
    ProducerFenced,
    #[error("writing to __consumer_offsets failed: {0}")]
    Storage(String),
}

/// Group states, named as Kafka names them (DescribeGroups, ListGroups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];
}

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

pub use crate::log::internal::{java_string_hash, partition_for};

#[cfg(test)]
mod timing_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // "hello".hashCode() == 99162322 in Java; "" == 0.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
        // Overflowing hash: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
    }
}
