//! The partition checks of Fetch, ListOffsets and OffsetForLeaderEpoch, in Kafka's order:
//! a partition in a failed log dir is KAFKA_STORAGE_ERROR (`getPartitionOrException`), then
//! the `current_leader_epoch` check (Fetch v9+, ListOffsets v4+, OffsetForLeaderEpoch v2+),
//! as `Partition.localLogWithEpochOrThrow`: a client that knows an older epoch than the
//! leader's is fenced, one that knows a newer epoch is ahead of this broker's metadata; -1
//! skips it.

use kafka_protocol::ResponseError;

use crate::log::Partition;

pub fn check(p: &Partition, current_leader_epoch: i32) -> Result<(), ResponseError> {
    if p.is_offline() {
        return Err(ResponseError::KafkaStorageError);
    }
    if current_leader_epoch == -1 {
        return Ok(());
    }
    let leader = p.leader_epoch();
    if current_leader_epoch < leader {
        Err(ResponseError::FencedLeaderEpoch)
    } else if current_leader_epoch > leader {
        Err(ResponseError::UnknownLeaderEpoch)
    } else {
        Ok(())
    }
}
