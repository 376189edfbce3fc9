//! DescribeConfigs (key 32, v1-v4), as Kafka 4.0's broker answers it (ConfigHelper):
//! - TOPIC: all 33 topic configs with their effective value; the source and synonyms say
//!   where it comes from (the topic's override, a dynamic broker config, the cluster-wide
//!   dynamic default, `server.properties`, or the default);
//! - BROKER: "" lists the cluster-wide dynamic defaults set; this broker's id lists every
//!   broker config brokk knows plus every key given to it (unknown keys are sensitive);
//! - BROKER_LOGGER: brokk's loggers and levels (see `logging.rs`);
//! - GROUP: Kafka's group-config defaults; CLIENT_METRICS: no subscriptions.
//!
//! An unknown resource type fails every resource of the request (Kafka's generic error
//! path); a key asked for that does not exist is left out.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_resources::*;
use super::opt_str;
use crate::broker::Broker;
use crate::broker_config_defs::{BROKER_CONFIGS, GROUP_CONFIGS, broker_config_def};
use crate::config::DataDir;
use crate::log::config_defs::{ConfigType, TOPIC_CONFIGS};
use crate::log::manager::TopicSettings;

/// One synonym: name, value, source.
type Synonym = (String, Option<String>, i8);

/// The broker-level config layers, highest priority first.
pub struct Layers {
    pub dynamic_broker: BTreeMap<String, String>,
    pub dynamic_cluster: BTreeMap<String, String>,
    pub static_props: BTreeMap<String, String>,
}

impl Layers {
    pub fn of(broker: &Broker) -> Self {
        let d = broker.logs().dynamic_defaults();
        let mut static_props = broker.config().static_props.clone();
        // The data directory brokk actually uses (an ephemeral one is only known now).
        if static_props.contains_key("log.dirs")
            || broker.config().data_dir != DataDir::Path(crate::config::DEFAULT_DATA_DIR.into())
        {
            let dirs: Vec<String> = broker
                .logs()
                .log_dirs()
                .iter()
                .map(|d| d.path().display().to_string())
                .collect();
            static_props.insert("log.dirs".into(), dirs.join(","));
        }
        Self {
            dynamic_broker: d.broker,
            dynamic_cluster: d.cluster,
            static_props,
        }
    }

    /// Kafka's `configSynonyms`: every layer's value of each of `names`, by source then by
    /// synonym priority, with leading entries that are not `primary` dropped.
    fn synonyms(&self, primary: &str, names: &[&str]) -> Vec<Synonym> {
        let mut out = vec![];
        for (map, src) in [
            (&self.dynamic_broker, SOURCE_DYNAMIC_BROKER),
            (&self.dynamic_cluster, SOURCE_DYNAMIC_DEFAULT_BROKER),
            (&self.static_props, SOURCE_STATIC_BROKER),
        ] {
            for n in names {
                if let Some(v) = map.get(*n) {
                    out.push((n.to_string(), Some(v.clone()), src));
                }
            }
        }
        for n in names {
            if let Some(v) = broker_config_def(n).and_then(|d| d.default) {
                out.push((n.to_string(), Some(v.to_string()), SOURCE_DEFAULT));
            }
        }
        let first = out.iter().position(|s| s.0 == primary).unwrap_or(out.len());
        out.split_off(first)
    }
}

/// A broker key's synonyms in priority order (DynamicBrokerConfig.brokerConfigSynonyms).
fn broker_synonyms(name: &str) -> Vec<&str> {
    match name {
        "log.roll.ms" | "log.roll.hours" => vec!["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => vec!["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "log.flush.interval.ms" => vec!["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => {
            vec!["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
        }
        n => vec![n],
    }
}

/// One config entry before encoding.
struct Entry<'a> {
    name: &'a str,
    value: Option<String>,
    read_only: bool,
    sensitive: bool,
    synonyms: Vec<Synonym>,
    ty: Option<ConfigType>,
    doc: Option<&'a str>,
}

/// What the request asked to include: synonyms, documentation.
#[derive(Clone, Copy)]
struct Include {
    synonyms: bool,
    docs: bool,
}

fn entry(x: Entry<'_>, inc: Include) -> DescribeConfigsResourceResult {
    let Entry {
        name,
        value,
        read_only,
        sensitive,
        synonyms,
        ty,
        doc,
    } = x;
    let (include_synonyms, include_docs) = (inc.synonyms, inc.docs);
    let mut e = DescribeConfigsResourceResult::default();
    e.name = StrBytes::from_string(name.to_string());
    e.value = if sensitive { None } else { opt_str(value) };
    e.read_only = read_only;
    e.is_sensitive = sensitive;
    e.config_source = synonyms.first().map_or(SOURCE_DEFAULT, |s| s.2);
    e.config_type = ty.map_or(0, |t| t as i8);
    e.documentation = if include_docs {
        doc.map(|d| StrBytes::from_string(d.to_string()))
    } else {
        None
    };
    if include_synonyms {
        e.synonyms = synonyms
            .into_iter()
            .map(|(n, v, s)| {
                let mut y = DescribeConfigsSynonym::default();
                y.name = StrBytes::from_string(n);
                y.value = if sensitive { None } else { opt_str(v) };
                y.source = s;
                y
            })
            .collect();
    }
    e
}

/// The source and synonyms of topic key `def` for a topic with `overrides`; shared with
/// CreateTopics, which reports the same source.
pub fn topic_synonyms(layers: &Layers, name: &str, value: &str, overrides: &BTreeMap<String, String>) -> Vec<Synonym> {
    let def = crate::log::config_defs::topic_config_def(name);
    let mut list = match def.and_then(|d| d.synonyms.first()) {
        Some(primary) => layers.synonyms(primary, &broker_synonyms(primary)),
        None => vec![],
    };
    if overrides.contains_key(name) {
        list.insert(0, (name.to_string(), Some(value.to_string()), SOURCE_TOPIC));
    }
    list
}

fn topic_entries(layers: &Layers, settings: &TopicSettings, inc: Include) -> Vec<DescribeConfigsResourceResult> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let value = settings.config.get(d.name).unwrap_or_default();
            let synonyms = topic_synonyms(layers, d.name, &value, &settings.overrides);
            let x = Entry {
                name: d.name,
                value: Some(value),
                read_only: false,
                sensitive: false,
                synonyms,
                ty: Some(d.ty),
                doc: Some(d.doc),
            };
            entry(x, inc)
        })
        .collect()
}

fn broker_entries(broker: &Broker, layers: &Layers, inc: Include) -> Vec<DescribeConfigsResourceResult> {
    let mut names: Vec<&str> = BROKER_CONFIGS.iter().map(|d| d.name).collect();
    for k in layers
        .static_props
        .keys()
        .chain(layers.dynamic_cluster.keys())
        .chain(layers.dynamic_broker.keys())
    {
        names.push(k);
    }
    names.sort_unstable();
    names.dedup();
    let node = broker.node_id().to_string();
    names
        .into_iter()
        .map(|n| {
            let synonyms = layers.synonyms(n, &broker_synonyms(n));
            let mut value = synonyms.first().and_then(|s| s.1.clone());
            if n == "node.id" || n == "broker.id" {
                value = Some(node.clone());
            }
            broker_entry(n, value, synonyms, inc)
        })
        .collect()
}

/// A broker key's entry: unknown (custom) keys are sensitive, as in Kafka.
fn broker_entry(
    name: &str,
    value: Option<String>,
    synonyms: Vec<Synonym>,
    inc: Include,
) -> DescribeConfigsResourceResult {
    let def = broker_config_def(name);
    let x = Entry {
        name,
        value,
        read_only: !def.is_some_and(|d| d.dynamic),
        sensitive: def.is_none_or(|d| d.ty == ConfigType::Password),
        synonyms,
        ty: def.map(|d| d.ty),
        doc: def.map(|d| d.doc),
    };
    entry(x, inc)
}

fn cluster_default_entries(layers: &Layers, inc: Include) -> Vec<DescribeConfigsResourceResult> {
    layers
        .dynamic_cluster
        .iter()
        .map(|(k, v)| {
            let synonyms: Vec<Synonym> = layers
                .synonyms(k, &broker_synonyms(k))
                .into_iter()
                .filter(|s| s.2 == SOURCE_DYNAMIC_DEFAULT_BROKER)
                .collect();
            broker_entry(k, Some(v.clone()), synonyms, inc)
        })
        .collect()
}

fn group_entries(inc: Include) -> Vec<DescribeConfigsResourceResult> {
    GROUP_CONFIGS
        .iter()
        .map(|d| {
            let v = d.default.map(str::to_string);
            let synonyms = vec![(d.name.to_string(), v.clone(), SOURCE_DEFAULT)];
            let x = Entry {
                name: d.name,
                value: v,
                read_only: false,
                sensitive: false,
                synonyms,
                ty: Some(d.ty),
                doc: Some(d.doc),
            };
            entry(x, inc)
        })
        .collect()
}

fn logger_entries() -> Vec<DescribeConfigsResourceResult> {
    crate::logging::describe()
        .into_iter()
        .map(|(name, level)| {
            let x = Entry {
                name: &name,
                value: Some(level),
                read_only: false,
                sensitive: false,
                synonyms: vec![],
                ty: None,
                doc: None,
            };
            let mut e = entry(
                x,
                Include {
                    synonyms: false,
                    docs: false,
                },
            );
            e.config_source = SOURCE_BROKER_LOGGER;
            e
        })
        .collect()
}

/// One resource's entries, or its error.
fn describe(
    broker: &Broker,
    layers: &Layers,
    rtype: i8,
    name: &str,
    inc: Include,
) -> Result<Vec<DescribeConfigsResourceResult>, ResourceError> {
    let node = broker.node_id();
    match rtype {
        TOPIC => {
            if let Some(why) = invalid_topic_name(name) {
                return Err(err(ResponseError::InvalidTopicException, why));
            }
            // In a cluster, the image's configs (every broker answers for every topic).
            if let Some(image) = broker.image() {
                image
                    .topic(name)
                    .ok_or((ResponseError::UnknownTopicOrPartition, None))?;
                let overrides = image
                    .configs
                    .get(&(crate::metadata::image::TOPIC_RESOURCE, name.to_string()))
                    .cloned()
                    .unwrap_or_default();
                let config = broker
                    .logs()
                    .defaults()
                    .with_overrides(&overrides)
                    .map_err(|m| err(ResponseError::InvalidConfig, m))?;
                let settings = TopicSettings {
                    overrides,
                    config: std::sync::Arc::new(config),
                };
                return Ok(topic_entries(layers, &settings, inc));
            }
            let topic = broker
                .logs()
                .topic(name)
                .ok_or((ResponseError::UnknownTopicOrPartition, None))?;
            Ok(topic_entries(layers, &topic.settings(), inc))
        }
        BROKER => match broker_name(name, node, true)? {
            None => Ok(cluster_default_entries(layers, inc)),
            Some(()) => Ok(broker_entries(broker, layers, inc)),
        },
        BROKER_LOGGER => {
            if name.is_empty() {
                return Err(err(ResponseError::InvalidRequest, "Broker id must not be empty"));
            }
            match name.parse::<i32>() {
                Err(_) => Err(err(
                    ResponseError::InvalidRequest,
                    format!("Broker id must be an integer, but it is: {name}"),
                )),
                Ok(id) if id != node => Err(err(
                    ResponseError::InvalidRequest,
                    format!("Unexpected broker id, expected {node} but received {name}"),
                )),
                Ok(_) => Ok(logger_entries()),
            }
        }
        GROUP if name.is_empty() => Err(err(ResponseError::InvalidRequest, "Group name must not be empty")),
        GROUP => Ok(group_entries(inc)),
        CLIENT_METRICS if name.is_empty() => Err(err(
            ResponseError::InvalidRequest,
            "Client metrics subscription name must not be empty",
        )),
        // brokk has no client-metrics subscriptions (KIP-714): an unset one is empty.
        CLIENT_METRICS => Ok(vec![]),
        // `handle` fails the whole request on an unknown type before describing any.
        other => Err(err(
            ResponseError::InvalidRequest,
            format!("Unknown resource type {other}"),
        )),
    }
}

const INVALID_REQUEST_DEFAULT: &str = "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.";

pub async fn handle(broker: &Broker, req: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let known = |t: i8| matches!(t, TOPIC | BROKER | BROKER_LOGGER | GROUP | CLIENT_METRICS);
    let unknown_type = req.resources.iter().any(|r| !known(r.resource_type));
    let layers = Layers::of(broker);
    let inc = Include {
        synonyms: req.include_synonyms,
        docs: version >= 3 && req.include_documentation,
    };
    let mut resp = DescribeConfigsResponse::default();
    for r in &req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name.clone();
        // Kafka sends an empty message, not null, where it has none (success included).
        out.error_message = Some(StrBytes::default());
        let result = if unknown_type {
            Err(err(ResponseError::InvalidRequest, INVALID_REQUEST_DEFAULT))
        } else {
            describe(broker, &layers, r.resource_type, r.resource_name.as_str(), inc)
        };
        match result {
            Ok(mut entries) => {
                if let Some(keys) = r.configuration_keys.as_ref().filter(|k| !k.is_empty()) {
                    entries.retain(|e| keys.iter().any(|k| k.as_str() == e.name.as_str()));
                }
                out.configs = entries;
            }
            Err((code, msg)) => {
                out.error_code = code.code();
                out.error_message = Some(msg.map(StrBytes::from_string).unwrap_or_default());
            }
        }
        resp.results.push(out);
    }
    resp
}
