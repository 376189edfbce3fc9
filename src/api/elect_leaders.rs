//! ElectLeaders (key 43). In a cluster the request goes to the active controller, which
//! elects preferred or unclean leaders (`controller/leaders.rs`). On one broker every
//! partition is led by its preferred (and only) replica, so every election is
//! ELECTION_NOT_NEEDED, answered as Kafka 4.0's controller does: omitted when all
//! partitions were asked for (null), per partition otherwise; unknown topics and
//! partitions, and unknown election types, with Kafka's messages.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::message;
use crate::broker::Broker;

fn result(partition: i32, e: ResponseError, msg: String) -> PartitionResult {
    let mut r = PartitionResult::default();
    r.partition_id = partition;
    r.error_code = e.code();
    r.error_message = message(msg);
    r
}

pub async fn handle(broker: &Broker, mut req: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    // v0 has no election type: preferred.
    let kind = if version >= 1 { req.election_type } else { 0 };
    if broker.image().is_some() {
        // A cluster: the active controller elects (forwarded at v2, a flexible version).
        req.election_type = kind;
        let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(1_000, 300_000) as u64);
        let not_controller = |r: &ElectLeadersResponse| r.error_code == ResponseError::NotController.code();
        return match broker
            .forward(
                (crate::controller::active::ELECT_LEADERS, 2),
                &req,
                timeout,
                not_controller,
            )
            .await
        {
            Some(mut r) => {
                if version == 0 {
                    // v0 has no top-level error: it goes to every partition asked for.
                    r.error_code = 0;
                }
                r
            }
            None => {
                if version >= 1 {
                    resp.error_code = ResponseError::RequestTimedOut.code();
                }
                resp
            }
        };
    }
    let Some(wanted) = req.topic_partitions else {
        // All partitions: the not-needed ones are left out, each topic still listed.
        if !(0..=1).contains(&kind) {
            resp.error_code = ResponseError::InvalidRequest.code();
            return resp;
        }
        resp.replica_election_results = broker
            .logs()
            .topics()
            .iter()
            .map(|t| {
                let mut r = ReplicaElectionResult::default();
                r.topic = super::topic_name(&t.name);
                r
            })
            .collect();
        return resp;
    };
    if wanted.is_empty() {
        return resp;
    }
    if !(0..=1).contains(&kind) {
        resp.error_code = ResponseError::InvalidRequest.code();
    }
    for tp in wanted {
        let name = tp.topic.0.to_string();
        let topic = broker.logs().topic(&name);
        let mut r = ReplicaElectionResult::default();
        r.topic = tp.topic.clone();
        for p in tp.partitions {
            let res = if !(0..=1).contains(&kind) {
                result(
                    p,
                    ResponseError::InvalidRequest,
                    format!("Unknown election type {kind}"),
                )
            } else {
                match &topic {
                    None => result(
                        p,
                        ResponseError::UnknownTopicOrPartition,
                        format!("No such topic as {name}"),
                    ),
                    Some(t) if usize::try_from(p).ok().and_then(|i| t.partitions.get(i)).is_none() => result(
                        p,
                        ResponseError::UnknownTopicOrPartition,
                        format!("No such partition as {name}-{p}"),
                    ),
                    // The only replica is in a failed log dir: no leader can be elected.
                    Some(t) if t.partitions[p as usize].is_offline() => {
                        if kind == 0 {
                            result(
                                p,
                                ResponseError::PreferredLeaderNotAvailable,
                                "The preferred leader was not available.".into(),
                            )
                        } else {
                            result(
                                p,
                                ResponseError::EligibleLeadersNotAvailable,
                                "Eligible topic partition leaders are not available.".into(),
                            )
                        }
                    }
                    Some(_) => result(
                        p,
                        ResponseError::ElectionNotNeeded,
                        "Leader election not needed for topic partition.".into(),
                    ),
                }
            };
            r.partition_result.push(res);
        }
        resp.replica_election_results.push(r);
    }
    resp
}
