//! Producer ids and (later) the transaction coordinator.
//!
//! Owns: handing out producer ids that are never reused, across restarts. The per-partition
//! sequence and epoch rules live with the log (`log/producer_state.rs`), where appends are
//! serialised. Must not touch: the wire.

pub mod producer_ids;

pub use producer_ids::ProducerIdManager;
