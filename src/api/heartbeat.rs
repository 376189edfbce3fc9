//! Heartbeat: keeps a member's session alive and tells it when to rejoin
//! (REBALANCE_IN_PROGRESS).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::errors::group_error;
use crate::broker::Broker;
use crate::group::GroupError;

pub async fn handle(broker: &Broker, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let group_id = req.group_id.0.to_string();
    let result = if group_id.is_empty() {
        Err(GroupError::InvalidGroupId)
    } else {
        broker
            .groups()
            .heartbeat(
                &group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
            )
            .await
    };
    let mut resp = HeartbeatResponse::default();
    match result {
        // As Kafka: a group whose partition is still loading is answered blindly.
        Err(crate::group::GroupError::LoadInProgress) | Ok(()) => {}
        Err(e) => resp.error_code = group_error(&e).code(),
    }
    resp
}
