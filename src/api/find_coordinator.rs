//! FindCoordinator: a single broker is the coordinator of every group (key type 0) and
//! transactional id (key type 1). In a cluster (`coordinator_of`), a key's coordinator is
//! the leader of its partition of `__consumer_offsets` or `__transaction_state`, as in
//! Kafka. v0-v3 ask for one key, v4+ for a batch (KIP-699). The first lookup creates the
//! topic, as in Kafka (in a cluster, through the controller, with
//! `offsets.topic.replication.factor` / `transaction.state.log.replication.factor`
//! replicas: COORDINATOR_NOT_AVAILABLE while it cannot be created or has no leader). A key whose partition of that topic is in
//! a failed log dir gets COORDINATOR_NOT_AVAILABLE (Kafka: the partition has no leader).
//! Other key types (2 = share groups) are INVALID_REQUEST.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::message;
use crate::broker::Broker;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// Where `key_type`'s coordinator is, or why not.
async fn locate(broker: &Broker, key_type: i8) -> Result<(), (ResponseError, String)> {
    // Kafka answers COORDINATOR_NOT_AVAILABLE while it cannot create the topic.
    match key_type {
        GROUP | TRANSACTION if broker.image().is_some() => {
            let name = if key_type == GROUP {
                crate::group::OFFSETS_TOPIC
            } else {
                crate::txn::coordinator::TRANSACTION_STATE_TOPIC
            };
            broker
                .ensure_internal_topic_in_cluster(name)
                .await
                .map_err(|(_, msg)| (ResponseError::CoordinatorNotAvailable, msg))
        }
        GROUP => broker
            .groups()
            .ensure_offsets_topic()
            .await
            .map_err(|e| (ResponseError::CoordinatorNotAvailable, e.to_string())),
        TRANSACTION => broker
            .txns()
            .ensure_topic()
            .await
            .map_err(|e| (ResponseError::CoordinatorNotAvailable, e.to_string())),
        _ => Err((
            ResponseError::InvalidRequest,
            format!("coordinator key type {key_type} is not supported (0 = group, 1 = transaction)"),
        )),
    }
}

/// The key's coordinator partition is in a failed log dir (of this broker, when it is the
/// coordinator `at`).
fn offline(broker: &Broker, key_type: i8, key: &str, at: i32) -> Result<(), (ResponseError, String)> {
    if at != broker.node_id() {
        return Ok(());
    }
    let offline = match key_type {
        GROUP => broker.groups().is_offline(key),
        TRANSACTION => broker.txns().is_offline(key),
        _ => false,
    };
    if offline {
        return Err((
            ResponseError::CoordinatorNotAvailable,
            "The coordinator is not available.".into(),
        ));
    }
    Ok(())
}

/// The broker coordinating `key`: alone, this one; in a cluster, the leader of the key's
/// partition of `__consumer_offsets` (a group) or `__transaction_state` (a transactional
/// id). COORDINATOR_NOT_AVAILABLE while the topic or a live leader is missing.
/// Its endpoint is the one of `listener`.
pub fn coordinator_of(
    broker: &Broker,
    listener: &str,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, i32), (ResponseError, String)> {
    let own = || {
        let (host, port) = broker.advertised_on(listener);
        (broker.node_id(), host.to_string(), port)
    };
    let Some(image) = broker.image() else {
        return Ok(own());
    };
    let unavailable = || {
        (
            ResponseError::CoordinatorNotAvailable,
            "The coordinator is not available.".to_string(),
        )
    };
    let name = if key_type == GROUP {
        crate::group::OFFSETS_TOPIC
    } else {
        crate::txn::coordinator::TRANSACTION_STATE_TOPIC
    };
    let t = image.topic(name).ok_or_else(unavailable)?;
    let p = crate::log::internal::partition_for(key, t.partitions.len() as i32);
    let leader = t.partitions.get(&p).map_or(-1, |p| p.leader);
    broker
        .brokers(listener)
        .into_iter()
        .find(|b| b.id == leader && !b.fenced)
        .map(|b| (b.id, b.host, b.port))
        .ok_or_else(unavailable)
}

pub async fn handle(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
    listener: &str,
) -> FindCoordinatorResponse {
    let located = locate(broker, req.key_type).await;
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let mut c = Coordinator::default();
                let located = located
                    .clone()
                    .and_then(|()| coordinator_of(broker, listener, req.key_type, &key))
                    .and_then(|at| offline(broker, req.key_type, &key, at.0).map(|()| at));
                c.key = key;
                match &located {
                    Ok((id, host, port)) => {
                        c.node_id = BrokerId(*id);
                        c.host = StrBytes::from_string(host.clone());
                        c.port = *port;
                    }
                    Err((e, msg)) => {
                        c.node_id = BrokerId(-1);
                        c.port = -1;
                        c.error_code = e.code();
                        c.error_message = message(msg.clone());
                    }
                }
                c
            })
            .collect();
        return resp;
    }
    let located = located
        .and_then(|()| coordinator_of(broker, listener, req.key_type, &req.key))
        .and_then(|at| offline(broker, req.key_type, &req.key, at.0).map(|()| at));
    match located {
        Ok((id, host, port)) => {
            resp.node_id = BrokerId(id);
            resp.host = StrBytes::from_string(host);
            resp.port = port;
            if version >= 1 {
                resp.error_message = message("NONE");
            }
        }
        Err((e, msg)) => {
            resp.error_code = e.code();
            resp.node_id = BrokerId(-1);
            resp.port = -1;
            if version >= 1 {
                resp.error_message = message(msg);
            }
        }
    }
    resp
}
