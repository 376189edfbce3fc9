//! Three brokk processes configured with Kafka's KRaft keys (`process.roles`, `node.id`,
//! `controller.quorum.voters`, `controller.listener.names`, `listeners` with CONTROLLER)
//! form one metadata quorum: DescribeQuorum on any node (a follower forwards it to the
//! leader, as Kafka's brokers do) gives the same leader with the three voters caught up;
//! `kill -9` of the leader elects another in a later epoch, and the killed node, restarted,
//! follows it and catches up. The three agree on one cluster id.
//!
//! The nodes' brokers register with the active controller and heartbeat to it: Metadata on
//! any node lists the three (with their racks); a broker killed with `kill -9` is fenced
//! once its session (`broker.session.timeout.ms`) expires and leaves Metadata, and comes
//! back when restarted; one stopped with SIGTERM is fenced by its controlled shutdown (long
//! before its session could expire).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Raw;
use common::cluster::controller_ports;
use common::process::BrokkProcess;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest, DescribeQuorumResponse,
    MetadataRequest, MetadataResponse, UnregisterBrokerRequest, UnregisterBrokerResponse,
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
    start_with(dir, id, voters, port, &[])
}

fn start_with(dir: &Path, id: i32, voters: &str, port: u16, extra: &[&str]) -> BrokkProcess {
    let node_id = format!("node.id={id}");
    let listeners = format!("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}");
    let voters = format!("controller.quorum.voters={voters}");
    let mut overrides = vec![
        "process.roles=broker,controller",
        &node_id,
        "controller.listener.names=CONTROLLER",
        &listeners,
        &voters,
        "controller.quorum.election.timeout.ms=500",
    ];
    overrides.extend_from_slice(extra);
    BrokkProcess::start(dir, &overrides)
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
    let (ports, voters) = controller_ports();
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

/// The brokers Metadata (v12) on `node` lists: (id, port, rack).
async fn listed(node: &BrokkProcess) -> Vec<(i32, i32, Option<String>)> {
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![]);
    let r: MetadataResponse = Raw::connect(node.addr()).await.call(&req, 12).await;
    let mut out: Vec<_> = r
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.port, b.rack.as_ref().map(|r| r.to_string())))
        .collect();
    out.sort();
    out
}

/// Polls Metadata on `node` (every 50 ms, at most [`WAIT`]) until it lists exactly the
/// brokers `ids`.
async fn await_brokers(node: &BrokkProcess, ids: &[i32]) -> Vec<(i32, i32, Option<String>)> {
    let start = Instant::now();
    loop {
        let got = listed(node).await;
        if got.iter().map(|b| b.0).collect::<Vec<_>>() == ids {
            return got;
        }
        assert!(
            start.elapsed() < WAIT,
            "Metadata on {} lists {got:?}, not brokers {ids:?}",
            node.addr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_register_with_the_controller_and_are_fenced_when_they_stop() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (ports, voters) = controller_ports();
    let racks: Vec<String> = (1..=3).map(|i| format!("broker.rack=rack-{i}")).collect();
    let extra = |i: usize| {
        [
            "broker.heartbeat.interval.ms=100",
            "broker.session.timeout.ms=1500",
            racks[i].as_str(),
        ]
    };
    let mut nodes: Vec<Option<BrokkProcess>> = (0..3)
        .map(|i| Some(start_with(dirs[i].path(), i as i32 + 1, &voters, ports[i], &extra(i))))
        .collect();
    let expected: Vec<(i32, i32, Option<String>)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                i as i32 + 1,
                n.as_ref().unwrap().addr().port() as i32,
                Some(format!("rack-{}", i + 1)),
            )
        })
        .collect();
    // Every node tells clients about all three brokers, at their client listeners.
    for n in nodes.iter().flatten() {
        assert_eq!(await_brokers(n, &[1, 2, 3]).await, expected);
    }

    // kill -9: the broker's session expires and the controller fences it.
    nodes[2].take().unwrap().kill();
    let first = nodes[0].take().unwrap();
    let first = &first;
    await_brokers(first, &[1, 2]).await;
    // DescribeCluster v2 shows it fenced when asked for fenced brokers.
    let mut req = DescribeClusterRequest::default();
    req.include_fenced_brokers = true;
    let r: DescribeClusterResponse = Raw::connect(first.addr()).await.call(&req, 2).await;
    let fenced: Vec<(i32, bool)> = r.brokers.iter().map(|b| (b.broker_id.0, b.is_fenced)).collect();
    assert_eq!(fenced, vec![(1, false), (2, false), (3, true)]);
    assert!(
        [1, 2].contains(&r.controller_id.0),
        "controller id {} is not a live broker",
        r.controller_id.0
    );

    // Unregistered (kafka-cluster unregister), it is gone from the cluster, fenced or
    // not; a second time, or an id never registered, is BROKER_ID_NOT_REGISTERED.
    for (id, code) in [(3, 0), (3, 102), (9, 102)] {
        let req = UnregisterBrokerRequest::default().with_broker_id(BrokerId(id));
        let r: UnregisterBrokerResponse = Raw::connect(first.addr()).await.call(&req, 0).await;
        assert_eq!(r.error_code, code, "unregister {id}: {r:?}");
    }
    let r: DescribeClusterResponse = Raw::connect(first.addr()).await.call(&req, 2).await;
    let left: Vec<i32> = r.brokers.iter().map(|b| b.broker_id.0).collect();
    assert_eq!(left, vec![1, 2], "{r:?}");

    // Restarted, it registers again (a new incarnation) and is unfenced.
    nodes[2] = Some(start_with(dirs[2].path(), 3, &voters, ports[2], &extra(2)));
    let restarted = await_brokers(first, &[1, 2, 3]).await;
    assert_eq!(restarted[2].2.as_deref(), Some("rack-3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_with_sigterm_is_fenced_by_its_controlled_shutdown() {
    // Sessions of a minute: a broker fenced within WAIT (30 s) was fenced by its
    // controlled shutdown, not by its session expiring.
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (ports, voters) = controller_ports();
    let extra = ["broker.heartbeat.interval.ms=100", "broker.session.timeout.ms=60000"];
    let mut nodes: Vec<Option<BrokkProcess>> = (0..3)
        .map(|i| Some(start_with(dirs[i].path(), i as i32 + 1, &voters, ports[i], &extra)))
        .collect();
    for n in nodes.iter().flatten() {
        await_brokers(n, &[1, 2, 3]).await;
    }
    let status = nodes[1].take().unwrap().terminate();
    assert!(status.success(), "brokk exited with {status}");
    for n in nodes.iter().flatten() {
        await_brokers(n, &[1, 3]).await;
    }
}
