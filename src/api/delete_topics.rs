//! DeleteTopics (key 20): by name (v1-5) or by name or topic id (v6); the topic's data is
//! removed from disk before the answer. In a cluster the active controller removes the
//! topic from the metadata (`forwarded.rs`) and every broker's logs follow.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::errors::topic_error;
use super::{message, topic_name};
use crate::broker::Broker;

async fn delete_one(broker: &Broker, name: Option<TopicName>, id: uuid::Uuid, version: i16) -> DeletableTopicResult {
    let mut r = DeletableTopicResult::default();
    r.name = name.clone();
    r.topic_id = id;
    let resolved = match (&name, id.is_nil()) {
        (Some(n), true) => Ok(n.0.as_str().to_string()),
        (None, false) => broker
            .logs()
            .topic_by_id(&id)
            .map(|t| t.name.to_string())
            .ok_or(ResponseError::UnknownTopicId),
        _ => Err(ResponseError::InvalidRequest),
    };
    let name = match resolved {
        Ok(n) => n,
        Err(e) => {
            r.error_code = e.code();
            return r;
        }
    };
    if crate::log::internal::is_internal(&name) {
        r.error_code = ResponseError::InvalidRequest.code();
        if version >= 5 {
            r.error_message = message(format!("{name} is an internal topic and cannot be deleted"));
        }
        return r;
    }
    if !broker.config().delete_topic_enable {
        r.error_code = ResponseError::TopicDeletionDisabled.code();
        return r;
    }
    let logs = broker.logs().clone();
    let cleaner = broker.cleaner().clone();
    let n = name.clone();
    let result = tokio::task::spawn_blocking(move || {
        let deleted = logs.delete_topic(&n)?;
        cleaner.forget_topic(&n);
        Ok(deleted)
    })
    .await;
    match result {
        Ok(Ok(t)) => {
            broker.groups().topic_deleted(&t.name).await;
            r.name = Some(topic_name(&t.name));
            if version >= 6 {
                r.topic_id = t.id;
            }
        }
        Ok(Err(e)) => {
            r.error_code = topic_error(&e).code();
            if version >= 5 {
                r.error_message = message(e.to_string());
            }
        }
        Err(e) => {
            tracing::error!(topic = %name, error = %e, "delete task failed");
            r.error_code = ResponseError::UnknownServerError.code();
        }
    }
    r
}

pub async fn handle(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let mut resp = DeleteTopicsResponse::default();
    if broker.image().is_some() {
        resp.responses = delete_in_cluster(broker, req, version).await;
        return resp;
    }
    if version >= 6 {
        for t in req.topics {
            resp.responses
                .push(delete_one(broker, t.name, t.topic_id, version).await);
        }
    } else {
        for n in req.topic_names {
            resp.responses
                .push(delete_one(broker, Some(n), uuid::Uuid::nil(), version).await);
        }
    }
    resp
}

/// In a cluster: internal topics and a disabled deletion are answered here, the rest is
/// forwarded to the active controller.
async fn delete_in_cluster(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> Vec<DeletableTopicResult> {
    let named: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut out: Vec<Option<DeletableTopicResult>> = vec![None; named.len()];
    let mut forward = vec![];
    for (i, (name, id)) in named.iter().enumerate() {
        let mut r = DeletableTopicResult::default();
        r.name = name.clone();
        r.topic_id = *id;
        if name.is_some() != id.is_nil() {
            r.error_code = ResponseError::InvalidRequest.code();
        } else if name
            .as_ref()
            .is_some_and(|n| crate::log::internal::is_internal(n.0.as_str()))
        {
            r.error_code = ResponseError::InvalidRequest.code();
            if version >= 5 {
                r.error_message = message(format!(
                    "{} is an internal topic and cannot be deleted",
                    name.as_ref().map(|n| n.0.as_str()).unwrap_or_default()
                ));
            }
        } else if !broker.config().delete_topic_enable {
            r.error_code = ResponseError::TopicDeletionDisabled.code();
        } else {
            forward.push(i);
            continue;
        }
        out[i] = Some(r);
    }
    if !forward.is_empty() {
        let topics = forward.iter().map(|i| named[*i].clone()).collect();
        let answers = super::forwarded::delete_topics(broker, topics, req.timeout_ms, version).await;
        for (i, r) in forward.into_iter().zip(answers) {
            out[i] = Some(r);
        }
    }
    out.into_iter().flatten().collect()
}
