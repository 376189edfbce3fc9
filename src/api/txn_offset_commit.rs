//! TxnOffsetCommit: a transactional producer commits a consumer group's offsets inside its
//! transaction (`send_offsets_to_transaction`). The group's `__consumer_offsets` partition
//! must be in the transaction (AddOffsetsToTxn; otherwise INVALID_TXN_STATE, or
//! TRANSACTION_ABORTABLE from v4), the producer current (else INVALID_PRODUCER_EPOCH or
//! INVALID_PRODUCER_ID_MAPPING), and the member and generation valid when given (v3+).
//! The offsets are written inside the transaction and become the group's committed offsets
//! only when it commits (see `group::txn_offsets`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::errors::{group_error, txn_error};
use crate::broker::Broker;
use crate::group::state::CommittedOffset;
use crate::log::now_ms;
use crate::txn::state::TxnError;

pub async fn handle(broker: &Broker, req: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitResponse {
    let group_id = req.group_id.0.to_string();
    let topics = req.topics.iter().map(|t| {
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                let epoch = if version >= 2 { p.committed_leader_epoch } else { -1 };
                let meta = p.committed_metadata.as_ref().map(|m| m.to_string());
                (p.partition_index, p.committed_offset, epoch, meta)
            })
            .collect();
        (t.name.0.to_string(), parts)
    });
    let (decided, to_commit) = super::offset_commit::check_offsets(broker, topics, now_ms(), None);
    let common = if group_id.is_empty() {
        Some(ResponseError::InvalidGroupId)
    } else if to_commit.is_empty() {
        None
    } else {
        commit(broker, &req, &group_id, to_commit, version).await.err()
    };
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = decided
        .into_iter()
        .map(|(name, parts)| {
            let mut t = TxnOffsetCommitResponseTopic::default();
            t.name = super::topic_name(&name);
            t.partitions = parts
                .into_iter()
                .map(|(i, err)| {
                    let mut p = TxnOffsetCommitResponsePartition::default();
                    p.partition_index = i;
                    p.error_code = err.or(common).map(|e| e.code()).unwrap_or(0);
                    p
                })
                .collect();
            t
        })
        .collect();
    resp
}

/// Verifies the transaction, then hands the offsets to the group while holding the
/// transaction's append guard (no marker can pass the write).
async fn commit(
    broker: &Broker,
    req: &TxnOffsetCommitRequest,
    group_id: &str,
    offsets: Vec<((String, i32), CommittedOffset)>,
    version: i16,
) -> Result<(), ResponseError> {
    if let Err(e) = broker.groups().ensure_offsets_topic().await {
        tracing::error!(error = %e, "creating __consumer_offsets failed");
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    let partition = broker.groups().offsets_partition(group_id);
    let (id, pid, epoch) = (&req.transactional_id, req.producer_id.0, req.producer_epoch);
    // In a cluster, a transactional id coordinated elsewhere is verified there.
    let elsewhere = match broker.logs().partition(crate::group::OFFSETS_TOPIC, partition) {
        Some(p) if broker.image().is_some() => broker.txns().verify_elsewhere(id, pid, epoch, &p).await,
        _ => Ok(false),
    };
    let guard = match elsewhere {
        Ok(true) => Ok(None),
        Ok(false) => broker
            .txns()
            .begin_offset_commit(id, pid, epoch, partition)
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    let guard = guard.map_err(|e| match e {
        TxnError::InvalidTxnState if version >= 4 => ResponseError::TransactionAbortable,
        // The brokers' verification reports a fenced producer as INVALID_PRODUCER_EPOCH.
        e => txn_error(&e, false),
    })?;
    let (member, instance) = if version >= 3 {
        (
            req.member_id.to_string(),
            req.group_instance_id.as_deref().map(str::to_string),
        )
    } else {
        (String::new(), None)
    };
    let generation = if version >= 3 { req.generation_id } else { -1 };
    let done = broker
        .groups()
        .txn_commit(
            group_id,
            req.producer_id.0,
            req.producer_epoch,
            &member,
            instance.as_deref(),
            generation,
            offsets,
        )
        .await;
    drop(guard);
    done.map_err(|e| match e {
        // Kafka's answer on this path is INVALID_PRODUCER_EPOCH (librdkafka: fatal).
        crate::group::GroupError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        e => group_error(&e),
    })
}
