//! UnregisterBroker (key 64, v0): `kafka-cluster unregister --id N`, what an operator does
//! after decommissioning a broker. In a cluster it goes to the active controller, which
//! removes the registration (`controller::active::unregister_broker`): the broker leaves
//! Metadata, every ISR and its leaderships.
//!
//! A single broker (no `controller.quorum.voters`) has no other registration: any other id
//! gets BROKER_ID_NOT_REGISTERED with Kafka's message, as Kafka's controller answers an
//! unknown id. Its own
//! id is refused with INVALID_REQUEST: Kafka's single combined node would unregister
//! itself and then list no broker at all, which no user wants from a test broker.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

use super::message;
use crate::broker::Broker;
use crate::controller::active::UNREGISTER_BROKER;

pub async fn handle(broker: &Broker, req: UnregisterBrokerRequest, _version: i16) -> UnregisterBrokerResponse {
    let resp = UnregisterBrokerResponse::default();
    if broker.image().is_some() {
        let not_controller = |r: &UnregisterBrokerResponse| r.error_code == ResponseError::NotController.code();
        let timeout = std::time::Duration::from_secs(30);
        return match broker
            .forward((UNREGISTER_BROKER, 0), &req, timeout, not_controller)
            .await
        {
            Some(r) => r,
            None => resp
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(message("the active controller did not answer in time")),
        };
    }
    if req.broker_id.0 == broker.node_id() {
        return resp
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(message(
                "a single broker (no controller.quorum.voters) cannot unregister itself",
            ));
    }
    crate::controller::active::not_registered(req.broker_id.0)
}
