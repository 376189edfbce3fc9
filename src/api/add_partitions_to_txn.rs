//! AddPartitionsToTxn: v0-v3 add one transaction's partitions (what clients send); v4+
//! carry a batch of transactions, each either added or, with `verify_only`, checked
//! (KIP-890: the brokers' partition verification). A partition that does not exist gets
//! UNKNOWN_TOPIC_OR_PARTITION, an internal topic TOPIC_AUTHORIZATION_FAILED before v4 (use
//! AddOffsetsToTxn), and then every other partition of that transaction gets
//! OPERATION_NOT_ATTEMPTED and nothing is added. A coordinator error applies to all of the
//! transaction's partitions; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::errors::txn_error;
use crate::broker::Broker;
use crate::log::internal::is_internal;

/// Each partition of a topic with the error found before the coordinator is asked.
type PartitionErrors = Vec<(i32, Option<ResponseError>)>;

/// Each topic's partitions with their codes.
type Codes = Vec<(String, Vec<(i32, i16)>)>;

/// One transaction to add (or verify).
struct Txn {
    id: String,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: Vec<AddPartitionsToTxnTopic>,
}

/// The code of every requested partition, by topic, in request order.
async fn run(broker: &Broker, t: Txn, version: i16) -> Codes {
    let requested: Vec<(String, Vec<i32>)> = t
        .topics
        .iter()
        .map(|tp| (tp.name.0.to_string(), tp.partitions.clone()))
        .collect();
    let all = |code: i16| -> Codes {
        requested
            .iter()
            .map(|(n, ps)| (n.clone(), ps.iter().map(|p| (*p, code)).collect()))
            .collect()
    };
    if t.id.is_empty() {
        return all(ResponseError::InvalidRequest.code());
    }
    // Per partition: an error found before the coordinator is asked.
    let mut failed = false;
    let checked: Vec<(String, PartitionErrors)> = requested
        .iter()
        .map(|(name, ps)| {
            let errs = ps
                .iter()
                .map(|&p| {
                    let err = if version < 4 && is_internal(name) {
                        Some(ResponseError::TopicAuthorizationFailed)
                    } else if !broker.partition_exists(name, p) {
                        Some(ResponseError::UnknownTopicOrPartition)
                    } else {
                        None
                    };
                    failed |= err.is_some();
                    (p, err)
                })
                .collect();
            (name.clone(), errs)
        })
        .collect();
    if failed {
        return checked
            .into_iter()
            .map(|(n, ps)| {
                let codes = ps
                    .into_iter()
                    .map(|(p, e)| (p, e.unwrap_or(ResponseError::OperationNotAttempted).code()))
                    .collect();
                (n, codes)
            })
            .collect();
    }
    let flat: Vec<(String, i32)> = requested
        .iter()
        .flat_map(|(n, ps)| ps.iter().map(move |p| (n.clone(), *p)))
        .collect();
    let fenced_known = version >= 2;
    if t.verify_only {
        return match broker.txns().verify_partitions(&t.id, t.producer_id, t.epoch, &flat) {
            Ok(ins) => {
                let mut ins = ins.into_iter();
                requested
                    .iter()
                    .map(|(n, ps)| {
                        let codes = ps
                            .iter()
                            .map(|p| {
                                let ok = ins.next().unwrap_or(false);
                                (
                                    *p,
                                    if ok {
                                        0
                                    } else {
                                        ResponseError::TransactionAbortable.code()
                                    },
                                )
                            })
                            .collect();
                        (n.clone(), codes)
                    })
                    .collect()
            }
            Err(e) => all(txn_error(&e, fenced_known).code()),
        };
    }
    match broker.txns().add_partitions(&t.id, t.producer_id, t.epoch, flat).await {
        Ok(()) => all(0),
        Err(e) => all(txn_error(&e, fenced_known).code()),
    }
}

fn topic_results(codes: Codes) -> Vec<AddPartitionsToTxnTopicResult> {
    codes
        .into_iter()
        .map(|(name, ps)| {
            let mut t = AddPartitionsToTxnTopicResult::default();
            t.name = super::topic_name(&name);
            t.results_by_partition = ps
                .into_iter()
                .map(|(p, code)| {
                    let mut r = AddPartitionsToTxnPartitionResult::default();
                    r.partition_index = p;
                    r.partition_error_code = code;
                    r
                })
                .collect();
            t
        })
        .collect()
}

pub async fn handle(broker: &Broker, req: AddPartitionsToTxnRequest, version: i16) -> AddPartitionsToTxnResponse {
    let mut resp = AddPartitionsToTxnResponse::default();
    if version < 4 {
        let t = Txn {
            id: req.v3_and_below_transactional_id.0.to_string(),
            producer_id: req.v3_and_below_producer_id.0,
            epoch: req.v3_and_below_producer_epoch,
            verify_only: false,
            topics: req.v3_and_below_topics,
        };
        resp.results_by_topic_v3_and_below = topic_results(run(broker, t, version).await);
        return resp;
    }
    for tx in req.transactions {
        let mut r = AddPartitionsToTxnResult::default();
        r.transactional_id = tx.transactional_id.clone();
        let t = Txn {
            id: tx.transactional_id.0.to_string(),
            producer_id: tx.producer_id.0,
            epoch: tx.producer_epoch,
            verify_only: tx.verify_only,
            topics: tx.topics,
        };
        r.topic_results = topic_results(run(broker, t, version).await);
        resp.results_by_transaction.push(r);
    }
    resp
}
