//! AlterConfigs (key 33, v0-v2), the legacy form: each resource's dynamic configs are
//! replaced by exactly the ones sent (keys not sent are deleted). TOPIC and BROKER
//! resources; anything else (BROKER_LOGGER included, as in Kafka) is
//! "Unknown resource type". Answered in request order, names echoed.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::config_alter::{Change, alter_broker, alter_topic, unsupported};
use super::config_resources::*;
use super::message;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: AlterConfigsRequest, _version: i16) -> AlterConfigsResponse {
    let dups = duplicate_resources(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut resp = AlterConfigsResponse::default();
    for (r, dup) in req.resources.iter().zip(dups) {
        let name = r.resource_name.as_str();
        let result = if dup {
            Err(duplicate_resource_error())
        } else {
            let nulls = r
                .configs
                .iter()
                .filter(|c| c.value.is_none())
                .map(|c| c.name.as_str())
                .collect();
            match check_shape(r.configs.iter().map(|c| c.name.as_str()), nulls) {
                Err(e) => Err(e),
                Ok(()) => {
                    let wanted: BTreeMap<String, String> = r
                        .configs
                        .iter()
                        .map(|c| (c.name.to_string(), c.value.as_deref().unwrap_or_default().to_string()))
                        .collect();
                    let change: Change = Arc::new(move |_| Ok(wanted.clone()));
                    match r.resource_type {
                        TOPIC => alter_topic(broker, name, req.validate_only, change).await,
                        BROKER => alter_broker(broker, name, req.validate_only, change).await,
                        GROUP | CLIENT_METRICS => Err(unsupported(r.resource_type)),
                        t => Err(err(ResponseError::InvalidRequest, format!("Unknown resource type {t}"))),
                    }
                }
            }
        };
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name.clone();
        out.error_message = None;
        if let Err((code, msg)) = result {
            out.error_code = code.code();
            out.error_message = msg.and_then(message);
        }
        resp.responses.push(out);
    }
    resp
}
