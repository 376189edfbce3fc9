//! Internal topics written by the coordinators (`__consumer_offsets`,
//! `__transaction_state`): created on first use with the coordinator's partition count and
//! settings, keyed records appended durably through the produce path, and read back in full
//! at start-up.
//!
//! Owns: the record-batch form of coordinator writes (kafka-protocol's encoder, v2,
//! uncompressed; transactional when a producer is given) and walking a partition's batches
//! in order, control batches (transaction markers) included.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::manager::{TopicError, TopicLog, append_durably};
use super::partition::{AppendInfo, Origin};
use super::record::batch::{self, iter_batches};
use super::{LogError, LogManager, Partition};

/// Java's `String.hashCode` (over UTF-16 code units), which Kafka's coordinators hash
/// keys with.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The partition of a coordinator key (group id, transactional id): Kafka's
/// `Utils.abs(hash) % partitions`.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let h = java_string_hash(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// The internal topics: committed offsets and transaction state. Clients may not create,
/// delete or produce to them; Metadata marks them `is_internal`.
pub const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Whether `topic` is one of [`INTERNAL_TOPICS`].
pub fn is_internal(topic: &str) -> bool {
    INTERNAL_TOPICS.contains(&topic)
}

/// One internal topic.
#[derive(Debug)]
pub struct InternalTopic {
    logs: Arc<LogManager>,
    name: &'static str,
    partitions: i32,
    overrides: BTreeMap<String, String>,
    create: tokio::sync::Mutex<()>,
}

impl InternalTopic {
    pub fn new(
        logs: Arc<LogManager>,
        name: &'static str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Self {
        InternalTopic {
            logs,
            name,
            partitions,
            overrides,
            create: tokio::sync::Mutex::new(()),
        }
    }

    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// The topic if it exists (start-up reads do not create it).
    pub fn existing(&self) -> Option<Arc<TopicLog>> {
        self.logs.topic(self.name)
    }

    /// The topic, created with the coordinator's settings if missing.
    pub async fn topic(&self) -> Result<Arc<TopicLog>, TopicError> {
        if let Some(t) = self.logs.topic(self.name) {
            return Ok(t);
        }
        let _g = self.create.lock().await;
        if let Some(t) = self.logs.topic(self.name) {
            return Ok(t);
        }
        let (logs, name, n, overrides) = (self.logs.clone(), self.name, self.partitions, self.overrides.clone());
        let created = tokio::task::spawn_blocking(move || logs.create_topic(name, n, overrides))
            .await
            .map_err(|e| TopicError::Log(LogError::Invalid(format!("creating {name} failed: {e}"))))?;
        match created {
            Err(TopicError::AlreadyExists(_)) => {
                self.logs
                    .topic(self.name)
                    .ok_or(TopicError::Log(LogError::Invalid(format!(
                        "{} vanished while being created",
                        self.name
                    ))))
            }
            other => other,
        }
    }

    /// Whether `key`'s partition exists and is in a failed log dir: its coordinator is then
    /// unavailable, as Kafka's broker resigns the coordinator of an offline partition.
    pub fn is_offline(&self, key: &str) -> bool {
        self.existing().is_some_and(|t| {
            let p = partition_for(key, t.partitions.len() as i32);
            t.partitions.get(p as usize).is_some_and(|p| p.is_offline())
        })
    }

    /// The partition that holds `key`'s records.
    pub async fn partition_of(&self, key: &str) -> Result<Arc<Partition>, TopicError> {
        let topic = self.topic().await?;
        let p = partition_for(key, topic.partitions.len() as i32);
        Ok(topic.partitions[p as usize].clone())
    }

    /// Appends `records` (key, value or tombstone) to `key`'s partition as one batch,
    /// transactional for `producer` (id, epoch) when given; answered after the flush policy
    /// is satisfied.
    pub async fn append(
        &self,
        key: &str,
        records: &[(Bytes, Option<Bytes>)],
        producer: Option<(i64, i16)>,
    ) -> Result<AppendInfo, TopicError> {
        let partition = self.partition_of(key).await?;
        let now = super::now_ms();
        let batch = encode_batch(records, now, producer);
        let origin = if producer.is_some() {
            Origin::Coordinator
        } else {
            Origin::Client
        };
        Ok(append_durably(&partition, &batch, now, origin).await?)
    }
}

/// The end of a coordinator's snapshot-style compaction of partition `p`: once every live
/// key has been re-appended after `cut`, the sealed segments ending at or below it are
/// fsynced away. Returns how many were removed (errors are logged).
pub async fn drop_superseded(p: &Arc<Partition>, cut: i64) -> usize {
    let pc = p.clone();
    let deleted = tokio::task::spawn_blocking(move || {
        pc.flush(i64::MAX)?;
        pc.delete_segments_before(cut)
    })
    .await;
    match deleted {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            tracing::error!(topic = p.topic(), partition = p.index(), error = %e, "compaction failed");
            0
        }
        Err(e) => {
            tracing::error!(topic = p.topic(), partition = p.index(), error = %e, "compaction task failed");
            0
        }
    }
}

/// Encodes records as one v2 batch (uncompressed, CreateTime `now_ms`), transactional for
/// `producer` when given (Kafka's coordinators write base sequence 0; the log does not check
/// a coordinator's sequences).
pub fn encode_batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64, producer: Option<(i64, i16)>) -> Bytes {
    let (pid, epoch, base_seq) = match producer {
        Some((pid, epoch)) => (pid, epoch, 0),
        None => (-1, -1, -1),
    };
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol keeps records in one batch while sequence - offset is constant.
            sequence: base_seq + i as i32,
            timestamp: now_ms,
            key: Some(k.clone()),
            value: v.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding uncompressed records into memory cannot fail.
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, records.iter(), &opts) {
        tracing::error!(error = %e, "encoding internal-topic records failed");
    }
    buf.freeze()
}

/// What a stored batch was written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchKind {
    pub base_offset: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transactional: bool,
    /// `Some(commit)` for a transaction marker.
    pub marker: Option<bool>,
}

/// One item of a partition, in log order.
#[derive(Debug, Clone)]
pub enum Item {
    /// A keyed record (value `None` = tombstone) of a data batch.
    Record {
        batch: BatchKind,
        key: Bytes,
        value: Option<Bytes>,
    },
    /// A transaction marker.
    Marker(BatchKind),
}

/// Reads every batch of `p` from its log start to its high watermark (blocking). Batches
/// that cannot be decoded are skipped with a warning.
pub fn read_all(p: &Partition) -> Result<Vec<Item>, LogError> {
    read_items(p, false)
}

/// [`read_all`] to the log end: a coordinator elected leader of a replicated partition
/// loads what its log holds (Kafka's `CoordinatorLoader`), the tail its followers have not
/// confirmed yet included: as the leader, that tail is the partition's history.
pub fn read_all_to_log_end(p: &Partition) -> Result<Vec<Item>, LogError> {
    read_items(p, true)
}

/// [`read_all_to_log_end`] of `topic`-`p` on a blocking thread; why not, as text.
pub async fn load_to_log_end(logs: &LogManager, topic: &str, p: i32) -> Result<Vec<Item>, String> {
    let partition = logs
        .partition(topic, p)
        .ok_or_else(|| "the partition is not hosted here".to_string())?;
    tokio::task::spawn_blocking(move || read_all_to_log_end(&partition))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

fn read_items(p: &Partition, to_log_end: bool) -> Result<Vec<Item>, LogError> {
    let mut out = vec![];
    let mut offset = p.log_start_offset();
    let end = if to_log_end {
        p.log_end_offset()
    } else {
        p.high_watermark()
    };
    while offset < end {
        let data = if to_log_end {
            p.read_to_log_end(offset, 8 << 20)?
        } else {
            p.read(offset, 8 << 20, true, false)?
        };
        let Some(bytes) = data.records.filter(|b| !b.is_empty()) else {
            break;
        };
        let mut next = offset;
        for (at, h) in iter_batches(&bytes) {
            next = h.last_offset() + 1;
            let kind = BatchKind {
                base_offset: h.base_offset(),
                producer_id: h.producer_id(),
                producer_epoch: h.producer_epoch(),
                transactional: h.is_transactional(),
                marker: if h.is_control() {
                    batch::marker_is_commit(&h)
                } else {
                    None
                },
            };
            if h.is_control() {
                if kind.marker.is_some() {
                    out.push(Item::Marker(kind));
                }
                continue;
            }
            let mut b = bytes.slice(at..at + h.len());
            match RecordBatchDecoder::decode(&mut b) {
                Ok(set) => {
                    for r in set.records {
                        if let Some(key) = r.key {
                            out.push(Item::Record {
                                batch: kind,
                                key,
                                value: r.value,
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = p.topic(), offset = h.base_offset(), error = %e, "skipping an unreadable batch")
                }
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_batches_carry_the_producer() {
        let recs = vec![
            (Bytes::from_static(b"k1"), Some(Bytes::from_static(b"v"))),
            (Bytes::from_static(b"k2"), None),
        ];
        let b = encode_batch(&recs, 7, Some((42, 3)));
        let h = batch::BatchHeader::parse_validated(&b).unwrap();
        assert_eq!((h.records_count(), h.producer_id(), h.producer_epoch()), (2, 42, 3));
        assert!(h.is_transactional());
        assert_eq!(h.base_sequence(), 0);
        let plain = encode_batch(&recs, 7, None);
        let h = batch::BatchHeader::parse_validated(&plain).unwrap();
        assert!(!h.is_transactional() && h.producer_id() == -1 && h.base_sequence() == -1);
    }
}
