//! The metadata quorum over TCP: three controllers elect a leader, a record proposed to it
//! reaches every image and every metadata log (in Kafka's format), the leader's loss elects
//! another that carries on, and the lost one catches up when it comes back. Observers
//! (brokers that do not vote) follow the same images: one from the start, one that joins
//! late (from a voter's snapshot), across the change of leader.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use brokk::controller::quorum::node::{ProposeError, QuorumConfig, QuorumNode};
use brokk::controller::quorum::observer::MetadataObserver;
use brokk::controller::quorum::{ControllerNode, NodeId};
use brokk::log::{LogConfig, LogManager};
use brokk::metadata::records::{PartitionRecord, TopicRecord};
use brokk::metadata::{MetadataImage, MetadataRecord, log_reader};
use tokio::net::TcpListener;

/// Bound of each wait: elections after a lost leader take seconds, and more on a loaded
/// 2-core CI machine.
const WAIT: Duration = Duration::from_secs(60);

struct Controller {
    node: QuorumNode,
    _logs: LogManager,
}

async fn start(dir: &Path, id: NodeId, voters: &BTreeMap<NodeId, ControllerNode>) -> Controller {
    let (logs, _) = LogManager::open(dir, LogConfig::default(), 0).unwrap();
    let listener = TcpListener::bind(("127.0.0.1", voters[&id].port)).await.unwrap();
    let cfg = QuorumConfig {
        node_id: id,
        voters: voters.clone(),
        election_timeout_ms: 1000,
    };
    let node = QuorumNode::start(cfg, &logs, listener).await.unwrap();
    Controller { node, _logs: logs }
}

fn topic(name: &str) -> MetadataRecord {
    MetadataRecord::Topic(TopicRecord {
        name: name.into(),
        topic_id: uuid::Uuid::new_v4(),
    })
}

/// Waits until `node`'s image has every topic of `names`.
async fn await_topics(node: &QuorumNode, names: &[&str]) {
    let mut image = node.image();
    let has = |i: &Arc<MetadataImage>| names.iter().all(|n| i.topic(n).is_some());
    tokio::time::timeout(WAIT, image.wait_for(has))
        .await
        .unwrap_or_else(|_| panic!("node {} never applied {names:?}", node.node_id))
        .unwrap();
}

/// Waits until `observer`'s image has every topic of `names`.
async fn await_observed(observer: &MetadataObserver, names: &[&str]) {
    let mut image = observer.image();
    let has = |i: &Arc<MetadataImage>| names.iter().all(|n| i.topic(n).is_some());
    tokio::time::timeout(WAIT, image.wait_for(has))
        .await
        .unwrap_or_else(|_| panic!("observer {} never applied {names:?}", observer.node_id))
        .unwrap();
}

/// Proposes `record` through whichever controller leads (again on another if leadership
/// moves meanwhile), within [`WAIT`]. Returns its offset.
async fn propose(controllers: &BTreeMap<NodeId, Controller>, record: MetadataRecord) -> i64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for c in controllers.values() {
            if c.node.leader() == Some(c.node.node_id) {
                match c.node.propose(record.clone()).await {
                    Ok(offset) => return offset,
                    Err(ProposeError::NotLeader(_)) => {}
                    Err(e) => panic!("proposal failed: {e}"),
                }
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader took the proposal");
        let any = controllers.values().next().unwrap();
        any.node.await_leader(WAIT, |_| true).await;
        tokio::task::yield_now().await;
    }
}

/// The leader every node in `nodes` agrees on (other than `not`).
async fn agreed_leader(nodes: &[&Controller], not: Option<NodeId>) -> NodeId {
    let mut leaders = vec![];
    for c in nodes {
        let l = c.node.await_leader(WAIT, |l| Some(l) != not).await.unwrap_or_else(|| {
            panic!(
                "node {} saw no leader (other than {not:?}) within {WAIT:?}: {:?}",
                c.node.node_id,
                c.node.status()
            )
        });
        leaders.push(l);
    }
    leaders.dedup();
    assert_eq!(leaders.len(), 1, "one leader for all: {leaders:?}");
    leaders[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_elect_replicate_fail_over_and_catch_up() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut voters = BTreeMap::new();
    for id in 1..=3u64 {
        // A free port for each voter's CONTROLLER listener (bound again by this process
        // at once, below, so the kernel's ephemeral range serves).
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        voters.insert(
            id,
            ControllerNode {
                host: "127.0.0.1".into(),
                port,
            },
        );
    }
    let mut controllers: BTreeMap<NodeId, Controller> = BTreeMap::new();
    for id in 1..=3u64 {
        controllers.insert(id, start(dirs[id as usize - 1].path(), id, &voters).await);
    }
    let all: Vec<&Controller> = controllers.values().collect();
    agreed_leader(&all, None).await;
    let offset = propose(&controllers, topic("a")).await;
    assert!(
        offset > 0,
        "after the membership entry and the leader's blank entry: {offset}"
    );
    for c in controllers.values() {
        await_topics(&c.node, &["a"]).await;
    }
    // An observer reads the committed log from the voters (its first answer is a voter's
    // snapshot, as it starts from nothing).
    let (stop_observers, stop) = tokio::sync::watch::channel(false);
    let early = MetadataObserver::start(11, voters.clone(), stop.clone());
    await_observed(&early, &["a"]).await;
    let mut applied = early.applied();
    let moved = tokio::time::timeout(WAIT, applied.wait_for(|a| *a > 0))
        .await
        .map(|r| r.is_ok());
    assert_eq!(moved, Ok(true));
    // A follower refuses a proposal, naming the leader it knows.
    let leader = agreed_leader(&controllers.values().collect::<Vec<_>>(), None).await;
    let follower = *controllers.keys().find(|id| **id != leader).unwrap();
    match controllers[&follower].node.propose(topic("x")).await {
        Err(ProposeError::NotLeader(Some(l))) => assert_ne!(l, follower),
        other => panic!("a follower accepted a proposal: {other:?}"),
    }

    // Several records proposed together apply together, on every node.
    let id = uuid::Uuid::new_v4();
    let records = vec![
        MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: id,
        }),
        MetadataRecord::Partition(PartitionRecord::new(id, 0, vec![1])),
        MetadataRecord::Partition(PartitionRecord::new(id, 1, vec![2])),
    ];
    let end = controllers[&leader]
        .node
        .propose_all(records, "create t")
        .await
        .unwrap();
    assert!(end > offset);
    for c in controllers.values() {
        await_topics(&c.node, &["t"]).await;
        assert_eq!(c.node.image().borrow().topic("t").unwrap().partitions.len(), 2);
        assert!(!c.node.image().borrow().in_transaction());
    }
    await_observed(&early, &["t"]).await;
    assert_eq!(
        **early.image().borrow(),
        **controllers[&leader].node.image().borrow(),
        "the observer's image is the voters'"
    );

    // The leader goes; the other two elect one of themselves and carry on.
    let first = leader;
    let lost = controllers.remove(&first).unwrap();
    lost.node.shutdown().await;
    drop(lost);
    let rest: Vec<&Controller> = controllers.values().collect();
    let second = agreed_leader(&rest, Some(first)).await;
    assert_ne!(second, first);
    assert!(controllers[&second].node.epoch() > 1);
    let b = propose(&controllers, topic("b")).await;
    for c in controllers.values() {
        await_topics(&c.node, &["a", "b"]).await;
    }
    // Both observers follow past the change of leader: the early one turns to another
    // voter, a late one starts from a snapshot taken after it.
    let late = MetadataObserver::start(12, voters.clone(), stop.clone());
    for o in [&early, &late] {
        await_observed(o, &["a", "t", "b"]).await;
        // The offset moves right after the image it covers.
        let mut applied = o.applied();
        let past_b = tokio::time::timeout(WAIT, applied.wait_for(|a| *a > b))
            .await
            .map(|r| r.is_ok());
        assert_eq!(past_b, Ok(true), "{}: {}", o.node_id, o.applied_offset());
        assert_eq!(**o.image().borrow(), **controllers[&second].node.image().borrow());
    }

    // The lost controller comes back with its log and catches up.
    let back = start(dirs[first as usize - 1].path(), first, &voters).await;
    await_topics(&back.node, &["a", "b"]).await;
    assert!(back.node.await_leader(WAIT, |l| l != first).await.is_some());
    controllers.insert(first, back);

    // Every metadata log holds both records, in Kafka's format.
    for id in controllers.keys() {
        let records = log_reader::read_log_dir(&dirs[*id as usize - 1].path().join("__cluster_metadata-0")).unwrap();
        let names: Vec<&str> = records
            .iter()
            .filter_map(|r| match &r.record {
                MetadataRecord::Topic(t) => Some(t.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, vec!["a", "t", "b"], "node {id}");
    }
    for (_, c) in controllers {
        c.node.shutdown().await;
    }
    let _ = stop_observers.send(true);
}
