//! ListConfigResources (key 74, v0-v1; Kafka 4.1's KIP-1142, ListClientMetricsResources in
//! 4.0): the resources that have configs, in Kafka's fixed order: GROUP (groups with config
//! overrides: brokk has none), CLIENT_METRICS (subscriptions: none), BROKER_LOGGER and BROKER
//! (this broker), TOPIC (every topic, internal ones included). No types means every type the
//! version supports (v0: CLIENT_METRICS only); an unsupported one is UNSUPPORTED_VERSION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_resources::{BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, TOPIC};
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: ListConfigResourcesRequest, version: i16) -> ListConfigResourcesResponse {
    let mut resp = ListConfigResourcesResponse::default();
    let supported: &[i8] = if version >= 1 {
        &[GROUP, CLIENT_METRICS, BROKER_LOGGER, BROKER, TOPIC]
    } else {
        &[CLIENT_METRICS]
    };
    let wanted: Vec<i8> = if req.resource_types.is_empty() {
        supported.to_vec()
    } else {
        req.resource_types.clone()
    };
    if wanted.iter().any(|t| !supported.contains(t)) {
        resp.error_code = ResponseError::UnsupportedVersion.code();
        return resp;
    }
    let entry = |name: String, t: i8| {
        ConfigResource::default()
            .with_resource_name(StrBytes::from_string(name))
            .with_resource_type(t)
    };
    let node = broker.node_id().to_string();
    for t in [BROKER_LOGGER, BROKER] {
        if wanted.contains(&t) {
            resp.config_resources.push(entry(node.clone(), t));
        }
    }
    if wanted.contains(&TOPIC) {
        for topic in broker.logs().topics() {
            resp.config_resources.push(entry(topic.name.to_string(), TOPIC));
        }
    }
    resp
}
