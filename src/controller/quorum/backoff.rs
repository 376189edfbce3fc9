//! Randomized election backoff, as Kafka's KRaft backs off a random time after a failed
//! election (`controller.quorum.election.backoff.max.ms`).
//!
//! openraft 0.9 draws each node's election timeout once, when the node starts, and checks
//! it on its tick (the heartbeat interval): two candidates whose timeouts round up to the
//! same number of ticks start every election together, each votes for itself, and the
//! vote splits again every round, for good (the metadata quorum test saw 30 terms without a
//! leader). This task breaks the tie: while the node knows no leader, it asks openraft for
//! an election after a delay drawn afresh each time, so one candidate gets a higher term
//! first and the other votes for it. It only triggers openraft's own election; the votes
//! and their rules stay openraft's.

use std::time::Duration;

use openraft::Raft;
use tokio::sync::watch;

use super::Quorum;

/// Runs until `stop`: whenever `raft` has known no leader for a random time between half
/// and twice `timeout` (the election timeout), it triggers an election.
pub async fn run(raft: Raft<Quorum>, timeout: Duration, mut stop: watch::Receiver<bool>) {
    let mut metrics = raft.metrics();
    loop {
        tokio::select! {
            m = metrics.wait_for(|m| m.current_leader.is_none()) => if m.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let ms = timeout.as_millis() as u64;
        let delay = Duration::from_millis(fastrand::u64(ms / 2..ms.max(1) * 2));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let leaderless = raft.metrics().borrow().current_leader.is_none();
        if leaderless && let Err(e) = raft.trigger().elect().await {
            tracing::debug!(error = %e, "triggering an election failed");
            return;
        }
    }
}
