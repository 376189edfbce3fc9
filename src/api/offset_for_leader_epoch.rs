//! OffsetForLeaderEpoch (key 23, v2-v4): where a leader epoch ends (KIP-101/320), used by
//! consumers to detect log truncation after a leader change (brokk's restarts). Answered
//! from the partition's leader-epoch cache as Kafka's `LeaderEpochFileCache.endOffsetFor`
//! (see `log::leader_epoch`), after the `current_leader_epoch` check (FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;

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
            let elsewhere = matches!(
                broker.leadership(t.topic.0.as_str(), p.partition),
                crate::broker::Leadership::Elsewhere { .. }
            );
            match broker.logs().partition(t.topic.0.as_str(), p.partition) {
                // In a cluster, another broker leads it.
                _ if elsewhere => r.error_code = ResponseError::NotLeaderOrFollower.code(),
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(part) => match super::leader_epoch::check(&part, p.current_leader_epoch) {
                    Err(e) => r.error_code = e.code(),
                    Ok(()) => (r.leader_epoch, r.end_offset) = part.end_offset_for_epoch(p.leader_epoch),
                },
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
