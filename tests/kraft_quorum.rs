//! Three brokk processes configured with Kafka's KRaft keys (`process.roles`, `node.id`,
//! `controller.quorum.voters`, `controller.listener.names`, `listeners` with CONTROLLER)
//! form one metadata quorum: DescribeQuorum on any node (a follower forwards it to the
//! leader, as Kafka's brokers do) gives the same leader with the three voters caught up;
//! `kill -9` of the leader elects another in a later epoch, and the killed node, restarted,
//! follows it and catches up. The three agree on one cluster id.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Raw;
use common::process::BrokkProcess;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest, DescribeQuorumResponse,
};

const WAIT: Duration = Duration::from_secs(30);

fn request() -> DescribeQuorumRequest {
    let mut p = PartitionData::default();
    p.partition_index = 0;
    let mut t = TopicData::default();
    t.topic_name = common::topic("__cluster_metadata");
    t.partitions = vec![p];
    let mut r = DescribeQuorumRequest::default();
    r.topics = vec![t];
    r
}

async fn describe(node: &BrokkProcess) -> DescribeQuorumResponse {
    Raw::connect(node.addr()).await.call(&request(), 2).await
}

/// (error code, leader id, epoch, high watermark, voters' (id, log end offset)).
fn summary(r: &DescribeQuorumResponse) -> (i16, i32, i32, i64, Vec<(i32, i64)>) {
    let d = &r.topics[0].partitions[0];
    let voters = d
        .current_voters
        .iter()
        .map(|v| (v.replica_id.0, v.log_end_offset))
        .collect();
    (d.error_code, d.leader_id.0, d.leader_epoch, d.high_watermark, voters)
}

fn start(dir: &Path, id: i32, voters: &str, port: u16) -> BrokkProcess {
    let node_id = format!("node.id={id}");
    let listeners = format!("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}");
    let voters = format!("controller.quorum.voters={voters}");
    BrokkProcess::start(
        dir,
        &[
            "process.roles=broker,controller",
            &node_id,
            "controller.listener.names=CONTROLLER",
            &listeners,
            &voters,
            "controller.quorum.election.timeout.ms=500",
        ],
    )
}

/// Polls (every 50 ms, at most [`WAIT`]) until every node of `nodes` answers
/// DescribeQuorum (a follower forwards it to the leader, as Kafka's brokers do) with the
/// same leader, not `not`, in an epoch above `after`, listing the three voters and, with
/// `caught_up`, every one at the high watermark. Returns (leader id, epoch, hw).
async fn await_leader(
    nodes: &[(i32, &BrokkProcess)],
    not: Option<i32>,
    after: i32,
    caught_up: bool,
) -> (i32, i32, i64) {
    let start = Instant::now();
    loop {
        let mut answers = vec![];
        for (_, node) in nodes {
            answers.push(summary(&describe(node).await));
        }
        let first = &answers[0];
        let agreed = answers.iter().all(|a| a.0 == 0 && a.1 == first.1 && a.2 == first.2);
        let (code, leader, epoch, hw, voters) = first.clone();
        let good = agreed
            && code == 0
            && leader > 0
            && Some(leader) != not
            && epoch > after
            && voters.len() == 3
            && (!caught_up || (hw > 0 && voters.iter().all(|(_, leo)| *leo == hw)));
        if good {
            return (leader, epoch, hw);
        }
        assert!(start.elapsed() < WAIT, "no agreed leader within {WAIT:?}: {answers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokk_processes_form_a_quorum_that_survives_kill_9_of_its_leader() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let voters = (0..3)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: Vec<Option<BrokkProcess>> = (0..3)
        .map(|i| Some(start(dirs[i].path(), i as i32 + 1, &voters, ports[i])))
        .collect();
    let refs: Vec<(i32, &BrokkProcess)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i32 + 1, n.as_ref().unwrap()))
        .collect();
    let (first, epoch, hw) = await_leader(&refs, None, 0, true).await;
    assert!(epoch >= 1 && hw >= 1, "epoch {epoch}, high watermark {hw}");
    // One cluster: every node formatted its empty data directory with the same id.
    let mut ids = vec![];
    for (_, node) in &refs {
        let r: DescribeClusterResponse = Raw::connect(node.addr())
            .await
            .call(&DescribeClusterRequest::default(), 0)
            .await;
        ids.push(r.cluster_id.to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "cluster ids: {ids:?}");

    // kill -9 of the leader: the other two elect one of themselves in a later epoch.
    nodes[first as usize - 1].take().unwrap().kill();
    let refs: Vec<(i32, &BrokkProcess)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.as_ref().map(|n| (i as i32 + 1, n)))
        .collect();
    let (second, epoch2, _) = await_leader(&refs, Some(first), epoch, false).await;
    assert_ne!(second, first);

    // The killed node comes back, follows the new leader and catches up.
    let i = first as usize - 1;
    nodes[i] = Some(start(dirs[i].path(), first, &voters, ports[i]));
    let refs: Vec<(i32, &BrokkProcess)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i32 + 1, n.as_ref().unwrap()))
        .collect();
    let (_, epoch3, _) = await_leader(&refs, None, epoch2 - 1, true).await;
    assert!(epoch3 >= epoch2);
}
