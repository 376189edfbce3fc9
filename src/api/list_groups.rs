//! ListGroups: every group with its protocol type; v4+ filters by state (case-insensitive
//! state names), v5+ by type (all brokk groups are "classic").

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.trim().to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let mut resp = ListGroupsResponse::default();
    // As Kafka: while a partition of this broker's loads, its groups cannot be listed.
    if broker.groups().any_loading() {
        resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        return resp;
    }
    resp.groups = broker
        .groups()
        .list()
        .into_iter()
        .filter(|(_, _, state)| states.is_empty() || states.contains(&state.name().to_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == "classic"))
        .map(|(id, protocol_type, state)| {
            let mut g = ListedGroup::default();
            g.group_id = GroupId(StrBytes::from_string(id));
            g.protocol_type = StrBytes::from_string(protocol_type);
            if version >= 4 {
                g.group_state = StrBytes::from_static_str(state.name());
            }
            if version >= 5 {
                g.group_type = StrBytes::from_static_str("classic");
            }
            g
        })
        .collect();
    resp
}
