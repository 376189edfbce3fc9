//! This broker's own writes to a partition it leads, not a client's produce: the
//! coordinators' records in their internal topics and transaction markers. As Kafka's
//! coordinators append with acks=all, such a write is answered once the in-sync replicas
//! hold it.
//!
//! A write is two steps: [`check_leading`] (synchronous, just before the append, under
//! whatever gate the caller holds) says whether this broker leads the partition (at the
//! expected leader epoch) with enough in-sync replicas, and [`await_committed`] waits for
//! the fsync the flush policy asks and for the high watermark to pass the write.
//!
//! Must not: move the high watermark (followers' fetches do).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use super::acks::ReplicationWait;
use super::{LeaderState, Replication};
use crate::log::partition::AppendInfo;
use crate::log::partition::group_commit::FlushWait;
use crate::log::{LogError, Partition};

/// Why a leader's own write failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderWriteError {
    /// This broker does not lead the partition (at the expected epoch), or stopped leading
    /// it before the ISR had the write (Kafka: NOT_LEADER_OR_FOLLOWER).
    #[error("this broker does not lead the partition")]
    NotLeader,
    /// The ISR is smaller than `min.insync.replicas`: nothing was appended.
    #[error("not enough in-sync replicas")]
    NotEnoughReplicas,
    /// The ISR shrank below `min.insync.replicas` after the append.
    #[error("not enough in-sync replicas after the append")]
    NotEnoughReplicasAfterAppend,
    /// The ISR did not have the write within the timeout.
    #[error("the in-sync replicas did not confirm the write in time")]
    TimedOut,
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Whether this broker leads `partition` (at `epoch`, when given) and may write to it now:
/// the leader state to wait on (`None`: a partition with no other replica, whose appends
/// commit alone).
pub fn check_leading(
    replication: &Replication,
    partition: &Partition,
    epoch: Option<i32>,
) -> Result<Option<Arc<LeaderState>>, LeaderWriteError> {
    let state = replication.leader(partition.topic(), partition.index());
    match &state {
        Some(s) if epoch.is_some_and(|e| e != s.leader_epoch) => Err(LeaderWriteError::NotLeader),
        Some(s) if s.isr().0.len() < s.min_isr() => Err(LeaderWriteError::NotEnoughReplicas),
        Some(_) => Ok(state),
        // A follower, or a partition whose role is changing.
        None if partition.is_replicated() => Err(LeaderWriteError::NotLeader),
        None if epoch.is_some_and(|e| e != partition.leader_epoch()) => Err(LeaderWriteError::NotLeader),
        None => Ok(None),
    }
}

/// After the append `info` (and its fsync `flush`): answered once the ISR of `state`
/// holds it, within `timeout`.
pub async fn await_committed(
    replication: &Arc<Replication>,
    state: Option<Arc<LeaderState>>,
    info: &AppendInfo,
    flush: Option<FlushWait>,
    timeout: Duration,
) -> Result<(), LeaderWriteError> {
    if let Some(f) = flush {
        f.wait().await?;
    }
    let Some(state) = state else { return Ok(()) };
    let wait = ReplicationWait {
        replication: replication.clone(),
        state,
        required_offset: info.last_offset + 1,
        deadline: tokio::time::Instant::now() + timeout,
    };
    wait.wait().await.map_err(|(e, _)| match e {
        ResponseError::NotLeaderOrFollower => LeaderWriteError::NotLeader,
        ResponseError::RequestTimedOut => LeaderWriteError::TimedOut,
        _ => LeaderWriteError::NotEnoughReplicasAfterAppend,
    })
}
