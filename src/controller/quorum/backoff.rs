//! Randomized election backoff, as Kafka's KRaft backs off a random time after a failed
//! election (`controller.quorum.election.backoff.max.ms`).
//!
//! openraft 0.9 draws each node's election timeout once, when the node starts, and checks
//! it on its tick (the heartbeat interval): two candidates whose timeouts round up to the
//! same number of ticks start every election together, each votes for itself, and the
//! vote splits again every round, for good (the metadata quorum test saw 30 terms without a
//! leader). This task breaks the tie: a node that is a candidate and has known no leader
//! for a delay drawn afresh each time asks openraft for an election, so one candidate gets
//! a higher term first and the other votes for it. It only triggers openraft's own
//! election; the votes and their rules stay openraft's.
//!
//! The delay is never shorter than openraft's own pace for a candidate whose log is
//! behind (its election timeout plus `smaller_log_timeout`, three times the maximum
//! election timeout), so a node just back from a partition disturbs a healthy leader no
//! more often than openraft alone would.

use std::time::Duration;

use openraft::{Raft, ServerState};
use tokio::sync::watch;

use super::Quorum;

/// Runs until `stop`: whenever `raft` is a candidate that has known no leader for a random
/// time between three and five times `max_timeout` (the maximum election timeout), it
/// triggers an election.
pub async fn run(raft: Raft<Quorum>, max_timeout: Duration, mut stop: watch::Receiver<bool>) {
    let mut metrics = raft.metrics();
    let ms = max_timeout.as_millis().max(1) as u64;
    loop {
        tokio::select! {
            m = metrics.wait_for(|m| m.current_leader.is_none()) => if m.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let delay = Duration::from_millis(fastrand::u64(3 * ms..5 * ms));
        let led = tokio::select! {
            // A leader within the delay: nothing to break.
            r = tokio::time::timeout(delay, metrics.wait_for(|m| m.current_leader.is_some())) => match r {
                Ok(Ok(_)) => true,
                Ok(Err(_)) => return,
                Err(_) => false,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        if led || raft.metrics().borrow().state != ServerState::Candidate {
            continue;
        }
        if let Err(e) = raft.trigger().elect().await {
            tracing::debug!(error = %e, "triggering an election failed");
            return;
        }
    }
}
