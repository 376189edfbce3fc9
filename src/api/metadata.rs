//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions;
//! auto-creates unknown topics when `auto.create.topics.enable` and the request allow it.
//! The brokers are the unfenced ones of the cluster (`Broker::brokers`). Alone, brokk is
//! every partition's leader and only replica; in a cluster, topics come from the metadata
//! image (`metadata_image.rs`) and auto-creation goes through the active controller.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, metadata_request};
use kafka_protocol::protocol::StrBytes;

use super::errors::topic_error;
use super::metadata_image;
use super::topic_name;
use crate::broker::Broker;
use crate::log::manager::{TopicError, TopicLog, validate_topic_name};

/// Kafka's "authorized operations not requested" sentinel.
pub const OPS_NOT_REQUESTED: i32 = i32::MIN;
/// Without ACLs every operation is allowed: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS (AclOperation codes 3-8, 10, 11).
pub const TOPIC_OPS: i32 = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// The operations Kafka defines on the CLUSTER resource, all allowed without ACLs: CREATE,
/// ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE (codes 5,
/// 7-12) = 8096, what Kafka answers with no authorizer.
pub const CLUSTER_OPS: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// A topic's entry without its partitions: name, internal flag (v1+), id (v10+) and the
/// authorized operations when asked.
pub fn topic_header(name: &str, id: uuid::Uuid, include_ops: bool, version: i16) -> MetadataResponseTopic {
    let mut r = MetadataResponseTopic::default();
    r.name = Some(topic_name(name));
    r.is_internal = version >= 1 && crate::log::internal::is_internal(name);
    if version >= 10 {
        r.topic_id = id;
    }
    r.topic_authorized_operations = if include_ops { TOPIC_OPS } else { OPS_NOT_REQUESTED };
    r
}

fn topic_response(broker: &Broker, t: &TopicLog, include_ops: bool, version: i16) -> MetadataResponseTopic {
    let node = BrokerId(broker.node_id());
    let mut r = topic_header(&t.name, t.id, include_ops, version);
    r.partitions = t
        .partitions
        .iter()
        .map(|p| {
            let mut pr = MetadataResponsePartition::default();
            pr.partition_index = p.index();
            pr.replica_nodes = vec![node];
            if version >= 7 {
                pr.leader_epoch = p.metadata_leader_epoch();
            }
            if p.is_offline() {
                // As Kafka once its controller has the failed log dir: no leader, the
                // replica offline and out of the ISR.
                pr.error_code = ResponseError::LeaderNotAvailable.code();
                pr.leader_id = BrokerId(-1);
                if version >= 5 {
                    pr.offline_replicas = vec![node];
                }
            } else {
                pr.leader_id = node;
                pr.isr_nodes = vec![node];
            }
            pr
        })
        .collect();
    r
}

fn error_topic(name: Option<&str>, id: uuid::Uuid, err: ResponseError) -> MetadataResponseTopic {
    let mut r = MetadataResponseTopic::default();
    r.error_code = err.code();
    r.name = name.map(topic_name);
    r.topic_id = id;
    r.topic_authorized_operations = OPS_NOT_REQUESTED;
    r
}

/// Kafka's answer to a Metadata request it refuses: every requested topic echoed with the
/// error (a null name as ""), and no brokers, controller or cluster id.
fn refused(requested: &[metadata_request::MetadataRequestTopic], err: ResponseError, version: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default();
    if version >= 13 {
        resp.error_code = err.code();
    }
    resp.topics = requested
        .iter()
        .map(|t| {
            let mut r = error_topic(None, t.topic_id, err);
            r.name = Some(t.name.clone().unwrap_or_default());
            r
        })
        .collect();
    resp
}

pub async fn handle(broker: &Broker, req: MetadataRequest, version: i16, listener: &str) -> MetadataResponse {
    let include_ops = req.include_topic_authorized_operations;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let all = match &req.topics {
        None => true,
        Some(t) => version == 0 && t.is_empty(),
    };
    let allow_create = broker.config().auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let mut topics = vec![];
    let requested = req.topics.as_deref().unwrap_or_default();
    if !all && version < 12 && requested.iter().any(|t| t.name.is_none() || !t.topic_id.is_nil()) {
        // Topic ids are in v10-11's schema but usable only from v12: Kafka refuses the
        // request as a whole.
        return refused(requested, ResponseError::InvalidRequest, version);
    }
    let ids: Vec<uuid::Uuid> = requested.iter().map(|t| t.topic_id).filter(|id| !id.is_nil()).collect();
    if !all && ids.is_empty() && requested.iter().any(|t| t.name.is_none()) {
        // Neither a name nor an id: Kafka fails on the null name (its NullPointerException).
        return refused(requested, ResponseError::UnknownServerError, version);
    }
    // In a cluster the image has the topics, the coordinators' internal ones included.
    let image = broker.image();
    let nodes: Vec<_> = broker.brokers(listener).into_iter().filter(|b| !b.fenced).collect();
    let live: std::collections::BTreeSet<i32> = nodes.iter().map(|b| b.id).collect();
    let local = |_: &TopicLog| image.is_none();
    if !all && !ids.is_empty() {
        // Any topic id makes Kafka look up ids only (names beside them are ignored): the
        // unknown ids first, then the topics found.
        let (mut found, mut unknown) = (vec![], vec![]);
        let mut seen = std::collections::HashSet::new();
        for id in ids.into_iter().filter(|id| seen.insert(*id)) {
            if let Some(t) = image.as_ref().and_then(|i| i.topics.get(&id)) {
                found.push(metadata_image::topic_response(t, &live, include_ops, version));
                continue;
            }
            match broker.logs().topic_by_id(&id).filter(|t| local(t)) {
                Some(t) => found.push(topic_response(broker, &t, include_ops, version)),
                None => unknown.push(error_topic(None, id, ResponseError::UnknownTopicId)),
            }
        }
        unknown.extend(found);
        topics = unknown;
    } else if all {
        let mut named: Vec<(String, MetadataResponseTopic)> = broker
            .logs()
            .topics()
            .iter()
            .filter(|t| local(t))
            .map(|t| (t.name.to_string(), topic_response(broker, t, include_ops, version)))
            .collect();
        if let Some(i) = &image {
            named.extend(i.topics.values().map(|t| {
                (
                    t.name.clone(),
                    metadata_image::topic_response(t, &live, include_ops, version),
                )
            }));
            named.sort_by(|a, b| a.0.cmp(&b.0));
        }
        topics = named.into_iter().map(|(_, t)| t).collect();
    } else {
        for rt in requested {
            let Some(name) = rt.name.as_ref().map(|n| n.0.as_str().to_string()) else {
                continue; // refused above
            };
            if let Some(i) = &image {
                topics.push(match i.topic(&name) {
                    Some(t) => metadata_image::topic_response(t, &live, include_ops, version),
                    None => match validate_topic_name(&name) {
                        Err(e) => error_topic(Some(&name), uuid::Uuid::nil(), topic_error(&e)),
                        Ok(()) if allow_create => match broker.auto_create_in_cluster(&name).await {
                            Ok(()) => match broker.image().and_then(|i| i.topic(&name).cloned()) {
                                Some(t) => metadata_image::topic_response(&t, &live, include_ops, version),
                                None => error_topic(Some(&name), uuid::Uuid::nil(), ResponseError::LeaderNotAvailable),
                            },
                            Err((e, _)) => error_topic(Some(&name), uuid::Uuid::nil(), e),
                        },
                        Ok(()) => error_topic(Some(&name), uuid::Uuid::nil(), ResponseError::UnknownTopicOrPartition),
                    },
                });
                continue;
            }
            let found = match broker.logs().topic(&name) {
                Some(t) => Ok(t),
                None => match validate_topic_name(&name) {
                    Err(e) => Err(e),
                    Ok(()) if allow_create => broker.get_or_create_topic(&name).await,
                    Ok(()) => Err(TopicError::Unknown(name.clone())),
                },
            };
            topics.push(match found {
                Ok(t) => topic_response(broker, &t, include_ops, version),
                Err(e) => error_topic(Some(&name), uuid::Uuid::nil(), topic_error(&e)),
            });
        }
    }
    let mut resp = MetadataResponse::default();
    resp.brokers = nodes
        .iter()
        .map(|n| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(n.id);
            b.host = StrBytes::from_string(n.host.clone());
            b.port = n.port;
            if version >= 1 {
                b.rack = n.rack.clone().map(StrBytes::from_string);
            }
            b
        })
        .collect();
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id().to_string()));
    }
    if version >= 1 {
        resp.controller_id = BrokerId(broker.client_controller_id(&nodes));
    }
    resp.topics = topics;
    if req.include_cluster_authorized_operations && (8..=10).contains(&version) {
        resp.cluster_authorized_operations = CLUSTER_OPS;
    }
    resp
}
