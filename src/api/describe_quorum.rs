//! DescribeQuorum (key 55, v0-v2): brokk is its own single-voter KRaft controller
//! (`log/quorum_state.rs`), and answers as Kafka's controller does for it: exactly
//! `__cluster_metadata` partition 0 is described (anything else gets
//! UNKNOWN_TOPIC_OR_PARTITION per partition); this node leads at the quorum epoch, with the
//! metadata offset as high watermark and log end; the leader's fetch and caught-up times are
//! now; no observers; v2 lists the voter's endpoint. A node in a multi-node quorum
//! (`controller.quorum.voters`) answers from its Raft state instead ([`describe_raft`]).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use super::{message, topic_name};
use crate::broker::Broker;

const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(broker: &Broker, req: DescribeQuorumRequest, version: i16) -> DescribeQuorumResponse {
    // v2's messages: "" where there is no error, as Kafka's.
    let mut resp = DescribeQuorumResponse::default();
    resp.error_message = Some(StrBytes::default());
    let valid = req.topics.len() == 1
        && req.topics[0].topic_name.0.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !valid {
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
        return resp;
    }
    if let Some(q) = broker.quorum() {
        return describe_raft(q, resp, version);
    }
    let node = broker.node_id();
    let quorum = broker.logs().quorum();
    let offset = quorum.metadata_offset.load(std::sync::atomic::Ordering::Acquire);
    let now = crate::log::now_ms();
    let mut voter = ReplicaState::default();
    voter.replica_id = BrokerId(node);
    voter.log_end_offset = offset;
    voter.last_fetch_timestamp = now;
    voter.last_caught_up_timestamp = now;
    let mut d = PartitionData::default();
    d.partition_index = 0;
    d.error_message = Some(StrBytes::default());
    d.leader_id = BrokerId(node);
    d.leader_epoch = quorum.leader_epoch.load(std::sync::atomic::Ordering::Acquire);
    d.high_watermark = offset;
    d.current_voters = vec![voter];
    let mut t = TopicData::default();
    t.topic_name = topic_name(METADATA_TOPIC);
    t.partitions = vec![d];
    resp.topics = vec![t];
    if version >= 2 {
        let (host, port) = broker.advertised();
        let mut n = Node::default();
        n.node_id = BrokerId(node);
        n.listeners = vec![
            Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(port as u16),
        ];
        resp.nodes = vec![n];
    }
    resp
}

/// The answer of a node in a multi-node quorum: the leader describes every voter's log end
/// offset as its replication knows it; a follower answers NOT_LEADER_OR_FOLLOWER with the
/// leader it knows, as Kafka's controller does.
fn describe_raft(
    q: &crate::controller::quorum::node::QuorumNode,
    mut resp: DescribeQuorumResponse,
    version: i16,
) -> DescribeQuorumResponse {
    let status = q.status();
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
                let t = if *id == q.node_id { now } else { -1 };
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
    t.topic_name = topic_name(METADATA_TOPIC);
    t.partitions = vec![d];
    resp.topics = vec![t];
    if version >= 2 && status.is_leader {
        resp.nodes = q
            .voters()
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
