//! DescribeQuorum for a node of a multi-node quorum, as Kafka's controllers answer it: the
//! leader describes `__cluster_metadata-0` (epoch, high watermark, every voter's log end
//! offset as its replication knows it, v2: the voters' CONTROLLER endpoints); a controller
//! that does not lead answers NOT_LEADER_OR_FOLLOWER naming the leader it knows. A broker
//! forwards the request to the leading controller, as Kafka's brokers do
//! ([`from_member`]), over the CONTROLLER listener, which serves DescribeQuorum itself too.

use std::collections::BTreeMap;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::net::TcpStream;

use super::frame::{read_response, write_request};
use super::member::QuorumMember;
use super::node::QuorumStatus;
use super::{ControllerNode, NodeId};

pub const METADATA_TOPIC: &str = crate::metadata::METADATA_TOPIC;
/// DescribeQuorum's API key.
pub const API_KEY: i16 = 55;
/// The versions served (kafka-protocol's).
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=2;

fn message(s: &str) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.to_string()))
}

/// `resp` with UNKNOWN_TOPIC_OR_PARTITION for every partition when the request is not for
/// exactly `__cluster_metadata-0`; `None` when it is.
pub fn refuse_other_partitions(
    req: &DescribeQuorumRequest,
    mut resp: DescribeQuorumResponse,
) -> Option<DescribeQuorumResponse> {
    let valid = req.topics.len() == 1
        && req.topics[0].topic_name.0.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if valid {
        return None;
    }
    resp.topics = req
        .topics
        .iter()
        .map(|t| {
            let mut out = TopicData::default();
            out.topic_name = t.topic_name.clone();
            out.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut d = PartitionData::default();
                    d.partition_index = p.partition_index;
                    d.error_code = ResponseError::UnknownTopicOrPartition.code();
                    d.error_message = message("This server does not host this topic-partition.");
                    d
                })
                .collect();
            out
        })
        .collect();
    Some(resp)
}

/// This node's own answer, from its view of the quorum.
pub fn answer(
    status: &QuorumStatus,
    node_id: NodeId,
    voters: &BTreeMap<NodeId, ControllerNode>,
    mut resp: DescribeQuorumResponse,
    version: i16,
) -> DescribeQuorumResponse {
    let now = crate::log::now_ms();
    let mut d = PartitionData::default();
    d.partition_index = 0;
    d.error_message = Some(StrBytes::default());
    d.leader_id = BrokerId(status.leader.map_or(-1, |l| l as i32));
    d.leader_epoch = status.epoch as i32;
    if status.is_leader {
        d.high_watermark = status.high_watermark;
        d.current_voters = status
            .voters
            .iter()
            .map(|(id, leo)| {
                let mut v = ReplicaState::default();
                v.replica_id = BrokerId(*id as i32);
                v.log_end_offset = *leo;
                // The leader's own times are now; a follower's are not tracked (-1).
                let t = if *id == node_id { now } else { -1 };
                v.last_fetch_timestamp = t;
                v.last_caught_up_timestamp = t;
                v
            })
            .collect();
    } else {
        d.error_code = ResponseError::NotLeaderOrFollower.code();
        d.error_message = message("This node is not the quorum's leader.");
        d.high_watermark = -1;
    }
    let mut t = TopicData::default();
    t.topic_name = TopicName(StrBytes::from_static_str(METADATA_TOPIC));
    t.partitions = vec![d];
    resp.topics = vec![t];
    if version >= 2 && status.is_leader {
        resp.nodes = voters
            .iter()
            .map(|(id, n)| {
                let mut node = Node::default();
                node.node_id = BrokerId(*id as i32);
                node.listeners = vec![
                    Listener::default()
                        .with_name(StrBytes::from_static_str("CONTROLLER"))
                        .with_host(StrBytes::from_string(n.host.clone()))
                        .with_port(n.port),
                ];
                node
            })
            .collect();
    }
    resp
}

/// A broker's answer: the leading controller's (this node's own when it leads, forwarded
/// to the leader otherwise; this node's NOT_LEADER_OR_FOLLOWER when the leader is unknown
/// or cannot be reached). A broker that does not vote always forwards, as Kafka's brokers.
pub async fn from_member(
    member: &QuorumMember,
    req: DescribeQuorumRequest,
    resp: DescribeQuorumResponse,
    version: i16,
) -> DescribeQuorumResponse {
    let node_id = member.node_id();
    let status = match member {
        QuorumMember::Voter(q) => q.status(),
        QuorumMember::Observer(o) => QuorumStatus {
            leader: o.leader(),
            epoch: o.epoch(),
            is_leader: false,
            high_watermark: -1,
            voters: BTreeMap::new(),
        },
    };
    let leader = status.leader.filter(|l| !status.is_leader && *l != node_id);
    if let Some(node) = leader.and_then(|l| member.voters().get(&l)) {
        match forward(node, node_id, &req, version).await {
            Ok(r) => return r,
            Err(e) => tracing::debug!(leader = ?leader, error = %e, "forwarding DescribeQuorum to the leader failed"),
        }
    }
    answer(&status, node_id, member.voters(), resp, version)
}

/// Sends `req` to `leader`'s CONTROLLER listener (bounded by 5 s).
async fn forward(
    leader: &ControllerNode,
    from: NodeId,
    req: &DescribeQuorumRequest,
    version: i16,
) -> Result<DescribeQuorumResponse, String> {
    let exchange = async {
        let mut body = BytesMut::new();
        req.encode(&mut body, version).map_err(|e| e.to_string())?;
        let mut s = TcpStream::connect((leader.host.as_str(), leader.port))
            .await
            .map_err(|e| e.to_string())?;
        let client = format!("brokk-broker-{from}");
        write_request(&mut s, API_KEY, version, 1, &client, &body)
            .await
            .map_err(|e| e.to_string())?;
        let (_, answer) = read_response(&mut s).await.map_err(|e| e.to_string())?;
        DescribeQuorumResponse::decode(&mut bytes::Bytes::from(answer), version).map_err(|e| e.to_string())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer in 5 s".to_string())?
}

/// The CONTROLLER listener's answer to a DescribeQuorum request's body.
pub fn serve(
    status: &QuorumStatus,
    node_id: NodeId,
    voters: &BTreeMap<NodeId, ControllerNode>,
    version: i16,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    if !VERSIONS.contains(&version) {
        return Err(format!("DescribeQuorum v{version} is not served"));
    }
    let req =
        DescribeQuorumRequest::decode(&mut bytes::Bytes::copy_from_slice(body), version).map_err(|e| e.to_string())?;
    let mut resp = DescribeQuorumResponse::default();
    resp.error_message = Some(StrBytes::default());
    let resp =
        refuse_other_partitions(&req, resp.clone()).unwrap_or_else(|| answer(status, node_id, voters, resp, version));
    let mut out = BytesMut::new();
    resp.encode(&mut out, version).map_err(|e| e.to_string())?;
    Ok(out.to_vec())
}
