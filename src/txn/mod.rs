//! Producer ids and the transaction coordinator.
//!
//! Owns: handing out producer ids that are never reused, across restarts; the rules of a
//! transactional id's state ([`state`]) and their durable form in `__transaction_state`
//! ([`records`]). The coordinator that drives them (APIs, markers, timeouts, recovery) is
//! still to come. The per-partition sequence, epoch and marker rules live with the log
//! (`log/producer_state.rs`, `Partition::append_marker`), where appends are serialised.
//! Must not touch: the wire.

pub mod producer_ids;
pub mod records;
pub mod state;

pub use producer_ids::ProducerIdManager;
