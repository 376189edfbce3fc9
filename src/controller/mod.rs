//! The controller: what Kafka's KRaft controllers do. The metadata quorum (`quorum/`) is
//! the Raft log that orders the cluster's metadata records, stored as Kafka's
//! `__cluster_metadata` log, and the state machine that applies them to the image. On the
//! quorum leader, the active controller (`active.rs`) serves Kafka's controller APIs and
//! decides: broker registration, heartbeats and fencing (`brokers.rs`). Every broker runs
//! its side of them (`lifecycle.rs`). Placement (`placement.rs`: where new replicas go) is
//! pure logic the active controller runs for topic creation; leader election when brokers
//! go and come (`election.rs`), on request and for the automatic rebalance (`leaders.rs`),
//! ISR changes (`isr.rs`) and partition reassignments (`reassign.rs`) come on top of it;
//! each partition's change is built as Kafka builds it (`change.rs`).
//!
//! Must not touch: partitions' data logs (`log/`) other than the metadata log it owns.

pub mod active;
pub mod brokers;
pub mod change;
pub mod channel;
pub mod configs;
pub mod election;
pub mod isr;
pub mod leaders;
pub mod lifecycle;
pub mod partitions;
pub mod placement;
pub mod quorum;
pub mod reassign;
pub mod topics;
