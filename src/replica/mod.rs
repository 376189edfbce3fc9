//! What this broker does for each partition the cluster's metadata gives it (Kafka's
//! `ReplicaManager` reacting to metadata deltas). Today: the local logs follow the image
//! (`reconcile.rs`): a topic the image assigns partitions of to this broker is created
//! here with the image's topic id and configs, and deleted when the image removes it.
//! Leadership is read from the image by the request handlers.
//!
//! Must not: decide anything about the cluster (the controller does) nor write metadata.

pub mod reconcile;

pub use reconcile::ReplicaManager;
