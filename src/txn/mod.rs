//! Producer ids and the transaction coordinator.
//!
//! Owns: handing out producer ids that are never reused, across restarts; the rules of a
//! transactional id's state ([`state`]) and their durable form in `__transaction_state`
//! ([`records`]); the coordinator that drives them ([`coordinator`]: durability, markers,
//! timeouts, recovery). The per-partition sequence, epoch and marker rules live with the log
//! (`log/partition/producer_state.rs`, `Partition::append_marker`), where appends are serialised.
//! Must not touch: the wire.

pub mod coordinator;
pub mod producer_ids;
pub mod records;
pub mod state;

pub use coordinator::{TransactionCoordinator, TxnConfig};
pub use producer_ids::ProducerIdManager;
