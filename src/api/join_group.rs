//! JoinGroup: translated to a [`JoinRequest`] for the group's actor, which answers now
//! (errors, MEMBER_ID_REQUIRED, a current member's rejoin) or when the join phase ends.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors::group_code;
use super::{RequestContext, opt_str, str_of};
use crate::broker::Broker;
use crate::group::GroupError;
use crate::group::state::{JoinRequest, JoinResponse, Protocol};

pub async fn handle(broker: &Broker, req: JoinGroupRequest, version: i16, ctx: &RequestContext) -> JoinGroupResponse {
    let group_id = req.group_id.0.to_string();
    let result = if group_id.is_empty() {
        JoinResponse::error(GroupError::InvalidGroupId, &req.member_id)
    } else {
        let join = JoinRequest {
            member_id: req.member_id.to_string(),
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            // v0 has no rebalance timeout: Kafka takes the session timeout.
            rebalance_timeout_ms: if version == 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms
            },
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| Protocol {
                    name: p.name.to_string(),
                    // Copied: the group keeps it, and the request's bytes share the
                    // connection's reusable read buffer.
                    metadata: bytes::Bytes::copy_from_slice(&p.metadata),
                })
                .collect(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= 9,
        };
        broker.groups().join(&group_id, join).await
    };
    encode(result, version)
}

fn encode(r: JoinResponse, version: i16) -> JoinGroupResponse {
    let mut resp = JoinGroupResponse::default();
    resp.error_code = group_code(r.error.as_ref());
    resp.generation_id = r.generation_id;
    // protocol_name is nullable only from v7; protocol_type exists from v7.
    resp.protocol_name = if version >= 7 {
        opt_str(r.protocol_name)
    } else {
        Some(str_of(r.protocol_name.unwrap_or_default()))
    };
    if version >= 7 {
        resp.protocol_type = opt_str(r.protocol_type);
    }
    resp.leader = str_of(r.leader);
    resp.skip_assignment = version >= 9 && r.skip_assignment;
    resp.member_id = StrBytes::from_string(r.member_id);
    resp.members = r
        .members
        .into_iter()
        .map(|m| {
            let mut x = JoinGroupResponseMember::default();
            x.member_id = str_of(m.member_id);
            if version >= 5 {
                x.group_instance_id = opt_str(m.group_instance_id);
            }
            x.metadata = m.metadata;
            x
        })
        .collect();
    resp
}
