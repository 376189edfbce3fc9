//! InitProducerId: gives an idempotent producer a new producer id at epoch 0. As in Kafka,
//! a request without a transactional id always gets a fresh id, whatever producer id and
//! epoch it carries (KIP-360's bump applies to transactional producers). Transactional ids
//! arrive with the transaction coordinator; until then they are refused (INVALID_REQUEST).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    // KIP-360 fields: both unset or both set.
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) || req.transactional_id.is_some() {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    let ids = broker.producer_ids().clone();
    match tokio::task::spawn_blocking(move || ids.next_id()).await {
        Ok(Ok(id)) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            // Retriable for every client, as Kafka answers while it cannot allocate ids.
            resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        }
        Err(e) => {
            tracing::error!(error = %e, "producer id task failed");
            resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        }
    }
    resp
}
