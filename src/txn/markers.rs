//! Writing one transaction marker to a partition this broker holds: for the transaction
//! coordinator's own partitions and for WriteTxnMarkers (another broker's coordinator, or
//! an admin's abort).
//!
//! A marker in `__consumer_offsets` goes through the group coordinator (which settles the
//! pending transactional offsets of the groups stored there). In a cluster the partition
//! must be led here, and the marker is answered once its in-sync replicas hold it, as
//! Kafka appends markers with acks=all.

use std::sync::Arc;
use std::time::Duration;

use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::manager::{append_marker_durably, append_marker_flushing};
use crate::log::{LogError, LogManager};
use crate::replica::Replication;
use crate::replica::leader_write::{LeaderWriteError, await_committed, check_leading};

/// How long a marker waits for the in-sync replicas (Kafka's `request.timeout.ms`).
pub const MARKER_TIMEOUT: Duration = Duration::from_secs(30);

/// One transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// Writes `m` to `topic`-`partition` of this broker (in a cluster, `replication` given: a
/// partition it leads), answered once durable (and in a cluster, in the ISR).
pub async fn write_local(
    logs: &LogManager,
    groups: &GroupCoordinator,
    replication: Option<&Arc<Replication>>,
    topic: &str,
    partition: i32,
    m: Marker,
) -> Result<(), LeaderWriteError> {
    if topic == OFFSETS_TOPIC {
        return groups
            .write_txn_marker(
                partition,
                m.producer_id,
                m.producer_epoch,
                m.coordinator_epoch,
                m.commit,
            )
            .await;
    }
    let p = logs
        .partition(topic, partition)
        .ok_or(LeaderWriteError::Log(LogError::PartitionDeleted))?;
    let Some(replication) = replication else {
        append_marker_durably(&p, m.producer_id, m.producer_epoch, m.coordinator_epoch, m.commit).await?;
        return Ok(());
    };
    let state = check_leading(replication, &p, None)?;
    let (info, flush) = append_marker_flushing(&p, m.producer_id, m.producer_epoch, m.coordinator_epoch, m.commit)?;
    await_committed(replication, state, &info, flush, MARKER_TIMEOUT).await
}
