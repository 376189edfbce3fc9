//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the producer's
//! transaction, so its TxnOffsetCommits are settled by the transaction's marker. The group
//! need not exist. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::errors::txn_error;
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;

pub async fn handle(broker: &Broker, req: AddOffsetsToTxnRequest, version: i16) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    if req.transactional_id.is_empty() {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    // The partition must exist before it can take a marker.
    if let Err(e) = broker.groups().ensure_offsets_topic().await {
        tracing::error!(error = %e, "creating {OFFSETS_TOPIC} failed");
        resp.error_code = ResponseError::CoordinatorNotAvailable.code();
        return resp;
    }
    let partition = broker.groups().offsets_partition(&req.group_id);
    let added = broker
        .txns()
        .add_partitions(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            vec![(OFFSETS_TOPIC.to_string(), partition)],
        )
        .await;
    if let Err(e) = added {
        resp.error_code = txn_error(&e, version >= 2).code();
    }
    resp
}
