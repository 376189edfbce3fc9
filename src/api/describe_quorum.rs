//! DescribeQuorum (key 55, v0-v2): brokk is its own single-voter KRaft controller
//! (`log/quorum_state.rs`), and answers as Kafka's controller does for it: exactly
//! `__cluster_metadata` partition 0 is described (anything else gets
//! UNKNOWN_TOPIC_OR_PARTITION per partition); this node leads at the quorum epoch, with the
//! metadata offset as high watermark and log end; the leader's fetch and caught-up times are
//! now; no observers; v2 lists the voter's endpoint. A node in a multi-node quorum
//! (`controller.quorum.voters`) answers from its Raft state instead (`controller::quorum::describe`).

use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::broker::Broker;
use crate::controller::quorum::describe::{self, METADATA_TOPIC};

pub async fn handle(
    broker: &Broker,
    req: DescribeQuorumRequest,
    version: i16,
    listener: &str,
) -> DescribeQuorumResponse {
    // v2's messages: "" where there is no error, as Kafka's.
    let mut resp = DescribeQuorumResponse::default();
    resp.error_message = Some(StrBytes::default());
    if let Some(refused) = describe::refuse_other_partitions(&req, resp.clone()) {
        return refused;
    }
    if let Some(q) = broker.quorum() {
        return describe::from_member(q, req, resp, version).await;
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
        let (host, port) = broker.advertised_on(listener);
        let mut n = Node::default();
        n.node_id = BrokerId(node);
        n.listeners = vec![
            Listener::default()
                .with_name(StrBytes::from_string(listener.to_string()))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(port as u16),
        ];
        resp.nodes = vec![n];
    }
    resp
}
