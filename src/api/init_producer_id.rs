//! InitProducerId. Without a transactional id: a fresh producer id at epoch 0, whatever
//! producer id and epoch the request carries (as in Kafka, KIP-360's bump applies to
//! transactional producers). With one: the transaction coordinator bumps the id's epoch,
//! fencing older producers and aborting their open transaction (see `txn::coordinator`).
//! PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH before v4.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::errors::txn_error;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    // KIP-360 fields: both unset or both set.
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    if let Some(id) = &req.transactional_id {
        if id.is_empty() {
            resp.error_code = ResponseError::InvalidRequest.code();
            return resp;
        }
        let expected = (req.producer_id.0 != -1).then_some((req.producer_id.0, req.producer_epoch));
        match broker
            .txns()
            .init_producer_id(id, req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Err(e) => resp.error_code = txn_error(&e, version >= 4).code(),
        }
        return resp;
    }
    match broker.producer_ids().next_id_async().await {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            // Retriable for every client, as Kafka answers while it cannot allocate ids.
            resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        }
    }
    resp
}
