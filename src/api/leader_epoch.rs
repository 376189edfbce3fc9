//! The `current_leader_epoch` check of Fetch (v9+), ListOffsets (v4+) and
//! OffsetForLeaderEpoch (v2+), as Kafka's `Partition.localLogWithEpochOrThrow`: a client
//! that knows an older epoch than the leader's is fenced, one that knows a newer epoch is
//! ahead of this broker's metadata; -1 skips the check.

use kafka_protocol::ResponseError;

use crate::log::Partition;

pub fn check(p: &Partition, current_leader_epoch: i32) -> Result<(), ResponseError> {
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
