//! The controller: what Kafka's KRaft controllers do. Today it is the metadata quorum
//! (`quorum/`): the Raft log that orders the cluster's metadata records, stored as Kafka's
//! `__cluster_metadata` log, and the state machine that applies them to the image.
//! Placement (`placement.rs`: where new replicas go) is pure logic the quorum leader will
//! run; leader election, ISR changes and broker registration come on top of it.
//!
//! Must not touch: partitions' data logs (`log/`) other than the metadata log it owns.

pub mod placement;
pub mod quorum;
