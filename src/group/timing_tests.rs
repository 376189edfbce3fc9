//! The group actors' timers under tokio's paused clock: session expiry, the initial
//! rebalance delay and its extension, and the rebalance timeout, through the coordinator
//! (no TCP). `__consumer_offsets` is created before time matters, so no blocking file work
//! runs while the clock auto-advances.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::state::{JoinRequest, JoinResponse, Protocol, SyncRequest};
use super::{GroupConfig, GroupCoordinator, GroupState, OFFSETS_TOPIC};
use crate::log::{LogConfig, LogManager};

struct Fixture {
    coordinator: Arc<GroupCoordinator>,
    _dir: tempfile::TempDir,
    _shutdown: watch::Sender<bool>,
}

fn fixture(initial_delay_ms: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    let logs = Arc::new(logs);
    logs.create_topic(OFFSETS_TOPIC, 1, BTreeMap::new()).unwrap();
    let mut config = GroupConfig::default();
    config.limits.initial_rebalance_delay_ms = initial_delay_ms;
    let (tx, rx) = watch::channel(false);
    Fixture {
        coordinator: Arc::new(GroupCoordinator::new(logs, config, rx)),
        _dir: dir,
        _shutdown: tx,
    }
}

fn join_req(member: &str) -> JoinRequest {
    JoinRequest {
        member_id: member.to_string(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: bytes::Bytes::new(),
        }],
        require_known_member_id: false,
        supports_skip_assignment: true,
    }
}

fn spawn_join(c: &Arc<GroupCoordinator>, member: &str) -> tokio::task::JoinHandle<JoinResponse> {
    let (c, req) = (c.clone(), join_req(member));
    tokio::spawn(async move { c.join("g", req).await })
}

async fn members(c: &GroupCoordinator) -> (GroupState, usize) {
    let d = c.describe("g").await.unwrap().expect("group exists");
    (d.state, d.members.len())
}

#[tokio::test(start_paused = true)]
async fn silent_member_expires_after_its_session_timeout() {
    let f = fixture(0);
    let c = &f.coordinator;
    let j = spawn_join(c, "").await.unwrap();
    assert_eq!((j.error.clone(), j.generation_id), (None, 1));
    let sync = SyncRequest {
        member_id: j.member_id.clone(),
        group_instance_id: None,
        generation_id: 1,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![],
    };
    c.sync("g", sync).await.unwrap();
    tokio::time::sleep(Duration::from_millis(9_000)).await;
    assert_eq!(c.heartbeat("g", &j.member_id, None, 1).await, Ok(()));
    // 9.9 s after the heartbeat the member is still there; at 10 s it is gone.
    tokio::time::sleep(Duration::from_millis(9_900)).await;
    assert_eq!(members(c).await, (GroupState::Stable, 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(members(c).await, (GroupState::Empty, 0));
}

#[tokio::test(start_paused = true)]
async fn initial_delay_holds_and_extends_the_first_rebalance() {
    let f = fixture(3_000);
    let c = &f.coordinator;
    let start = tokio::time::Instant::now();
    let a = spawn_join(c, "");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let b = spawn_join(c, "");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    // Both land in generation 1, after the delay and one extension (3 s + 3 s).
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(start.elapsed(), Duration::from_millis(6_000));
}

#[tokio::test(start_paused = true)]
async fn rebalance_timeout_completes_without_the_laggard() {
    let f = fixture(0);
    let c = &f.coordinator;
    let a = spawn_join(c, "").await.unwrap();
    let b = spawn_join(c, "");
    // a is told to rejoin by its heartbeat, b parks; a never rejoins.
    while c.heartbeat("g", &a.member_id, None, a.generation_id).await.is_ok() {
        tokio::task::yield_now().await;
    }
    let start = tokio::time::Instant::now();
    // a keeps heartbeating (REBALANCE_IN_PROGRESS) so only the rebalance timeout drops it.
    let hb = {
        let (c, m) = (c.clone(), a.member_id.clone());
        tokio::spawn(async move {
            loop {
                let _ = c.heartbeat("g", &m, None, 1).await;
                tokio::time::sleep(Duration::from_millis(3_000)).await;
            }
        })
    };
    let b = b.await.unwrap();
    hb.abort();
    assert_eq!(start.elapsed(), Duration::from_millis(20_000));
    assert_eq!((b.generation_id, b.members.len()), (2, 1));
}
