//! Fetch (key 1): serves stored batch bytes as they lie (zero-copy `Bytes` of the segment
//! mapping), honouring max_bytes / partition_max_bytes (the first batch always fits, KIP-74)
//! and long-polling for min_bytes up to max_wait_ms. The wait is event-driven: the fetch
//! registers with every partition it reads *before* reading, and any append wakes it.
//!
//! Fetch sessions (KIP-227) are not kept: every fetch is answered in full with session id
//! 0, which is Kafka's own answer when its session cache is full; an incremental request
//! (epoch > 0) for an unknown session gets FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::sync::Notify;
use uuid::Uuid;

use super::errors::log_error;
use crate::broker::Broker;
use crate::log::Partition;
use kafka_protocol::messages::TopicName;

/// One requested partition, resolved.
struct Wanted {
    topic_idx: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    log: Result<Arc<Partition>, ResponseError>,
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
) -> (Vec<PartitionData>, usize, bool) {
    let mut out = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut any_error = false;
    for w in wanted {
        let p = match &w.log {
            Ok(p) => p,
            Err(e) => {
                any_error = true;
                out.push(empty_partition(w.partition, e.code()));
                continue;
            }
        };
        let remaining = max_bytes.saturating_sub(total);
        let limit = w.max_bytes.min(remaining);
        let min_one = total == 0;
        let mut d = empty_partition(w.partition, 0);
        match p.read(w.fetch_offset, limit, min_one, read_committed) {
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
        if read_committed {
            d.aborted_transactions = Some(aborted(p, w.fetch_offset, d.records.as_ref()));
        }
        if version < 5 {
            d.log_start_offset = -1;
        }
        out.push(d);
    }
    (out, total, any_error)
}

/// The aborted transactions a read_committed consumer needs for the records returned:
/// those overlapping `[fetch_offset, end of the last batch)`.
fn aborted(p: &Partition, fetch_offset: i64, records: Option<&Bytes>) -> Vec<AbortedTransaction> {
    let Some(records) = records else { return vec![] };
    let Some(upper) = crate::log::batch::iter_batches(records)
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

pub async fn handle(broker: &Broker, req: FetchRequest, version: i16) -> FetchResponse {
    let mut resp = FetchResponse::default();
    if req.session_epoch > 0 {
        resp.error_code = ResponseError::FetchSessionIdNotFound.code();
        resp.session_id = req.session_id;
        return resp;
    }
    let read_committed = req.isolation_level == 1;
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
        topics.push((ft.topic.clone(), ft.topic_id));
        for fp in &ft.partitions {
            let log = match &topic {
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
                log,
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
    let parts = loop {
        // Register before reading so an append between the read and the wait still wakes us.
        for w in &wanted {
            if let Ok(p) = &w.log {
                p.register_waiter(&notify);
            }
        }
        let (parts, total, any_error) = read_all(&wanted, max_bytes, read_committed, version);
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
    resp
}
