//! What this broker does for each partition the cluster's metadata gives it (Kafka's
//! `ReplicaManager` reacting to metadata deltas):
//! - `reconcile.rs`: the local logs follow the image (a topic the image assigns partitions
//!   of to this broker is created here with the image's topic id and configs, and deleted
//!   when the image removes it), and each hosted partition takes its role: leader at the
//!   image's epoch, or follower of the image's leader;
//! - `leader.rs`: a led partition with followers tracks them, keeps the ISR and moves the
//!   high watermark; `isr.rs` asks the controller for ISR changes (AlterPartition);
//!   `acks.rs` answers acks=all produces once the ISR has the batch;
//! - `fetcher.rs`: followed partitions fetch from their leader;
//! - `leader_write.rs`: this broker's own writes to partitions it leads (coordinators'
//!   records, transaction markers), answered once the ISR holds them;
//! - `ownership.rs`: which partitions of a coordinator's internal topic are coordinated
//!   here (loading, loaded), following their leadership.
//!
//! Must not: decide anything about the cluster (the controller does) nor write metadata
//! except by asking the controller.

pub mod acks;
pub mod fetcher;
pub mod isr;
pub mod leader;
pub mod leader_write;
pub mod ownership;
pub mod reconcile;

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Notify;

pub use leader::LeaderState;
pub use reconcile::ReplicaManager;

/// This broker's replicated partitions that it leads, by (topic, partition).
#[derive(Debug)]
pub struct Replication {
    pub node_id: i32,
    /// `replica.lag.time.max.ms`.
    pub lag_time_max_ms: i64,
    leaders: DashMap<(String, i32), Arc<LeaderState>>,
    /// Wakes the ISR task: a follower may join an ISR.
    isr_wake: Notify,
}

impl Replication {
    pub fn new(node_id: i32, lag_time_max_ms: i64) -> Self {
        Self {
            node_id,
            lag_time_max_ms,
            leaders: DashMap::new(),
            isr_wake: Notify::new(),
        }
    }

    /// The leader state of `topic`-`partition`, if this broker leads it with followers.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<Arc<LeaderState>> {
        self.leaders.get(&(topic.to_string(), partition)).map(|l| l.clone())
    }

    /// Every led partition with followers.
    pub fn leaders(&self) -> Vec<Arc<LeaderState>> {
        self.leaders.iter().map(|e| e.value().clone()).collect()
    }

    pub(crate) fn set_leader(&self, topic: &str, partition: i32, state: Arc<LeaderState>) {
        self.leaders.insert((topic.to_string(), partition), state);
    }

    /// Keeps the led partitions for which `keep` holds.
    pub(crate) fn retain(&self, keep: impl Fn(&str, i32, &LeaderState) -> bool) {
        self.leaders.retain(|(t, p), v| keep(t, *p, v));
    }

    /// A follower may join an ISR: the ISR task looks now.
    pub fn wake_isr(&self) {
        self.isr_wake.notify_one();
    }

    pub(crate) async fn isr_woken(&self) {
        self.isr_wake.notified().await;
    }
}
