//! Produce (key 0): validates each partition's RecordBatch (v2 magic, framing, CRC32C, size,
//! timestamps), appends it verbatim with offsets assigned, and answers per partition.
//! acks=0 gets no response (and a closed connection if anything failed, as Kafka);
//! acks=1/-1 are answered after the append, and after the fsync when the flush policy asks
//! for one: every partition of the request is appended first, then their fsyncs run
//! together ([`Durability`]), and the connection may read the next produce meanwhile.
//! Produce never auto-creates topics (Metadata does). Transactional batches are
//! admitted only to partitions of the producer's ongoing transaction.
//!
//! In a cluster, a partition with followers takes acks=all only while its ISR has
//! `min.insync.replicas` members (NOT_ENOUGH_REPLICAS), and is answered once the ISR holds
//! the batch (`replica/acks.rs`: NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};

use super::errors::log_error;
use super::message;
use crate::broker::{Broker, Leadership};
use crate::log::manager::{append_validated, validate_topic_name};
use crate::log::partition::Origin;
use crate::log::partition::group_commit::FlushWait;
use crate::log::record::batch::BatchHeader;
use crate::log::{LogError, Partition, now_ms};
use crate::replica::LeaderState;
use crate::replica::acks::ReplicationWait;
use crate::txn::TransactionCoordinator;
use crate::txn::state::TxnError;

fn is_transactional(records: &[u8]) -> bool {
    BatchHeader::parse_unchecked(records).is_ok_and(|h| h.is_transactional())
}

/// The compression codec id of the batch, if it has a readable header.
fn codec(records: &[u8]) -> Option<i16> {
    BatchHeader::parse_unchecked(records)
        .ok()
        .map(|h| h.attributes() & 0x07)
}

/// What the connection does with a produce.
#[derive(Debug)]
pub enum Outcome {
    /// Answer with the response once the appends are durable ([`Durability::wait`]).
    Respond(ProduceResponse, Durability),
    /// acks=0 and every partition succeeded.
    NoResponse,
    /// acks=0 and a partition failed: Kafka closes the connection so the client notices.
    CloseConnection(String),
}

/// What a produce response waits for: fsyncs and, for acks=all on replicated partitions,
/// the ISR (each with its topic position and partition position).
#[derive(Debug, Default)]
pub struct Durability {
    flushes: Vec<(usize, usize, FlushWait)>,
    replicas: Vec<(usize, usize, ReplicationWait)>,
}

impl Durability {
    /// Nothing to wait for.
    pub fn is_empty(&self) -> bool {
        self.flushes.is_empty() && self.replicas.is_empty()
    }

    /// Waits for every fsync and replication; a partition whose fsync failed (and which is
    /// now fenced), or whose ISR did not take the batch, is answered with the error instead
    /// of its offset.
    pub async fn wait(self, resp: &mut ProduceResponse) {
        for (t, i, flush) in self.flushes {
            if let Err(e) = flush.wait().await
                && let Some(r) = resp.responses.get_mut(t).and_then(|t| t.partition_responses.get_mut(i))
            {
                *r = partition_error(r.index, log_error(&e), Some(e.to_string()));
            }
        }
        for (t, i, wait) in self.replicas {
            if let Err((e, msg)) = wait.wait().await
                && let Some(r) = resp.responses.get_mut(t).and_then(|t| t.partition_responses.get_mut(i))
                && r.error_code == 0
            {
                *r = partition_error(r.index, e, msg);
            }
        }
    }
}

/// The `error_message` Kafka sends with a failed append: only a record-validation failure
/// carries one (`hasCustomErrorMessage`); a batch refused whole (malformed, too large)
/// carries none, and brokk logs the reason instead. Other errors keep brokk's explanation.
fn append_error_message(e: &LogError) -> Option<String> {
    match e {
        LogError::CorruptBatch(crate::log::record::batch::BatchError::BadMagic(m)) if *m > 2 => {
            Some(format!("Invalid magic found in record: {m}"))
        }
        LogError::CorruptBatch(_) | LogError::BatchTooLarge { .. } | LogError::NotOneBatch(_) => {
            tracing::debug!(error = %e, "produce refused");
            None
        }
        _ => Some(e.to_string()),
    }
}

fn partition_error(index: i32, err: ResponseError, msg: Option<String>) -> PartitionProduceResponse {
    let mut r = PartitionProduceResponse::default();
    r.index = index;
    r.error_code = err.code();
    r.base_offset = -1;
    r.log_append_time_ms = -1;
    r.log_start_offset = -1;
    r.error_message = msg.and_then(message);
    r
}

/// The produce error for a failed transaction verification, as Kafka's ReplicaManager
/// maps it: a partition not in the transaction is INVALID_TXN_STATE (TRANSACTION_ABORTABLE
/// from v11), a fenced producer INVALID_PRODUCER_EPOCH, and a transaction still completing
/// the retriable NOT_ENOUGH_REPLICAS.
fn verification_error(e: &TxnError, version: i16) -> ResponseError {
    match e {
        TxnError::InvalidTxnState if version >= 11 => ResponseError::TransactionAbortable,
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
        TxnError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::ConcurrentTransactions
        | TxnError::Storage(_)
        | TxnError::InvalidTransactionTimeout
        | TxnError::NotCoordinator
        | TxnError::LoadInProgress => ResponseError::NotEnoughReplicas,
    }
}

/// The answer for a batch that was refused.
fn append_failure(p: &Partition, index: i32, e: LogError) -> PartitionProduceResponse {
    // Kafka's ReplicaManager answers the producer-state errors (its catch-all branch) with
    // the partition's log start offset and no message.
    let producer_state = matches!(
        e,
        LogError::InvalidProducerEpoch(_) | LogError::OutOfOrderSequence(_) | LogError::InvalidTxnState(_)
    );
    if producer_state {
        tracing::debug!(error = %e, "produce refused");
        let mut r = partition_error(index, log_error(&e), None);
        r.log_start_offset = p.log_start_offset();
        return r;
    }
    let mut r = partition_error(index, log_error(&e), append_error_message(&e));
    if let LogError::RecordErrors { errors, .. } = &e {
        r.log_start_offset = p.log_start_offset();
        r.record_errors = errors
            .iter()
            .map(|(i, m)| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(*i)
                    .with_batch_index_error_message(message(m.clone()))
            })
            .collect();
    }
    r
}

/// Appends one partition's records, returning the answer, the fsync it waits for and the
/// last offset appended.
#[allow(clippy::too_many_arguments)]
async fn produce_partition(
    txns: &TransactionCoordinator,
    transactional_id: &str,
    p: &Arc<Partition>,
    index: i32,
    records: &Bytes,
    acks: i16,
    version: i16,
    leader: Option<&LeaderState>,
) -> (PartitionProduceResponse, Option<FlushWait>, i64) {
    // Kafka's `getPartitionOrException` comes before the ISR check and the LogValidator.
    if p.is_offline() {
        return (append_failure(p, index, LogError::Fenced), None, -1);
    }
    if let Some(state) = leader {
        let (isr, _) = state.isr();
        if acks == -1 && isr.len() < state.min_isr() {
            let members: Vec<String> = isr.iter().map(i32::to_string).collect();
            let msg = format!(
                "The size of the current ISR Set({}) is insufficient to satisfy the min.isr requirement of {} for partition {}-{index}",
                members.join(", "),
                state.min_isr(),
                p.topic()
            );
            return (
                partition_error(index, ResponseError::NotEnoughReplicas, Some(msg)),
                None,
                -1,
            );
        }
    }
    // With no replica elsewhere, Kafka's effective `min.insync.replicas` is at most the
    // replica count, one (`Partition.effectiveMinIsr`): acks=all is never refused.
    // Kafka's LogValidator, before the transaction guard is taken; a compressed batch is
    // decompressed and walked on a blocking thread, not on the connections' workers.
    let now = now_ms();
    let validated = if codec(records).is_some_and(|c| c != 0) {
        let (p2, r2) = (p.clone(), records.clone());
        tokio::task::spawn_blocking(move || p2.validate(&r2, now))
            .await
            .unwrap_or_else(|e| Err(LogError::Invalid(format!("validation task failed: {e}"))))
    } else {
        p.validate(records, now)
    };
    let converted = match validated {
        Ok(c) => c,
        Err(e) => return (append_failure(p, index, e), None, -1),
    };
    let batch: &[u8] = converted.as_deref().unwrap_or(records);
    // A transactional batch must go to a partition of the producer's ongoing transaction
    // (KIP-890 verification); the guard keeps its marker out until the batch is in.
    let mut guard = None;
    if let Ok(h) = BatchHeader::parse_unchecked(records)
        && h.is_transactional()
    {
        // In a cluster, an id coordinated elsewhere is verified there (no guard: the
        // client ends its transaction only once this write is answered).
        let verified = match txns
            .verify_elsewhere(transactional_id, h.producer_id(), h.producer_epoch(), p)
            .await
        {
            Ok(true) => Ok(None),
            Ok(false) => txns
                .begin_append(transactional_id, h.producer_id(), h.producer_epoch(), p.topic(), index)
                .await
                .map(Some),
            Err(e) => Err(e),
        };
        match verified {
            Ok(g) => guard = g,
            Err(e) => {
                // Kafka's words for a partition outside the transaction; its other
                // verification errors carry their exception's text, brokk's its own.
                let msg = match e {
                    TxnError::InvalidTxnState => "Partition was not added to the transaction".to_string(),
                    _ => format!("transactional write refused: {e}"),
                };
                return (
                    partition_error(index, verification_error(&e, version), Some(msg)),
                    None,
                    -1,
                );
            }
        }
    }
    // The guard is released once the batch is in the log: a marker written after it is
    // fsynced with everything before it, this batch included.
    let appended = append_validated(p, batch, now, Origin::Client);
    drop(guard);
    let (info, flush) = match appended {
        Ok(a) => a,
        Err(e) => return (append_failure(p, index, e), None, -1),
    };
    let mut r = PartitionProduceResponse::default();
    r.index = index;
    r.base_offset = info.base_offset;
    r.log_append_time_ms = info.log_append_time;
    r.log_start_offset = info.log_start_offset;
    (r, flush, info.last_offset)
}

pub async fn handle(broker: &Broker, req: ProduceRequest, version: i16, listener: &str) -> Outcome {
    let acks = req.acks;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
    let req_txn_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
    let transactional_without_id = req_txn_id.is_none();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut durability = Durability::default();
    let mut failed = None;
    let mut leaders = std::collections::BTreeSet::new();
    for (ti, td) in req.topic_data.into_iter().enumerate() {
        let image = broker.image();
        let topic = if version >= 13 {
            broker.logs().topic_by_id(&td.topic_id)
        } else {
            broker.logs().topic(td.name.0.as_str())
        }
        .filter(|t| Broker::serves(image.as_deref(), t));
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId
        } else if validate_topic_name(td.name.0.as_str()).is_err() {
            ResponseError::InvalidTopicException
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut tr = TopicProduceResponse::default();
        tr.name = td.name.clone();
        tr.topic_id = td.topic_id;
        // In a cluster, the topic's name in the image (only then: no copy on a single broker).
        let cluster_name = image.as_ref().and_then(|i| {
            if version >= 13 {
                i.topics.get(&td.topic_id).map(|t| t.name.clone())
            } else {
                Some(td.name.0.to_string())
            }
        });
        for (pi, pd) in td.partition_data.into_iter().enumerate() {
            let led = match (&image, cluster_name.as_deref()) {
                (None, _) => Leadership::Here,
                (Some(i), Some(n)) => broker.leadership_in(i, n, pd.index),
                // An id the image does not know (a coordinator's internal topic by id).
                (Some(_), None) if topic.is_some() => Leadership::Here,
                (Some(_), None) => Leadership::Unknown,
            };
            let r = if !matches!(acks, -1..=1) {
                partition_error(pd.index, ResponseError::InvalidRequiredAcks, None)
            } else if let Leadership::Elsewhere { leader, leader_epoch } = led {
                // KIP-951 (v10+): where the leader is, so the client need not ask Metadata.
                let mut r = partition_error(pd.index, ResponseError::NotLeaderOrFollower, None);
                if version >= 10 && leader >= 0 {
                    r.current_leader.leader_id = BrokerId(leader);
                    r.current_leader.leader_epoch = leader_epoch;
                    leaders.insert(leader);
                }
                r
            } else if led == Leadership::Unknown {
                partition_error(pd.index, unknown, None)
            } else if image.is_some()
                && led == Leadership::Here
                && topic.as_ref().and_then(|t| t.partitions.by_index(pd.index)).is_none()
            {
                // The image made this broker the leader, but its log is not open yet (as
                // Kafka's broker before it has applied the change).
                partition_error(pd.index, ResponseError::NotLeaderOrFollower, None)
            } else {
                match (
                    topic
                        .as_ref()
                        .and_then(|t| usize::try_from(pd.index).ok().and_then(|i| t.partitions.get(i))),
                    &pd.records,
                ) {
                    (None, _) => partition_error(pd.index, unknown, None),
                    (Some(p), _) if crate::log::internal::is_internal(p.topic()) => partition_error(
                        pd.index,
                        ResponseError::InvalidTopicException,
                        Some(format!("Cannot append to internal topic {}", p.topic())),
                    ),
                    (Some(_), None) => {
                        partition_error(pd.index, ResponseError::InvalidRecord, Some("null records".into()))
                    }
                    // ProduceRequest.validateRecords: zstd needs Produce v7 (KIP-110).
                    (Some(_), Some(records)) if version < 7 && codec(records) == Some(4) => {
                        partition_error(pd.index, ResponseError::UnsupportedCompressionType, None)
                    }
                    (Some(_), Some(records)) if transactional_without_id && is_transactional(records) => {
                        // As Kafka: the code alone, no message.
                        partition_error(pd.index, ResponseError::TransactionalIdAuthorizationFailed, None)
                    }
                    (Some(p), Some(records)) => {
                        let id = req_txn_id.as_deref().unwrap_or_default();
                        let replicated = broker
                            .replication()
                            .and_then(|r| r.leader(p.topic(), pd.index).map(|s| (r.clone(), s)));
                        let leader = replicated.as_ref().map(|(_, s)| s.as_ref());
                        // A replicated partition this broker does not lead yet, or no more
                        // (its role is changing): the client retries.
                        let not_leading = broker.replication().is_some() && leader.is_none() && p.is_replicated();
                        let (r, flush, last_offset) = if not_leading {
                            (
                                partition_error(pd.index, ResponseError::NotLeaderOrFollower, None),
                                None,
                                -1,
                            )
                        } else {
                            produce_partition(broker.txns(), id, p, pd.index, records, acks, version, leader).await
                        };
                        if let Some(f) = flush
                            && acks != 0
                        {
                            durability.flushes.push((ti, pi, f));
                        }
                        if let Some((replication, state)) = replicated
                            && acks == -1
                            && r.error_code == 0
                        {
                            durability.replicas.push((
                                ti,
                                pi,
                                ReplicationWait {
                                    replication,
                                    state,
                                    required_offset: last_offset + 1,
                                    deadline,
                                },
                            ));
                        }
                        r
                    }
                }
            };
            if r.error_code != 0 && failed.is_none() {
                failed = Some(format!(
                    "produce to {}-{} failed with error {}",
                    td.name.0.as_str(),
                    pd.index,
                    r.error_code
                ));
            }
            tr.partition_responses.push(r);
        }
        responses.push(tr);
    }
    if acks == 0 {
        return match failed {
            Some(why) => Outcome::CloseConnection(why),
            None => Outcome::NoResponse,
        };
    }
    let mut resp = ProduceResponse::default();
    resp.responses = responses;
    resp.node_endpoints = super::leader_endpoints(broker, listener, &leaders)
        .into_iter()
        .map(|(id, host, port, rack)| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(id))
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
    Outcome::Respond(resp, durability)
}
