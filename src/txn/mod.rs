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

/// In a cluster: whether a key (group id, transactional id) is coordinated by another
/// broker.
#[derive(Clone)]
pub struct Elsewhere(pub std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for Elsewhere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Elsewhere")
    }
}
