//! Producer ids and the transaction coordinator.
//!
//! Owns: handing out producer ids that are never reused, across restarts; the rules of a
//! transactional id's state ([`state`]) and their durable form in `__transaction_state`
//! ([`records`]); the coordinator that drives them ([`coordinator`]: durability, markers,
//! timeouts, recovery), in a cluster with the leadership of `__transaction_state`'s
//! partitions ([`cluster`]: markers to the partitions' leaders through [`peers`], written
//! locally by [`markers`]). The per-partition sequence, epoch and marker rules live with the log
//! (`log/partition/producer_state.rs`, `Partition::append_marker`), where appends are serialised.
//! Must not touch: the wire.

pub mod cluster;
pub mod coordinator;
pub mod markers;
pub mod peers;
pub mod producer_ids;
pub mod records;
pub mod state;

pub use coordinator::{TransactionCoordinator, TxnConfig};
pub use producer_ids::ProducerIdManager;
