//! LeaveGroup: one member (v0-v2) or a batch by member id or `group.instance.id` (v3+).
//! For v0-v2 the member's error is the top-level error, as Kafka answers.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::errors::{group_code, group_error};
use super::{opt_str, str_of};
use crate::broker::Broker;
use crate::group::GroupError;

pub async fn handle(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group_id = req.group_id.0.to_string();
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let mut resp = LeaveGroupResponse::default();
    let result = if group_id.is_empty() {
        Err(GroupError::InvalidGroupId)
    } else {
        broker.groups().leave(&group_id, members.clone()).await
    };
    match result {
        Err(e) => resp.error_code = group_error(&e).code(),
        Ok(results) => {
            if version >= 3 {
                resp.members = members
                    .into_iter()
                    .zip(&results)
                    .map(|((m, i), r)| {
                        let mut x = MemberResponse::default();
                        x.member_id = str_of(m);
                        x.group_instance_id = opt_str(i);
                        x.error_code = group_code(r.as_ref().err());
                        x
                    })
                    .collect();
            } else if let Some(Err(e)) = results.first() {
                resp.error_code = group_error(e).code();
            }
        }
    }
    resp
}
