//! CreateTopics and DeleteTopics in a cluster: the broker forwards them to the active
//! controller (as Kafka's brokers do), which decides and commits the metadata records; the
//! broker answers once its own image shows the result, so a Metadata request that follows
//! on this broker sees it. Duplicate names and internal topics are answered here, as on a
//! single broker.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};

use super::message;
use crate::broker::Broker;
use crate::controller::active::{CREATE_TOPICS, DELETE_TOPICS};

/// The versions the broker forwards with.
const CREATE_VERSION: i16 = 7;
const DELETE_VERSION: i16 = 6;
/// The shortest wait for the controller, whatever the request's timeout says.
const MIN_TIMEOUT: Duration = Duration::from_secs(5);

fn timeout_of(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64).max(MIN_TIMEOUT)
}

/// CreateTopics: the topics named once and not internal go to the controller; `local`
/// answers the rest (already checked by the caller, in the caller's order).
pub async fn create_topics(
    broker: &Broker,
    req: &CreateTopicsRequest,
    forward: Vec<usize>,
    version: i16,
) -> Vec<(usize, CreatableTopicResult)> {
    let timeout = timeout_of(req.timeout_ms);
    let fwd = CreateTopicsRequest::default()
        .with_topics(forward.iter().map(|i| req.topics[*i].clone()).collect())
        .with_timeout_ms(req.timeout_ms)
        .with_validate_only(req.validate_only);
    let not_controller = |r: &CreateTopicsResponse| {
        r.topics
            .iter()
            .any(|t| t.error_code == ResponseError::NotController.code())
    };
    let answer = broker
        .forward((CREATE_TOPICS, CREATE_VERSION), &fwd, timeout, not_controller)
        .await;
    let Some(answer) = answer else {
        return forward
            .into_iter()
            .map(|i| {
                let mut r = CreatableTopicResult::default();
                r.name = req.topics[i].name.clone();
                r.error_code = ResponseError::RequestTimedOut.code();
                r.error_message = message("the active controller did not answer in time".to_string());
                r.num_partitions = -1;
                r.replication_factor = -1;
                (i, r)
            })
            .collect();
    };
    let created: Vec<uuid::Uuid> = answer
        .topics
        .iter()
        .filter(|t| t.error_code == 0 && !t.topic_id.is_nil())
        .map(|t| t.topic_id)
        .collect();
    if !created.is_empty()
        && !broker
            .await_image(timeout, |i| created.iter().all(|id| i.topics.contains_key(id)))
            .await
    {
        tracing::warn!("created topics did not reach this broker's metadata image in time");
    }
    let mut out = vec![];
    for (i, mut r) in forward.into_iter().zip(answer.topics) {
        if r.error_code == 0 && version >= 5 {
            let t = &req.topics[i];
            let overrides = t
                .configs
                .iter()
                .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
                .collect();
            if let Ok(cfg) = broker.logs().defaults().with_overrides(&overrides) {
                r.configs = Some(super::create_topics::describe(broker, &cfg, &overrides));
            }
        } else if version < 5 {
            r.num_partitions = -1;
            r.replication_factor = -1;
        }
        if version < 7 {
            r.topic_id = uuid::Uuid::nil();
        }
        if version < 1 {
            r.error_message = None;
        }
        out.push((i, r));
    }
    out
}

/// DeleteTopics of `topics` (name or id): forwarded, answered once this broker's image
/// no longer has them.
pub async fn delete_topics(
    broker: &Broker,
    topics: Vec<(Option<TopicName>, uuid::Uuid)>,
    timeout_ms: i32,
    version: i16,
) -> Vec<DeletableTopicResult> {
    let timeout = timeout_of(timeout_ms);
    let fwd = DeleteTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|(n, id)| DeleteTopicState::default().with_name(n.clone()).with_topic_id(*id))
                .collect(),
        )
        .with_timeout_ms(timeout_ms);
    let not_controller = |r: &DeleteTopicsResponse| {
        r.responses
            .iter()
            .any(|t| t.error_code == ResponseError::NotController.code())
    };
    let Some(answer) = broker
        .forward((DELETE_TOPICS, DELETE_VERSION), &fwd, timeout, not_controller)
        .await
    else {
        return topics
            .into_iter()
            .map(|(name, id)| {
                let mut r = DeletableTopicResult::default();
                r.name = name;
                r.topic_id = id;
                r.error_code = ResponseError::RequestTimedOut.code();
                r
            })
            .collect();
    };
    let gone: Vec<uuid::Uuid> = answer
        .responses
        .iter()
        .filter(|t| t.error_code == 0)
        .map(|t| t.topic_id)
        .collect();
    if !gone.is_empty()
        && !broker
            .await_image(timeout, |i| gone.iter().all(|id| !i.topics.contains_key(id)))
            .await
    {
        tracing::warn!("deleted topics did not leave this broker's metadata image in time");
    }
    answer
        .responses
        .into_iter()
        .map(|mut r| {
            if version < 6 {
                r.topic_id = uuid::Uuid::nil();
            }
            if version < 5 {
                r.error_message = None;
            }
            r
        })
        .collect()
}
