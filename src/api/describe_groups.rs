//! DescribeGroups: state, protocol and members. Members' metadata is shown only when
//! Stable (assignments always), as in Kafka. An unknown group is "Dead" with no error
//! before v6 and GROUP_ID_NOT_FOUND from v6.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors::group_error;
use super::{message, opt_str, str_of};
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let mut g = DescribedGroup::default();
        g.group_id = id.clone();
        g.group_state = StrBytes::from_static_str("Dead");
        match broker.groups().describe(&id).await {
            Ok(Some(d)) => {
                g.group_state = StrBytes::from_static_str(d.state.name());
                g.protocol_type = str_of(d.protocol_type);
                g.protocol_data = str_of(d.protocol_name);
                g.members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut x = DescribedGroupMember::default();
                        x.member_id = str_of(m.member_id);
                        if version >= 4 {
                            x.group_instance_id = opt_str(m.group_instance_id);
                        }
                        x.client_id = str_of(m.client_id);
                        x.client_host = str_of(m.client_host);
                        x.member_metadata = m.metadata;
                        x.member_assignment = m.assignment;
                        x
                    })
                    .collect();
            }
            Ok(None) => {
                if version >= 6 {
                    g.error_code = ResponseError::GroupIdNotFound.code();
                    g.error_message = message(format!("Group {} not found.", id.0));
                }
            }
            Err(e) => g.error_code = group_error(&e).code(),
        }
        resp.groups.push(g);
    }
    resp
}
