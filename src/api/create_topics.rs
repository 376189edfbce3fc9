//! CreateTopics (key 19): partitions (or manual assignments onto this broker), replication
//! factor 1 only, per-topic configs, validate_only; v5+ answers with the effective configs.
//! In a cluster the active controller decides (`forwarded.rs`).

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::config_resources::SOURCE_DEFAULT;
use super::describe_configs::{Layers, topic_synonyms};
use super::errors::topic_error;
use super::message;
use crate::broker::Broker;
use crate::log::LogConfig;
use crate::log::config_defs::TOPIC_CONFIGS;

type Checked = Result<(i32, BTreeMap<String, String>), (ResponseError, String)>;

/// Validates one topic of the request; returns its partition count and config overrides.
fn check(broker: &Broker, t: &CreatableTopic) -> Checked {
    let node = broker.node_id();
    let mut partitions = t.num_partitions;
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((ResponseError::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()));
        }
        let mut seen: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
        seen.sort_unstable();
        if seen.iter().enumerate().any(|(i, p)| *p != i as i32) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        for a in &t.assignments {
            if a.broker_ids.len() != 1 || a.broker_ids[0].0 != node {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Replica assignment {:?} for partition {} is invalid: the only broker is {node}",
                        a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>(),
                        a.partition_index
                    ),
                ));
            }
        }
        partitions = t.assignments.len() as i32;
    } else {
        if partitions == -1 {
            partitions = broker.config().num_partitions;
        }
        if partitions <= 0 {
            return Err((
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
        match t.replication_factor {
            -1 | 1 => {}
            rf if rf <= 0 => {
                return Err((
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value.".into(),
                ));
            }
            rf => {
                return Err((
                    ResponseError::InvalidReplicationFactor,
                    format!(
                        "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                    ),
                ));
            }
        }
    }
    let mut overrides = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else {
            return Err((
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {}", c.name.as_str()),
            ));
        };
        overrides.insert(c.name.as_str().to_string(), v.as_str().to_string());
    }
    let name = t.name.0.as_str();
    if crate::log::internal::is_internal(name) && broker.logs().topic(name).is_none() {
        return Err((
            ResponseError::InvalidRequest,
            format!("{name} is internal: its coordinator creates it"),
        ));
    }
    broker
        .logs()
        .check_new_topic(t.name.0.as_str(), partitions, &overrides)
        .map_err(|e| (topic_error(&e), e.to_string()))?;
    Ok((partitions, overrides))
}

/// The effective topic configs, as CreateTopics v5+ reports them: value and source as
/// DescribeConfigs would.
pub(super) fn describe(
    broker: &Broker,
    cfg: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    let layers = Layers::of(broker);
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let value = cfg.get(d.name).unwrap_or_default();
            let mut c = CreatableTopicConfigs::default();
            c.name = StrBytes::from_static_str(d.name);
            c.config_source = topic_synonyms(&layers, d.name, &value, overrides)
                .first()
                .map_or(SOURCE_DEFAULT, |s| s.2);
            c.value = Some(StrBytes::from_string(value));
            c
        })
        .collect()
}

pub async fn handle(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    let mut names = HashSet::new();
    let mut dups: Vec<&TopicName> = vec![];
    for t in &req.topics {
        if !names.insert(t.name.0.as_str()) && !dups.contains(&&t.name) {
            dups.push(&t.name);
        }
    }
    let result = |name: &TopicName| {
        let mut r = CreatableTopicResult::default();
        r.name = name.clone();
        r.error_message = None;
        r.num_partitions = -1;
        r.replication_factor = -1;
        r
    };
    if broker.image().is_some() {
        // A cluster: the controller decides; internal topics stay their coordinators'.
        let mut forward = vec![];
        let mut answers = vec![];
        for (i, t) in req.topics.iter().enumerate().filter(|(_, t)| !dups.contains(&&t.name)) {
            let name = t.name.0.as_str();
            if crate::log::internal::is_internal(name) {
                let mut r = result(&t.name);
                r.error_code = ResponseError::InvalidRequest.code();
                r.error_message = message(format!("{name} is internal: its coordinator creates it"));
                answers.push((i, r));
            } else {
                forward.push(i);
            }
        }
        if !forward.is_empty() {
            answers.extend(super::forwarded::create_topics(broker, &req, forward, version).await);
        }
        answers.sort_by_key(|(i, _)| *i);
        resp.topics = answers.into_iter().map(|(_, r)| r).collect();
    }
    // As Kafka: the topics named once, in order, then one INVALID_REQUEST per name given
    // more than once.
    for t in req
        .topics
        .iter()
        .filter(|t| !dups.contains(&&t.name) && broker.image().is_none())
    {
        let mut r = result(&t.name);
        match check(broker, t) {
            Err((code, msg)) => {
                r.error_code = code.code();
                r.error_message = message(msg);
            }
            Ok((partitions, overrides)) => {
                let created = if req.validate_only {
                    broker
                        .logs()
                        .defaults()
                        .with_overrides(&overrides)
                        .map(|c| (c, uuid::Uuid::nil()))
                        .map_err(|e| (ResponseError::InvalidConfig, e))
                } else {
                    broker
                        .create_topic(t.name.0.as_str(), partitions, overrides.clone())
                        .await
                        .map(|tl| ((*tl.config()).clone(), tl.id))
                        .map_err(|e| (topic_error(&e), e.to_string()))
                };
                match created {
                    Ok((cfg, id)) => {
                        if version >= 7 {
                            r.topic_id = id;
                        }
                        if version >= 5 {
                            r.num_partitions = partitions;
                            r.replication_factor = 1;
                            r.configs = Some(describe(broker, &cfg, &overrides));
                        }
                    }
                    Err((code, msg)) => {
                        r.error_code = code.code();
                        r.error_message = message(msg);
                    }
                }
            }
        }
        resp.topics.push(r);
    }
    for name in dups {
        let mut r = result(name);
        r.error_code = ResponseError::InvalidRequest.code();
        r.error_message = message("Duplicate topic name.");
        resp.topics.push(r);
    }
    resp
}
