//! The changes AlterConfigs and IncrementalAlterConfigs make, once each has turned its
//! request into "the new config set of this resource": checked in Kafka's order
//! (validation before existence for topics), then persisted and applied (`log/`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;

use super::config_resources::*;
use crate::broker::Broker;
use crate::broker_config_defs::broker_config_def;
use crate::log::LogConfig;
use crate::log::config_defs::{ConfigType, topic_config_def};
use crate::log::manager::TopicError;

/// Computes a resource's new config set from its current one.
pub type Change =
    Arc<dyn Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ResourceError> + Send + Sync>;

/// The base value APPEND/SUBTRACT start from for a topic LIST key (its schema default).
pub fn topic_list_base(key: &str) -> Option<String> {
    topic_config_def(key)
        .filter(|d| d.ty == ConfigType::List)
        .map(|d| LogConfig::default().get(d.name).unwrap_or_default())
}

/// The same for a broker LIST key: its current default.
pub fn broker_list_base(key: &str) -> Option<String> {
    broker_config_def(key)
        .filter(|d| d.ty == ConfigType::List)
        .map(|d| d.default.unwrap_or_default().to_string())
}

fn topic_error(e: TopicError) -> ResourceError {
    match e {
        TopicError::InvalidConfig(m) => err(ResponseError::InvalidConfig, m),
        TopicError::Unknown(name) => err(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ),
        other => (super::errors::topic_error(&other), Some(other.to_string())),
    }
}

/// A topic's new overrides: validated (INVALID_CONFIG), then the topic must exist, then
/// they are persisted and take effect.
pub async fn alter_topic(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: Change,
) -> Result<(), ResourceError> {
    if name.is_empty() {
        return Err(err(
            ResponseError::InvalidRequest,
            "Default topic resources are not allowed.",
        ));
    }
    if let Some(why) = invalid_topic_name(name) {
        return Err(err(ResponseError::InvalidTopicException, why));
    }
    await_caught_up(broker).await?;
    if let Some(image) = broker.image() {
        return alter_topic_in_cluster(broker, &image, name, validate_only, change).await;
    }
    let logs = broker.logs().clone();
    let current = logs.topic(name).map(|t| t.overrides()).unwrap_or_default();
    let next = change(&current)?;
    logs.defaults()
        .with_overrides(&next)
        .map_err(|m| err(ResponseError::InvalidConfig, m))?;
    let name = name.to_string();
    // Set or removed: either way the retention pass should see the new value now.
    let retention = next
        .keys()
        .chain(current.keys())
        .any(|k| k.starts_with("retention.") || k == "cleanup.policy");
    let done = tokio::task::spawn_blocking(move || {
        let mut failure = None;
        let r = logs.alter_topic_config(&name, validate_only, |cur| {
            change(cur).map_err(|e| {
                failure = Some(e);
                TopicError::InvalidConfig(String::new())
            })
        });
        if let Some(f) = failure {
            return Err(f);
        }
        r.map_err(topic_error)?;
        // A lowered retention applies now rather than at the next periodic pass.
        if retention
            && !validate_only
            && let Some(t) = logs.topic(&name)
        {
            for p in &t.partitions {
                if let Err(e) = p.apply_retention(crate::log::now_ms()) {
                    tracing::error!(partition = ?p, error = %e, "retention failed");
                }
            }
        }
        Ok(())
    })
    .await;
    done.unwrap_or_else(|e| Err(err(ResponseError::UnknownServerError, e.to_string())))
}

/// In a cluster a topic's configs are metadata records: the new set is computed against
/// the image and checked here (INVALID_CONFIG before UNKNOWN_TOPIC_OR_PARTITION, as
/// Kafka), then the keys that change go to the active controller, which commits them;
/// every broker hosting the topic applies them from its image. Answered once this
/// broker's image has them.
async fn alter_topic_in_cluster(
    broker: &Broker,
    image: &crate::metadata::MetadataImage,
    name: &str,
    validate_only: bool,
    change: Change,
) -> Result<(), ResourceError> {
    let key = (crate::metadata::image::TOPIC_RESOURCE, name.to_string());
    let current = image.configs.get(&key).cloned().unwrap_or_default();
    let next = change(&current)?;
    broker
        .logs()
        .defaults()
        .with_overrides(&next)
        .map_err(|m| err(ResponseError::InvalidConfig, m))?;
    if image.topic(name).is_none() {
        return Err(err(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ));
    }
    if !forward_diff(
        broker,
        crate::metadata::image::TOPIC_RESOURCE,
        name,
        &current,
        &next,
        validate_only,
    )
    .await?
    {
        return Ok(());
    }
    if !validate_only {
        broker
            .await_image(std::time::Duration::from_secs(5), |i| {
                i.configs.get(&key).cloned().unwrap_or_default() == next
            })
            .await;
    }
    Ok(())
}

/// Sends the keys `next` sets or removes relative to `current` of resource (`resource_type`,
/// `name`) to the active controller (IncrementalAlterConfigs SET and DELETE); the
/// controller's error, if any. `false` when nothing changes (nothing is sent).
async fn forward_diff(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<bool, ResourceError> {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
    use kafka_protocol::protocol::StrBytes;
    let mut configs: Vec<AlterableConfig> = next
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    configs.extend(current.keys().filter(|k| !next.contains_key(*k)).map(|k| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k.clone()))
            .with_config_operation(1)
    }));
    if configs.is_empty() {
        return Ok(false);
    }
    let req = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs),
        ])
        .with_validate_only(validate_only);
    let not_controller = |r: &IncrementalAlterConfigsResponse| {
        r.responses
            .iter()
            .any(|x| x.error_code == ResponseError::NotController.code())
    };
    let resp = broker
        .forward(
            (crate::controller::active::INCREMENTAL_ALTER_CONFIGS, 1),
            &req,
            std::time::Duration::from_secs(30),
            not_controller,
        )
        .await
        .ok_or_else(|| err(ResponseError::RequestTimedOut, "the controller did not answer"))?;
    let r = resp
        .responses
        .first()
        .ok_or_else(|| err(ResponseError::UnknownServerError, "no answer"))?;
    if let Some(e) = ResponseError::try_from_code(r.error_code) {
        return Err((e, r.error_message.as_ref().map(|m| m.to_string())));
    }
    Ok(true)
}

/// This broker's (`name` = its id) or the cluster-wide (`name` = "") dynamic configs.
pub async fn alter_broker(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: Change,
) -> Result<(), ResourceError> {
    let per_broker = broker_name(name, broker.node_id(), false)?.is_some();
    let logs = broker.logs().clone();
    await_caught_up(broker).await?;
    let image = broker.image();
    // In a cluster the levels are the metadata image's (this broker follows them).
    let d = match &image {
        Some(image) => crate::log::manager::broker_defaults::DynamicDefaults {
            cluster: image_broker_configs(image, ""),
            broker: image_broker_configs(image, &broker.node_id().to_string()),
        },
        None => logs.dynamic_defaults(),
    };
    let current = if per_broker {
        d.broker.clone()
    } else {
        d.cluster.clone()
    };
    let next = change(&current)?;
    let fixed: Vec<&str> = next
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .filter(|k| broker_config_def(k).is_some_and(|d| !d.dynamic))
        .collect();
    if !fixed.is_empty() {
        let set = if fixed.len() > 4 { "HashSet" } else { "Set" };
        return Err(err(
            ResponseError::InvalidRequest,
            format!("Cannot update these configs dynamically: {set}({})", fixed.join(", ")),
        ));
    }
    // The cleaner's dynamic settings, as Kafka's reconfigurable LogCleaner checks them.
    let mut after = d.clone();
    *(if per_broker {
        &mut after.broker
    } else {
        &mut after.cluster
    }) = next.clone();
    broker
        .cleaner()
        .check_settings(&after)
        .map_err(|m| err(ResponseError::InvalidRequest, m))?;
    if image.is_some() {
        return alter_broker_in_cluster(broker, name, per_broker, validate_only, current, next).await;
    }
    let done = tokio::task::spawn_blocking(move || {
        logs.alter_dynamic_defaults(per_broker, validate_only, |_| Ok(next))
            .map_err(|e| match e {
                TopicError::InvalidConfig(m) => err(ResponseError::InvalidRequest, m),
                other => (super::errors::topic_error(&other), Some(other.to_string())),
            })
    })
    .await;
    let done = done.unwrap_or_else(|e| Err(err(ResponseError::UnknownServerError, e.to_string())));
    if done.is_ok() && !validate_only {
        broker.cleaner().reconfigured();
    }
    done
}

/// In a cluster, waits until this broker's image has caught up with the metadata before
/// this start (config changes are computed against it); REQUEST_TIMED_OUT after 10 s.
async fn await_caught_up(broker: &Broker) -> Result<(), ResourceError> {
    match broker.lifecycle() {
        Some(l) if !l.await_caught_up(std::time::Duration::from_secs(10)).await => Err(err(
            ResponseError::RequestTimedOut,
            "this broker has not caught up with the cluster's metadata yet",
        )),
        _ => Ok(()),
    }
}

/// The dynamic broker configs `name` ("" or a broker id) in `image`.
fn image_broker_configs(image: &crate::metadata::MetadataImage, name: &str) -> BTreeMap<String, String> {
    image
        .configs
        .get(&(crate::metadata::image::BROKER_RESOURCE, name.to_string()))
        .cloned()
        .unwrap_or_default()
}

/// Dynamic broker configs in a cluster, as Kafka's brokers forward them: checked here
/// against this broker's static configuration and its topics, the changed keys sent to
/// the active controller (which records them in the metadata log), then applied here once
/// this broker's image has them (every other broker applies them as it follows the image).
async fn alter_broker_in_cluster(
    broker: &Broker,
    name: &str,
    per_broker: bool,
    validate_only: bool,
    current: BTreeMap<String, String>,
    next: BTreeMap<String, String>,
) -> Result<(), ResourceError> {
    let logs = broker.logs().clone();
    let check = next.clone();
    let checked = tokio::task::spawn_blocking(move || logs.alter_dynamic_defaults(per_broker, true, |_| Ok(check)))
        .await
        .unwrap_or_else(|e| Err(TopicError::InvalidConfig(e.to_string())));
    checked.map_err(|e| match e {
        TopicError::InvalidConfig(m) => err(ResponseError::InvalidRequest, m),
        other => (super::errors::topic_error(&other), Some(other.to_string())),
    })?;
    if !forward_diff(
        broker,
        crate::metadata::image::BROKER_RESOURCE,
        name,
        &current,
        &next,
        validate_only,
    )
    .await?
    {
        return Ok(());
    }
    if validate_only {
        return Ok(());
    }
    let name = name.to_string();
    // Written once every key this change set holds its value and every key it removed is
    // gone (another change may have come in the meantime, to other keys).
    let written = |i: &crate::metadata::MetadataImage| {
        let now = image_broker_configs(i, &name);
        next.iter().all(|(k, v)| now.get(k) == Some(v))
            && current.keys().all(|k| next.contains_key(k) || !now.contains_key(k))
    };
    broker.await_image(std::time::Duration::from_secs(5), written).await;
    // Applied here at once (what the image holds now, other changes included), so that
    // this broker describes what it was just told.
    let level = broker.image().map(|i| image_broker_configs(&i, &name)).unwrap_or(next);
    let logs = broker.logs().clone();
    let applied = tokio::task::spawn_blocking(move || logs.alter_dynamic_defaults(per_broker, false, |_| Ok(level)))
        .await
        .unwrap_or_else(|e| Err(TopicError::InvalidConfig(e.to_string())));
    if let Err(e) = applied {
        tracing::error!(error = %e, "the dynamic broker configs could not be applied");
    }
    broker.cleaner().reconfigured();
    Ok(())
}

/// IncrementalAlterConfigs on BROKER_LOGGER: every operation is checked before any is
/// applied (Kafka's RuntimeLoggerManager).
pub fn alter_logger(broker: &Broker, name: &str, validate_only: bool, ops: &[Op]) -> Result<(), ResourceError> {
    let node = broker.node_id();
    match name.parse::<i32>() {
        Err(_) => {
            return Err(err(
                ResponseError::InvalidRequest,
                format!("Node id must be an integer, but it is: {name}"),
            ));
        }
        // Kafka's message prints its own id twice.
        Ok(id) if id != node => {
            return Err(err(
                ResponseError::InvalidRequest,
                format!("Unexpected node id. Expected {node}, but received {node}"),
            ));
        }
        Ok(_) => {}
    }
    for o in ops {
        let missing = || {
            err(
                ResponseError::InvalidConfig,
                format!("Logger {} does not exist!", o.name),
            )
        };
        match o.op {
            OP_SET => {
                if !crate::logging::exists(&o.name) {
                    return Err(missing());
                }
                let level = o.value.as_deref().unwrap_or_default();
                if !crate::logging::LEVELS.contains(&level) {
                    return Err(err(
                        ResponseError::InvalidConfig,
                        format!(
                            "Cannot set the log level of {} to {level} as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
                            o.name
                        ),
                    ));
                }
            }
            OP_DELETE => {
                if !crate::logging::exists(&o.name) {
                    return Err(missing());
                }
                if o.name == "root" {
                    return Err(err(
                        ResponseError::InvalidRequest,
                        "Removing the log level of the root logger is not allowed",
                    ));
                }
            }
            OP_APPEND => {
                return Err(err(
                    ResponseError::InvalidRequest,
                    "APPEND operation is not allowed for the BROKER_LOGGER resource",
                ));
            }
            OP_SUBTRACT => {
                return Err(err(
                    ResponseError::InvalidRequest,
                    "SUBTRACT operation is not allowed for the BROKER_LOGGER resource",
                ));
            }
            other => {
                return Err(err(
                    ResponseError::InvalidRequest,
                    format!("Unknown operation type {other} is not allowed for the BROKER_LOGGER resource"),
                ));
            }
        }
    }
    if !validate_only {
        for o in ops {
            if o.op == OP_SET {
                crate::logging::set(&o.name, o.value.as_deref().unwrap_or_default());
            } else {
                crate::logging::unset(&o.name);
            }
        }
    }
    Ok(())
}

/// GROUP and CLIENT_METRICS configs are Kafka features brokk does not have (KIP-848 group
/// configs, KIP-714 subscriptions): refused with a clear message.
pub fn unsupported(rtype: i8) -> ResourceError {
    let what = if rtype == GROUP {
        "group-level configs (KIP-848)"
    } else {
        "client metrics subscriptions (KIP-714)"
    };
    err(
        ResponseError::InvalidRequest,
        format!("brokk does not support altering {what}"),
    )
}
