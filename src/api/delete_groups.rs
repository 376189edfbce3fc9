//! DeleteGroups: an Empty group's offsets and metadata are tombstoned in
//! `__consumer_offsets` and the group is gone; a group with members gets NON_EMPTY_GROUP.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::errors::group_code;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    let mut seen = std::collections::HashSet::new();
    for id in req.groups_names {
        if !seen.insert(id.clone()) {
            continue;
        }
        let result = broker.groups().delete_group(&id).await;
        let mut r = DeletableGroupResult::default();
        r.group_id = id;
        r.error_code = group_code(result.as_ref().err());
        resp.results.push(r);
    }
    resp
}
