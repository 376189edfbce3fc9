//! CreatePartitions (key 37): grows topics, as Kafka's controller checks it (duplicate
//! names, unknown topic, not an increase, manual assignments onto this one broker), with
//! validate_only. New partitions are empty, led by this broker at epoch 0; clients find them
//! through Metadata. In a cluster the active controller checks and places the new
//! partitions (`controller/partitions.rs`), and each broker grows its logs as the metadata
//! image says.

use std::collections::{HashMap, HashSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::errors::topic_error;
use super::message;
use crate::broker::Broker;
use crate::log::manager::TopicError;

/// Kafka's manual-assignment checks, for a topic growing from `current` partitions; every
/// replica list must be exactly this broker.
fn check_assignments(t: &CreatePartitionsTopic, current: i32, node: i32) -> Result<(), String> {
    let Some(assignments) = &t.assignments else {
        return Ok(());
    };
    let adding = t.count - current;
    if assignments.len() as i64 != adding as i64 {
        return Err(format!(
            "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        ));
    }
    for a in assignments {
        super::replica_assignment::check_manual(&a.broker_ids, node)?;
    }
    Ok(())
}

async fn grow(
    broker: &Broker,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ResponseError, Option<String>)> {
    let name = t.name.0.to_string();
    let logs = broker.logs().clone();
    let fail = |e: TopicError| {
        let code = topic_error(&e);
        // Kafka sends no message when it would only repeat the error's own.
        let msg = (!matches!(e, TopicError::Unknown(_))).then(|| e.to_string());
        (code, msg)
    };
    // The count checks first (as a validation), then the assignments, then the change.
    let current = {
        let (logs, name, count) = (logs.clone(), name.clone(), t.count);
        let checked = tokio::task::spawn_blocking(move || logs.create_partitions(&name, count, true)).await;
        match checked {
            Ok(Ok(topic)) => topic.partitions.len() as i32,
            Ok(Err(e)) => return Err(fail(e)),
            Err(_) => return Err((ResponseError::UnknownServerError, None)),
        }
    };
    check_assignments(t, current, broker.node_id()).map_err(|m| (ResponseError::InvalidReplicaAssignment, Some(m)))?;
    if validate_only {
        return Ok(());
    }
    let count = t.count;
    match tokio::task::spawn_blocking(move || logs.create_partitions(&name, count, false)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err((ResponseError::UnknownServerError, None)),
    }
}

pub async fn handle(broker: &Broker, req: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *counts.entry(t.name.0.as_str()).or_default() += 1;
    }
    let mut reported = HashSet::new();
    let result = |t: &CreatePartitionsTopic, code: i16, msg: Option<String>| {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        r.error_code = code;
        r.error_message = msg.and_then(message);
        r
    };
    let mut forward = vec![];
    for t in &req.topics {
        let name = t.name.0.as_str();
        if counts.get(name).is_some_and(|n| *n > 1) {
            // One result per duplicated name, as Kafka.
            if reported.insert(name) {
                let code = ResponseError::InvalidRequest.code();
                resp.results.push(result(t, code, Some("Duplicate topic name.".into())));
            }
            continue;
        }
        // Kafka's deadline has passed before its controller sees the request.
        if req.timeout_ms <= 0 {
            resp.results
                .push(result(t, ResponseError::RequestTimedOut.code(), None));
            continue;
        }
        if broker.image().is_some() {
            // A cluster: the active controller decides (below, for all at once).
            forward.push(t.clone());
            continue;
        }
        let r = match grow(broker, t, req.validate_only).await {
            Ok(()) => result(t, 0, None),
            Err((e, msg)) => result(t, e.code(), msg),
        };
        resp.results.push(r);
    }
    if !forward.is_empty() {
        let names: Vec<_> = forward.iter().map(|t| t.name.clone()).collect();
        let sent = CreatePartitionsRequest::default()
            .with_topics(forward)
            .with_timeout_ms(req.timeout_ms)
            .with_validate_only(req.validate_only);
        let not_controller = |r: &CreatePartitionsResponse| {
            r.results
                .iter()
                .any(|t| t.error_code == ResponseError::NotController.code())
        };
        let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(1_000, 300_000) as u64);
        match broker
            .forward(
                (crate::controller::active::CREATE_PARTITIONS, 3),
                &sent,
                timeout,
                not_controller,
            )
            .await
        {
            Some(r) => resp.results.extend(r.results),
            None => resp.results.extend(names.into_iter().map(|name| {
                let mut r = CreatePartitionsTopicResult::default();
                r.name = name;
                r.error_code = ResponseError::RequestTimedOut.code();
                r
            })),
        }
        // Kafka's brokers answer once their metadata has the new partitions; clients
        // that look right after find them.
        let wanted: Vec<(String, i32)> = req
            .topics
            .iter()
            .filter(|t| resp.results.iter().any(|r| r.name == t.name && r.error_code == 0))
            .map(|t| (t.name.0.to_string(), t.count))
            .collect();
        if !req.validate_only && !wanted.is_empty() {
            broker
                .await_image(std::time::Duration::from_secs(5), |i| {
                    wanted
                        .iter()
                        .all(|(n, c)| i.topic(n).is_some_and(|t| t.partitions.len() as i32 >= *c))
                })
                .await;
        }
    }
    resp
}
