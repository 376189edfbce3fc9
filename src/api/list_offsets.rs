//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), earliest local
//! (-4), latest tiered (-5, no tiered storage: not found), and the first offset
//! whose record timestamp is at or after a given time (through the time index), each with
//! the leader epoch of its offset (v4+) after the `current_leader_epoch` check. A special
//! timestamp below the version that brought it (-3 v7, -4 v8, -5 v9) is UNSUPPORTED_VERSION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::log::Partition;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const LATEST_TIERED: i64 = -5;

/// (offset, timestamp, leader epoch) for one lookup; (-1, -1, -1) when no record
/// qualifies. As Kafka's `Partition.fetchOffsetForTimestamp`: the latest offset carries the
/// current leader epoch, every other answer the epoch its offset was written under; a
/// timestamp match at or past the last fetchable offset (the LSO for read_committed) is no
/// match. A follower replica (`replica_id >= 0`) asks without isolation: the latest
/// offset is then the log end offset.
fn lookup(p: &Partition, timestamp: i64, read_committed: bool, follower: bool) -> (i64, i64, i32) {
    const NONE: (i64, i64, i32) = (-1, -1, -1);
    let last_fetchable = if follower {
        p.log_end_offset()
    } else if read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    };
    let found = match timestamp {
        LATEST => return (last_fetchable, -1, p.leader_epoch()),
        EARLIEST | EARLIEST_LOCAL => Some((p.log_start_offset(), -1)),
        MAX_TIMESTAMP => p.offset_of_max_timestamp().filter(|(o, _)| *o < last_fetchable),
        t if t >= 0 => p.offset_for_timestamp(t).filter(|(o, _)| *o < last_fetchable),
        _ => None,
    };
    match found {
        Some((offset, ts)) => (offset, ts, p.epoch_for_offset(offset).unwrap_or(-1)),
        None => NONE,
    }
}

/// The first version that may ask for `timestamp`: Kafka refuses a special timestamp below
/// the version that brought it (UNSUPPORTED_VERSION for that partition).
fn min_version(timestamp: i64) -> i16 {
    match timestamp {
        MAX_TIMESTAMP => 7,
        EARLIEST_LOCAL => 8,
        LATEST_TIERED => 9,
        _ => 0,
    }
}

pub async fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let follower = req.replica_id.0 >= 0;
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let topic = broker.logs().topic(t.name.0.as_str());
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name;
        for rp in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default();
            r.partition_index = rp.partition_index;
            r.timestamp = -1;
            r.offset = -1;
            r.leader_epoch = -1;
            let part = topic.as_ref().and_then(|t| {
                usize::try_from(rp.partition_index)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
            });
            let checked = part.map(|p| {
                let current = if version >= 4 { rp.current_leader_epoch } else { -1 };
                super::leader_epoch::check(p, current).map(|()| p)
            });
            let elsewhere = matches!(
                broker.leadership(tr.name.0.as_str(), rp.partition_index),
                crate::broker::Leadership::Elsewhere { .. }
            );
            match checked {
                // Before the partition is looked up, as Kafka's.
                _ if version < min_version(rp.timestamp) => r.error_code = ResponseError::UnsupportedVersion.code(),
                _ if elsewhere => r.error_code = ResponseError::NotLeaderOrFollower.code(),
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(Err(e)) => r.error_code = e.code(),
                Some(Ok(p)) => {
                    let (offset, ts, epoch) = if rp.timestamp >= 0 || rp.timestamp == MAX_TIMESTAMP {
                        // Decodes (and may decompress) one batch: off the async workers.
                        let (p, t) = (p.clone(), rp.timestamp);
                        tokio::task::spawn_blocking(move || lookup(&p, t, read_committed, follower))
                            .await
                            .unwrap_or((-1, -1, -1))
                    } else {
                        lookup(p, rp.timestamp, read_committed, follower)
                    };
                    r.offset = offset;
                    r.timestamp = ts;
                    if version >= 4 {
                        r.leader_epoch = epoch;
                    }
                }
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
