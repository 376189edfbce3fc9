//! OffsetForLeaderEpoch (key 23, v2-v4): where a leader epoch ends (KIP-101/320), used by
//! consumers to detect log truncation. brokk's one replica has always led its partitions, so
//! every partition has one leader epoch, 0, starting at the log start (the epoch cache
//! Kafka keeps per partition then has one entry). Answered as Kafka's
//! `LeaderEpochFileCache.endOffsetFor`:
//! - the current epoch (0) ends at the log end offset;
//! - a later epoch, or -1, is unknown: -1 / -1;
//! - an earlier one (negative) echoes the epoch with the log start.
//!
//! A `current_leader_epoch` other than -1 is checked first: an older one is
//! FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;

/// The leader epoch of every partition brokk hosts.
pub const LEADER_EPOCH: i32 = 0;

pub async fn handle(broker: &Broker, req: OffsetForLeaderEpochRequest, _version: i16) -> OffsetForLeaderEpochResponse {
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let mut tr = OffsetForLeaderTopicResult::default();
        tr.topic = t.topic.clone();
        for p in t.partitions {
            let mut r = EpochEndOffset::default();
            r.partition = p.partition;
            r.leader_epoch = -1;
            r.end_offset = -1;
            match broker.logs().partition(t.topic.0.as_str(), p.partition) {
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(_) if p.current_leader_epoch != -1 && p.current_leader_epoch < LEADER_EPOCH => {
                    r.error_code = ResponseError::FencedLeaderEpoch.code();
                }
                Some(_) if p.current_leader_epoch > LEADER_EPOCH => {
                    r.error_code = ResponseError::UnknownLeaderEpoch.code();
                }
                Some(part) => {
                    if p.leader_epoch == LEADER_EPOCH {
                        (r.leader_epoch, r.end_offset) = (LEADER_EPOCH, part.log_end_offset());
                    } else if p.leader_epoch < -1 {
                        (r.leader_epoch, r.end_offset) = (p.leader_epoch, part.log_start_offset());
                    }
                }
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
