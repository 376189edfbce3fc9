//! acks=all on a replicated partition (Kafka's `DelayedProduce`): the produce is answered
//! once the high watermark passes its batch, with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the
//! ISR (counting a pending expansion) is then smaller than `min.insync.replicas`,
//! NOT_LEADER_OR_FOLLOWER if this broker stopped leading the partition meanwhile (a new
//! leader epoch of the same log here, or its becoming the only replica, is not that), and
//! REQUEST_TIMED_OUT when the request's `timeout_ms` passes first.
//!
//! Must not: move the high watermark (followers' fetches do).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{LeaderState, Replication};

/// A batch waiting for the ISR.
#[derive(Debug)]
pub struct ReplicationWait {
    pub replication: Arc<Replication>,
    pub state: Arc<LeaderState>,
    /// One past the batch's last offset.
    pub required_offset: i64,
    pub deadline: Instant,
}

impl ReplicationWait {
    /// Waits for the outcome: `Ok` once the ISR holds the batch, or the error to answer.
    pub async fn wait(self) -> Result<(), (ResponseError, Option<String>)> {
        let p = self.state.partition.clone();
        let mut state = self.state.clone();
        // A leadership that ended (even if the log leads again since) answers NOT_LEADER.
        let tenure = p.not_leading_count();
        let notify = Arc::new(Notify::new());
        loop {
            p.register_waiter(&notify);
            if p.not_leading_count() != tenure {
                return Err((ResponseError::NotLeaderOrFollower, None));
            }
            match self.replication.leader(p.topic(), p.index()) {
                Some(s) if Arc::ptr_eq(&s, &state) => {}
                // A new leader epoch of this same log here, leading all along (a
                // reassignment removed a follower): Kafka's DelayedProduce waits on.
                Some(s) if Arc::ptr_eq(&s.partition, &p) => state = s,
                // A lone replica leading here now: its appends are committed at once.
                None if !p.is_replicated() && !p.is_deleted() && p.high_watermark() >= self.required_offset => {
                    return Ok(());
                }
                _ => return Err((ResponseError::NotLeaderOrFollower, None)),
            }
            if p.high_watermark() >= self.required_offset {
                let (isr, min) = (state.maximal_isr_len(), state.min_isr());
                if isr < min {
                    // Kafka's DelayedProduce answers the code alone.
                    tracing::debug!(partition = ?p, isr, min, "acks=all: the ISR shrank below min.insync.replicas");
                    return Err((ResponseError::NotEnoughReplicasAfterAppend, None));
                }
                return Ok(());
            }
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep_until(self.deadline) => {
                    return Err((ResponseError::RequestTimedOut, None));
                }
            }
        }
    }
}
