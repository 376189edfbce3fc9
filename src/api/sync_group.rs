//! SyncGroup: followers park until the leader's assignment arrives; the leader's
//! assignment is stored in `__consumer_offsets` with the group.

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::errors::group_error;
use super::opt_str;
use crate::broker::Broker;
use crate::group::GroupError;
use crate::group::state::SyncRequest;

pub async fn handle(broker: &Broker, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let group_id = req.group_id.0.to_string();
    let result = if version >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none()) {
        Err(GroupError::InconsistentGroupProtocol)
    } else if group_id.is_empty() {
        Err(GroupError::InvalidGroupId)
    } else {
        let sync = SyncRequest {
            member_id: req.member_id.to_string(),
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            generation_id: req.generation_id,
            protocol_type: req.protocol_type.as_ref().map(|s| s.to_string()),
            protocol_name: req.protocol_name.as_ref().map(|s| s.to_string()),
            assignments: req
                .assignments
                .into_iter()
                // Copied: the group keeps them (the request's bytes share the connection's
                // reusable read buffer).
                .map(|a| (a.member_id.to_string(), Bytes::copy_from_slice(&a.assignment)))
                .collect(),
        };
        broker.groups().sync(&group_id, sync).await
    };
    let mut resp = SyncGroupResponse::default();
    match result {
        Ok(r) => {
            if version >= 5 {
                resp.protocol_type = opt_str(r.protocol_type);
                resp.protocol_name = opt_str(r.protocol_name);
            }
            resp.assignment = r.assignment;
        }
        Err(e) => {
            resp.error_code = group_error(&e).code();
            resp.assignment = Bytes::new();
        }
    }
    resp
}
