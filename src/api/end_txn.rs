//! EndTxn: commits or aborts the producer's transaction. Answered once the markers are in
//! every partition (Kafka answers after PrepareCommit/PrepareAbort is durable and sends the
//! markers after; brokk's markers are local, so the client's next transaction never waits
//! for them). A retried end of a finished transaction succeeds. v5 (transaction version 2)
//! is not offered. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::errors::txn_error;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req.transactional_id.is_empty() {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    let ended = broker
        .txns()
        .end_txn(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
        .await;
    if let Err(e) = ended {
        resp.error_code = txn_error(&e, version >= 2).code();
    }
    resp
}
