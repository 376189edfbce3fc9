//! ListPartitionReassignments (key 46) and AlterPartitionReassignments (key 45) on one
//! broker: no reassignment is ever in progress (every partition's only replica is this
//! broker), so List is always empty and Alter accepts only a target of this broker (no
//! change, as Kafka's controller records none), with Kafka 4.0's errors for the rest.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};

use super::message;
use crate::broker::Broker;

pub async fn list(
    _broker: &Broker,
    _req: ListPartitionReassignmentsRequest,
    _version: i16,
) -> ListPartitionReassignmentsResponse {
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
