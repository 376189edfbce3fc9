//! Three brokk processes configured with Kafka's KRaft keys (`process.roles`, `node.id`,
//! `controller.quorum.voters`, `controller.listener.names`, `listeners` with CONTROLLER)
//! form one metadata quorum: DescribeQuorum on the leader lists the three voters caught up,
//! the others answer NOT_LEADER_OR_FOLLOWER naming it; `kill -9` of the leader elects
//! another in a later epoch, and the killed node, restarted, follows it and catches up.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Raw;
use common::process::BrokkProcess;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse};

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
            "controller.quorum.election.timeout.ms=300",
        ],
    )
}

/// Polls (every 50 ms, at most [`WAIT`]) until `nodes` agree on a leader other than `not`
/// whose answer lists every voter at the high watermark. Returns (leader id, epoch, hw).
async fn await_leader(nodes: &[(i32, &BrokkProcess)], voters: usize, not: Option<i32>) -> (i32, i32, i64) {
    let start = Instant::now();
    loop {
        let mut leader = None;
        let mut followers_agree = true;
        for (id, node) in nodes {
            let (code, l, epoch, hw, vs) = summary(&describe(node).await);
            if code == 0 && l == *id {
                let caught_up = vs.len() == voters && vs.iter().all(|(_, leo)| *leo == hw) && hw > 0;
                if caught_up && Some(l) != not {
                    leader = Some((l, epoch, hw));
                }
            } else if code != ResponseError::NotLeaderOrFollower.code() || Some(l) == not || l < 0 {
                followers_agree = false;
            }
        }
        if let Some(found) = leader.filter(|_| followers_agree) {
            // Every follower names this leader.
            let mut named = true;
            for (_, node) in nodes.iter().filter(|(id, _)| *id != found.0) {
                let (_, l, ..) = summary(&describe(node).await);
                named &= l == found.0;
            }
            if named {
                return found;
            }
        }
        assert!(start.elapsed() < WAIT, "no agreed leader within {WAIT:?}");
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
    let (first, epoch, hw) = await_leader(&refs, 3, None).await;
    assert!(epoch >= 1 && hw >= 1, "epoch {epoch}, high watermark {hw}");

    // kill -9 of the leader: the other two elect one of themselves in a later epoch.
    nodes[first as usize - 1].take().unwrap().kill();
    let refs: Vec<(i32, &BrokkProcess)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.as_ref().map(|n| (i as i32 + 1, n)))
        .collect();
    let (second, epoch2, _) = {
        // The dead voter's log end is unknown to the new leader: wait on the two alive.
        let start = Instant::now();
        loop {
            let mut found = None;
            for (id, node) in &refs {
                let (code, l, e, hw, vs) = summary(&describe(node).await);
                if code == 0 && l == *id && e > epoch && vs.len() == 3 {
                    found = Some((l, e, hw));
                }
            }
            if let Some(f) = found {
                break f;
            }
            assert!(start.elapsed() < WAIT, "no new leader within {WAIT:?} after the kill");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_ne!(second, first);
    assert!(epoch2 > epoch);

    // The killed node comes back and follows the new leader, caught up.
    nodes[first as usize - 1] = Some(start(
        dirs[first as usize - 1].path(),
        first,
        &voters,
        ports[first as usize - 1],
    ));
    let refs: Vec<(i32, &BrokkProcess)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i32 + 1, n.as_ref().unwrap()))
        .collect();
    let (_, epoch3, _) = await_leader(&refs, 3, None).await;
    assert!(epoch3 >= epoch2);
}
