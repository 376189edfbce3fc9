//! ListPartitionReassignments (key 46) and AlterPartitionReassignments (key 45).
//!
//! In a cluster both go to the active controller (as Kafka's brokers forward them), which
//! moves replicas (`controller/reassign.rs`); the brokers then follow the image: new
//! replicas are created and fetch, removed ones are deleted.
//!
//! On one broker no reassignment is ever in progress (every partition's only replica is
//! this broker), so List is always empty and Alter accepts only a target of this broker
//! (no change, as Kafka's controller records none), with Kafka 4.0's errors for the rest.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};

use std::time::Duration;

use super::message;
use crate::broker::Broker;
use crate::controller::active::{ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS};

/// The shortest wait for the controller, whatever the request's timeout says.
const MIN_TIMEOUT: Duration = Duration::from_secs(5);

fn timeout_of(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64).clamp(MIN_TIMEOUT, Duration::from_secs(300))
}

pub async fn list(
    broker: &Broker,
    req: ListPartitionReassignmentsRequest,
    _version: i16,
) -> ListPartitionReassignmentsResponse {
    if broker.image().is_some() {
        let not_controller =
            |r: &ListPartitionReassignmentsResponse| r.error_code == ResponseError::NotController.code();
        let timeout = timeout_of(req.timeout_ms);
        return match broker
            .forward((LIST_PARTITION_REASSIGNMENTS, 0), &req, timeout, not_controller)
            .await
        {
            Some(r) => r,
            None => ListPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(message("the active controller did not answer in time")),
        };
    }
    // Unknown topics are skipped silently, as Kafka; nothing is ever reassigning.
    ListPartitionReassignmentsResponse::default().with_error_message(None)
}

pub async fn alter(
    broker: &Broker,
    req: AlterPartitionReassignmentsRequest,
    _version: i16,
) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.error_message = None;
    resp.allow_replication_factor_change = req.allow_replication_factor_change;
    if broker.image().is_some() {
        let not_controller =
            |r: &AlterPartitionReassignmentsResponse| r.error_code == ResponseError::NotController.code();
        let timeout = timeout_of(req.timeout_ms);
        return match broker
            .forward((ALTER_PARTITION_REASSIGNMENTS, 1), &req, timeout, not_controller)
            .await
        {
            Some(r) => r,
            None => {
                resp.error_code = ResponseError::RequestTimedOut.code();
                resp.error_message = message("the active controller did not answer in time");
                resp
            }
        };
    }
    for t in req.topics {
        let name = t.name.0.to_string();
        let topic = broker.logs().topic(&name);
        let mut tr = ReassignableTopicResponse::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut r = ReassignablePartitionResponse::default();
            r.partition_index = p.partition_index;
            let outcome = match &topic {
                None => Err((
                    ResponseError::UnknownTopicOrPartition,
                    Some(format!("Unable to find a topic named {name}.")),
                )),
                Some(t)
                    if usize::try_from(p.partition_index)
                        .ok()
                        .and_then(|i| t.partitions.get(i))
                        .is_none() =>
                {
                    Err((
                        ResponseError::UnknownTopicOrPartition,
                        Some(format!("Unable to find partition {name}:{}.", p.partition_index)),
                    ))
                }
                // Cancelling: there is never one to cancel (Kafka sends no message).
                Some(_) => match &p.replicas {
                    None => Err((ResponseError::NoReassignmentInProgress, None)),
                    Some(replicas) => super::replica_assignment::check_manual(replicas, broker.node_id())
                        .map_err(|m| (ResponseError::InvalidReplicaAssignment, Some(m))),
                },
            };
            if let Err((e, msg)) = outcome {
                r.error_code = e.code();
                r.error_message = msg.and_then(message);
            } else {
                r.error_message = None;
            }
            tr.partitions.push(r);
        }
        resp.responses.push(tr);
    }
    resp
}
