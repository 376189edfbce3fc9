//! Fetch (key 1): serves stored batch bytes as they lie (zero-copy `Bytes` of the segment
//! mapping), honouring max_bytes / partition_max_bytes (the first batch always fits, KIP-74)
//! and long-polling for min_bytes up to max_wait_ms. The wait is event-driven: the fetch
//! registers with every partition it reads *before* reading, and any append wakes it.
//!
//! A fetch naming a replica (`replica_id`, `replica_state` from v15) is a follower's: it
//! reads up to the log end offset rather than the high watermark, is answered only for
//! partitions this broker leads with that replica among their followers (else
//! UNKNOWN_LEADER_EPOCH when it named an epoch, NOT_LEADER_OR_FOLLOWER when not, as
//! Kafka's `followerReplicaOrThrow`), and tells the partition's leader state where the
//! follower's log ends (high watermark, ISR).
//!
//! Fetch sessions (KIP-227) are not kept: every fetch is answered in full with session id
//! 0, which is Kafka's own answer when its session cache is full; an incremental request
//! (epoch > 0) for an unknown session gets FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::sync::Notify;
use uuid::Uuid;

use super::errors::log_error;
use crate::broker::{Broker, Leadership};
use crate::log::Partition;
use crate::replica::{LeaderState, Replication};
use kafka_protocol::messages::TopicName;

/// One requested partition, resolved.
struct Wanted {
    topic_idx: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    /// The epoch the client believes the leader has (-1: unchecked).
    current_leader_epoch: i32,
    /// The epoch of the last batch the client fetched (-1: none; v12+).
    last_fetched_epoch: i32,
    log: Result<Arc<Partition>, ResponseError>,
    /// In a cluster, the partition's leader (id, epoch) when another broker leads it.
    elsewhere: Option<(i32, i32)>,
    /// A follower's fetch: the partition's leader state here.
    leader_state: Option<Arc<LeaderState>>,
}

/// A follower's fetch: its broker id and this broker's replicated partitions.
#[derive(Clone, Copy)]
struct FollowerFetch<'a> {
    replica_id: i32,
    replication: &'a Replication,
}

fn empty_partition(index: i32, error_code: i16) -> PartitionData {
    let mut d = PartitionData::default();
    d.partition_index = index;
    d.error_code = error_code;
    d.high_watermark = -1;
    d.last_stable_offset = -1;
    d.log_start_offset = -1;
    d.preferred_read_replica = kafka_protocol::messages::BrokerId(-1);
    d.records = Some(Bytes::new());
    d
}

/// One pass over all wanted partitions. Returns the partition data and whether the
/// response should be sent now (enough bytes or an error).
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    read_committed: bool,
    version: i16,
    node_id: i32,
    leaders: &mut std::collections::BTreeSet<i32>,
    follower: Option<FollowerFetch<'_>>,
) -> (Vec<PartitionData>, usize, bool) {
    let mut out = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut any_error = false;
    for w in wanted {
        let p = match &w.log {
            Ok(p) => p,
            Err(e) => {
                any_error = true;
                let mut d = empty_partition(w.partition, e.code());
                if let Some((leader, epoch)) = w.elsewhere.filter(|(l, _)| version >= 16 && *l >= 0) {
                    // KIP-951: where the leader is, so the client need not ask Metadata.
                    d.current_leader.leader_id = BrokerId(leader);
                    d.current_leader.leader_epoch = epoch;
                    leaders.insert(leader);
                }
                out.push(d);
                continue;
            }
        };
        let remaining = max_bytes.saturating_sub(total);
        let limit = w.max_bytes.min(remaining);
        let min_one = total == 0;
        let mut d = empty_partition(w.partition, 0);
        if let Err(e) = super::leader_epoch::check(p, w.current_leader_epoch) {
            any_error = true;
            let mut d = empty_partition(w.partition, e.code());
            if version >= 16 && e == ResponseError::FencedLeaderEpoch {
                // KIP-951: where the leader is now, so the client need not ask Metadata.
                d.current_leader.leader_id = BrokerId(node_id);
                d.current_leader.leader_epoch = p.leader_epoch();
                leaders.insert(node_id);
            }
            out.push(d);
            continue;
        }
        match diverging_epoch(p, w) {
            Err(e) => {
                any_error = true;
                out.push(empty_partition(w.partition, e.code()));
                continue;
            }
            Ok(None) => {}
            Ok(Some(diverging)) => {
                // Kafka answers at once, with the offsets and no records.
                any_error = true;
                d.high_watermark = p.high_watermark();
                d.last_stable_offset = p.last_stable_offset();
                d.log_start_offset = p.log_start_offset();
                d.diverging_epoch = diverging;
                out.push(d);
                continue;
            }
        }
        let read = match (follower, &w.leader_state) {
            (Some(f), Some(state)) => {
                let leader_log_end = p.log_end_offset();
                let read = p.fetch_for_follower(w.fetch_offset, limit, min_one);
                if read.is_ok() {
                    let effect =
                        state.follower_fetched(f.replica_id, w.fetch_offset, leader_log_end, crate::log::now_ms());
                    if effect.may_expand {
                        f.replication.wake_isr();
                    }
                }
                read
            }
            _ => p.fetch(w.fetch_offset, limit, min_one, read_committed),
        };
        match read {
            Ok(f) => {
                d.high_watermark = f.high_watermark;
                d.last_stable_offset = f.last_stable_offset;
                d.log_start_offset = f.log_start_offset;
                if let Some(b) = f.records {
                    total += b.len();
                    d.records = Some(b);
                }
            }
            Err(e) => {
                // Kafka's `createLogReadResult(e)`: the offsets stay unknown (-1), so a
                // consumer resets through ListOffsets rather than trusting this answer.
                any_error = true;
                d.error_code = log_error(&e).code();
            }
        }
        // As Kafka: a list (maybe empty) for read_committed, null for read_uncommitted.
        d.aborted_transactions = read_committed.then(|| aborted(p, w.fetch_offset, d.records.as_ref()));
        if version < 5 {
            d.log_start_offset = -1;
        }
        out.push(d);
    }
    (out, total, any_error)
}

/// Kafka's truncation check (`Partition.readRecords`) for a fetch that names the epoch of
/// the last batch it fetched (v12+; kafka-python 3 sends it): an epoch this log does not
/// know, or a fetch offset below the log start, is OFFSET_OUT_OF_RANGE; an epoch that ended
/// here below the fetch offset, or that this log only knows under an older epoch, makes the
/// answer the diverging epoch and its end instead of records, and the fetcher truncates.
fn diverging_epoch(p: &Partition, w: &Wanted) -> Result<Option<EpochEndOffset>, ResponseError> {
    if w.last_fetched_epoch < 0 {
        return Ok(None);
    }
    let (epoch, end) = p.end_offset_for_epoch(w.last_fetched_epoch);
    if epoch < 0 || end < 0 || w.fetch_offset < p.log_start_offset() {
        return Err(ResponseError::OffsetOutOfRange);
    }
    Ok((epoch < w.last_fetched_epoch || end < w.fetch_offset).then(|| {
        let mut e = EpochEndOffset::default();
        e.epoch = epoch;
        e.end_offset = end;
        e
    }))
}

/// The aborted transactions a read_committed consumer needs for the records returned:
/// those overlapping `[fetch_offset, end of the last batch)`.
fn aborted(p: &Partition, fetch_offset: i64, records: Option<&Bytes>) -> Vec<AbortedTransaction> {
    let Some(records) = records else { return vec![] };
    let Some(upper) = crate::log::record::batch::iter_batches(records)
        .last()
        .map(|(_, h)| h.last_offset() + 1)
    else {
        return vec![];
    };
    p.aborted_txns(fetch_offset, upper)
        .into_iter()
        .map(|t| {
            let mut a = AbortedTransaction::default();
            a.producer_id = ProducerId(t.producer_id);
            a.first_offset = t.first_offset;
            a
        })
        .collect()
}

pub async fn handle(broker: &Broker, req: FetchRequest, version: i16, listener: &str) -> FetchResponse {
    let mut resp = FetchResponse::default();
    if req.session_epoch > 0 {
        resp.error_code = ResponseError::FetchSessionIdNotFound.code();
        resp.session_id = req.session_id;
        return resp;
    }
    // A follower reads without isolation (Kafka's FetchIsolation.LOG_END).
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let follower = broker.replication().filter(|_| replica_id >= 0).map(|r| FollowerFetch {
        replica_id,
        replication: r,
    });
    let read_committed = req.isolation_level == 1 && follower.is_none();
    let mut topics: Vec<(TopicName, Uuid)> = Vec::with_capacity(req.topics.len());
    let mut wanted = vec![];
    for ft in &req.topics {
        let (topic, unknown) = if version >= 13 {
            (broker.logs().topic_by_id(&ft.topic_id), ResponseError::UnknownTopicId)
        } else {
            (
                broker.logs().topic(ft.topic.0.as_str()),
                ResponseError::UnknownTopicOrPartition,
            )
        };
        let image = broker.image();
        let topic = topic.filter(|t| Broker::serves(image.as_deref(), t));
        topics.push((ft.topic.clone(), ft.topic_id));
        // In a cluster, the topic's name in the image (only then: no copy on a single broker).
        let cluster_name = image.as_ref().and_then(|i| {
            if version >= 13 {
                i.topics.get(&ft.topic_id).map(|t| t.name.clone())
            } else {
                Some(ft.topic.0.to_string())
            }
        });
        for fp in &ft.partitions {
            let led = match (&image, cluster_name.as_deref()) {
                (None, _) => Leadership::Here,
                (Some(i), Some(n)) => broker.leadership_in(i, n, fp.partition),
                (Some(_), None) if topic.is_some() => Leadership::Here,
                (Some(_), None) => Leadership::Unknown,
            };
            let elsewhere = match led {
                Leadership::Elsewhere { leader, leader_epoch } => Some((leader, leader_epoch)),
                _ => None,
            };
            let not_open = led == Leadership::Here
                && cluster_name.is_some()
                && topic
                    .as_ref()
                    .and_then(|t| t.partitions.by_index(fp.partition))
                    .is_none();
            let current_leader_epoch = if version >= 9 && fp.current_leader_epoch >= 0 {
                fp.current_leader_epoch
            } else {
                -1
            };
            let leader_state = match (&follower, &topic) {
                (Some(f), Some(t)) if led == Leadership::Here => f
                    .replication
                    .leader(&t.name, fp.partition)
                    .filter(|s| s.has_follower(f.replica_id)),
                _ => None,
            };
            let not_a_follower = follower.is_some() && leader_state.is_none();
            let log = match &topic {
                _ if led == Leadership::Unknown => Err(unknown),
                // Kafka's `followerReplicaOrThrow`.
                _ if not_a_follower && elsewhere.is_none() && current_leader_epoch >= 0 => {
                    Err(ResponseError::UnknownLeaderEpoch)
                }
                _ if not_a_follower => Err(ResponseError::NotLeaderOrFollower),
                // Elsewhere, or here by the image but with its log not open yet.
                _ if elsewhere.is_some() || not_open => Err(ResponseError::NotLeaderOrFollower),
                None => Err(unknown),
                Some(t) => usize::try_from(fp.partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i).cloned())
                    .ok_or(ResponseError::UnknownTopicOrPartition),
            };
            wanted.push(Wanted {
                topic_idx: topics.len() - 1,
                partition: fp.partition,
                fetch_offset: fp.fetch_offset,
                max_bytes: fp.partition_max_bytes.max(0) as usize,
                // Kafka's `FetchRequest.optionalEpoch`: any negative epoch means none.
                current_leader_epoch,
                last_fetched_epoch: if version >= 12 { fp.last_fetched_epoch } else { -1 },
                log,
                elsewhere,
                leader_state,
            });
        }
    }
    // Kafka clamps the client's limits to the broker's fetch.max.bytes.
    let cap = broker.config().fetch_max_bytes;
    let max_bytes = (req.max_bytes.max(0) as usize).min(cap);
    for w in &mut wanted {
        w.max_bytes = w.max_bytes.min(cap);
    }
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut shutdown = broker.shutdown_signal();
    let notify = Arc::new(Notify::new());
    let mut leaders = std::collections::BTreeSet::new();
    let parts = loop {
        // Register before reading so an append between the read and the wait still wakes us.
        for w in &wanted {
            if let Ok(p) = &w.log {
                p.register_waiter(&notify);
            }
        }
        let (parts, total, any_error) = read_all(
            &wanted,
            max_bytes,
            read_committed,
            version,
            broker.node_id(),
            &mut leaders,
            follower,
        );
        if total >= min_bytes
            || any_error
            || wanted.is_empty()
            || tokio::time::Instant::now() >= deadline
            || *shutdown.borrow()
        {
            break parts;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    };
    let mut responses: Vec<FetchableTopicResponse> = topics
        .into_iter()
        .map(|(name, id)| {
            let mut t = FetchableTopicResponse::default();
            t.topic = name;
            t.topic_id = id;
            t
        })
        .collect();
    for (w, d) in wanted.iter().zip(parts) {
        responses[w.topic_idx].partitions.push(d);
    }
    resp.responses = responses;
    resp.node_endpoints = super::leader_endpoints(broker, listener, &leaders)
        .into_iter()
        .map(|(id, host, port, rack)| {
            let mut n = NodeEndpoint::default();
            n.node_id = BrokerId(id);
            n.host = host;
            n.port = port;
            n.rack = rack;
            n
        })
        .collect();
    resp
}
