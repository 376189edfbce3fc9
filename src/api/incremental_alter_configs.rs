//! IncrementalAlterConfigs (key 44, v0-v1): SET, DELETE, APPEND and SUBTRACT on TOPIC
//! (persisted topic overrides, effective at once), BROKER (dynamic broker configs, this
//! broker's or the cluster-wide default) and BROKER_LOGGER (runtime log levels).
//! validate_only checks without changing anything. Answered in request order.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::config_alter::{
    Change, alter_broker, alter_logger, alter_topic, broker_list_base, topic_list_base, unsupported,
};
use super::config_resources::*;
use super::message;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let dups = duplicate_resources(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut resp = IncrementalAlterConfigsResponse::default();
    for (r, dup) in req.resources.iter().zip(dups) {
        let name = r.resource_name.as_str();
        let ops: Vec<Op> = r
            .configs
            .iter()
            .map(|c| Op {
                name: c.name.to_string(),
                op: c.config_operation,
                value: c.value.as_ref().map(|v| v.to_string()),
            })
            .collect();
        let nulls = ops
            .iter()
            .filter(|o| o.value.is_none() && o.op != OP_DELETE)
            .map(|o| o.name.as_str())
            .collect();
        let result = if dup {
            Err(duplicate_resource_error())
        } else if let Err(e) = check_shape(ops.iter().map(|o| o.name.as_str()), nulls) {
            Err(e)
        } else {
            match r.resource_type {
                TOPIC => {
                    let change: Change = Arc::new(move |cur| {
                        apply_ops(cur, &ops, topic_list_base, |k, verb| {
                            err(
                                ResponseError::InvalidConfig,
                                format!("Can't {verb} to key {k} because its type is not LIST."),
                            )
                        })
                    });
                    alter_topic(broker, name, req.validate_only, change).await
                }
                BROKER => {
                    let change: Change = Arc::new(move |cur| {
                        apply_ops(cur, &ops, broker_list_base, |k, verb| {
                            err(
                                ResponseError::InvalidConfig,
                                format!(
                                    "Config value {} is not allowed for config key: {k}",
                                    verb.to_lowercase()
                                ),
                            )
                        })
                    });
                    alter_broker(broker, name, req.validate_only, change).await
                }
                BROKER_LOGGER => alter_logger(broker, name, req.validate_only, &ops),
                GROUP | CLIENT_METRICS => Err(unsupported(r.resource_type)),
                t => Err(err(ResponseError::InvalidRequest, format!("Unknown resource type {t}"))),
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
