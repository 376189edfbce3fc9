//! State-machine tests without a runtime: time is a number, replies are oneshots read
//! with `try_recv`.

use bytes::Bytes;
use tokio::sync::oneshot::{self, Receiver};

use super::*;
use crate::group::subscription::tests::subscription;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn limits(initial_delay: u64, max_size: usize) -> Limits {
    Limits {
        min_session_timeout_ms: 6_000,
        max_session_timeout_ms: 1_800_000,
        initial_rebalance_delay_ms: initial_delay,
        max_size,
        new_member_join_timeout_ms: 300_000,
    }
}

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: 1_000_000 + ms as i64,
    }
}

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: n.to_string(),
            metadata: subscription(&["orders"]),
        })
        .collect()
}

fn join_req(member: &str, instance: Option<&str>, names: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member.to_string(),
        group_instance_id: instance.map(str::to_string),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols(names),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn join(g: &mut Group, req: JoinRequest, now: Now) -> Receiver<JoinResponse> {
    let (tx, rx) = oneshot::channel();
    g.join(req, now, tx);
    rx
}

fn sync(g: &mut Group, member: &str, generation: i32, assignments: &[(&str, &str)], now: Now) -> Receiver<SyncResult> {
    let (tx, rx) = oneshot::channel();
    let req = SyncRequest {
        member_id: member.to_string(),
        group_instance_id: None,
        generation_id: generation,
        protocol_type: Some("consumer".into()),
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a.as_bytes())))
            .collect(),
    };
    g.sync(req, now, tx);
    rx
}

/// Fires deadlines up to `now` the way the actor does.
fn advance(g: &mut Group, now: Now) {
    while g.next_deadline().is_some_and(|d| d <= now.mono_ms) {
        g.tick(now);
    }
}

/// KIP-394 first join: returns the assigned member id.
fn member_id(g: &mut Group, now: Now) -> String {
    let r = join(g, join_req("", None, &["range"]), now).try_recv().unwrap();
    assert_eq!(r.error, Some(GroupError::MemberIdRequired));
    assert!(r.member_id.starts_with("client-"));
    r.member_id
}

/// Builds a Stable group of `n` members (generation 1); returns their ids, leader first.
fn stable_group(n: usize) -> (Group, Vec<String>) {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let ids: Vec<String> = (0..n).map(|_| member_id(&mut g, at(0))).collect();
    let mut rxs: Vec<_> = ids
        .iter()
        .map(|id| join(&mut g, join_req(id, None, &["range"]), at(0)))
        .collect();
    advance(&mut g, at(0));
    let leader = g.leader().unwrap().to_string();
    let mut ordered = vec![leader.clone()];
    ordered.extend(ids.iter().filter(|i| **i != leader).cloned());
    for rx in &mut rxs {
        let r = rx.try_recv().unwrap();
        assert_eq!((r.error, r.generation_id), (None, 1));
    }
    let assignments: Vec<(String, String)> = ordered.iter().map(|m| (m.clone(), format!("a-{m}"))).collect();
    let pairs: Vec<(&str, &str)> = assignments.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut followers: Vec<_> = ordered[1..].iter().map(|m| sync(&mut g, m, 1, &[], at(0))).collect();
    sync(&mut g, &leader, 1, &pairs, at(0)).try_recv().unwrap().unwrap();
    for f in &mut followers {
        f.try_recv().unwrap().unwrap();
    }
    assert_eq!(g.state(), GroupState::Stable);
    (g, ordered)
}

#[test]
fn kip394_join_then_sync_completes_a_generation() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let a = member_id(&mut g, at(0));
    let b = member_id(&mut g, at(0));
    // With no initial delay the first join completes at once, alone (as Kafka does).
    let mut ra = join(&mut g, join_req(&a, None, &["range"]), at(1));
    advance(&mut g, at(1));
    let first = ra.try_recv().unwrap();
    assert_eq!((first.generation_id, first.members.len()), (1, 1));
    // b's join starts a rebalance; a learns it from its heartbeat and rejoins.
    let mut rb = join(&mut g, join_req(&b, None, &["range"]), at(2));
    assert_eq!(g.heartbeat(&a, None, 1, at(3)), Err(GroupError::RebalanceInProgress));
    let mut ra = join(&mut g, join_req(&a, None, &["range"]), at(4));
    advance(&mut g, at(4));
    let (ja, jb) = (ra.try_recv().unwrap(), rb.try_recv().unwrap());
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    assert_eq!(ja.leader, a);
    assert_eq!(ja.members.len(), 2, "the leader gets every member");
    assert!(jb.members.is_empty(), "followers get none");
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    // The follower parks until the leader's assignment arrives.
    let mut sb = sync(&mut g, &b, 2, &[], at(5));
    assert!(sb.try_recv().is_err());
    let sa = sync(&mut g, &a, 2, &[(&a, "pa"), (&b, "pb")], at(6))
        .try_recv()
        .unwrap()
        .unwrap();
    assert_eq!(&sa.assignment[..], b"pa");
    assert_eq!(&sb.try_recv().unwrap().unwrap().assignment[..], b"pb");
    assert_eq!(g.state(), GroupState::Stable);
    assert!(g.take_metadata_dirty(), "the assignment is stored");
}

#[test]
fn heartbeat_error_codes() {
    let (mut g, ids) = stable_group(2);
    assert_eq!(g.heartbeat(&ids[1], None, 1, at(10)), Ok(()));
    assert_eq!(
        g.heartbeat(&ids[1], None, 7, at(10)),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(g.heartbeat("nobody", None, 1, at(10)), Err(GroupError::UnknownMemberId));
    // A third member joining starts a rebalance: the others are told to rejoin.
    let c = member_id(&mut g, at(20));
    let _rc = join(&mut g, join_req(&c, None, &["range"]), at(20));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&ids[1], None, 1, at(30)),
        Err(GroupError::RebalanceInProgress)
    );
}

#[test]
fn expired_session_removes_member_and_rebalances() {
    let (mut g, ids) = stable_group(3);
    // Everyone but the last member keeps heartbeating.
    for t in (1..=SESSION as u64 * 2).step_by(3_000) {
        for id in &ids[..2] {
            let _ = g.heartbeat(id, None, g.generation_id(), at(t));
        }
        advance(&mut g, at(t));
    }
    assert_eq!(g.member_ids().len(), 2, "the silent member is gone");
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let t = SESSION as u64 * 2 + 1;
    let mut r0 = join(&mut g, join_req(&ids[0], None, &["range"]), at(t));
    let mut r1 = join(&mut g, join_req(&ids[1], None, &["range"]), at(t));
    advance(&mut g, at(t));
    assert_eq!(r0.try_recv().unwrap().generation_id, 2);
    assert_eq!(r1.try_recv().unwrap().generation_id, 2);
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let (mut g, ids) = stable_group(2);
    let mut r0 = join(&mut g, join_req(&ids[0], None, &["range", "x"]), at(100));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // ids[1] keeps heartbeating (told REBALANCE_IN_PROGRESS each time) but never rejoins.
    for t in (3_000..REBALANCE as u64).step_by(3_000) {
        assert_eq!(
            g.heartbeat(&ids[1], None, 1, at(t)),
            Err(GroupError::RebalanceInProgress)
        );
        advance(&mut g, at(t));
    }
    advance(&mut g, at(100 + REBALANCE as u64 - 1));
    assert!(r0.try_recv().is_err());
    advance(&mut g, at(100 + REBALANCE as u64));
    let r = r0.try_recv().unwrap();
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
    assert_eq!(g.member_ids(), vec![ids[0].clone()]);
}

#[test]
fn member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let a = member_id(&mut g, at(0));
    let b = member_id(&mut g, at(0));
    let _ra = join(&mut g, join_req(&a, None, &["range"]), at(0));
    let _rb = join(&mut g, join_req(&b, None, &["range"]), at(0));
    advance(&mut g, at(0));
    let leader = g.leader().unwrap().to_string();
    let follower = if leader == a { b.clone() } else { a.clone() };
    sync(&mut g, &leader, 1, &[(&leader, "x")], at(10))
        .try_recv()
        .unwrap()
        .unwrap();
    // The follower heartbeats (allowed) but never sends SyncGroup.
    for t in (1_000..REBALANCE as u64).step_by(3_000) {
        assert_eq!(g.heartbeat(&follower, None, 1, at(t)), Ok(()));
        let _ = g.heartbeat(&leader, None, 1, at(t));
        advance(&mut g, at(t));
    }
    advance(&mut g, at(REBALANCE as u64 + 10));
    assert!(!g.member_ids().contains(&follower));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn leader_dying_mid_rebalance_releases_the_parked_followers() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let a = member_id(&mut g, at(0));
    let b = member_id(&mut g, at(0));
    let _ra = join(&mut g, join_req(&a, None, &["range"]), at(0));
    let _rb = join(&mut g, join_req(&b, None, &["range"]), at(0));
    advance(&mut g, at(0));
    let leader = g.leader().unwrap().to_string();
    let follower = if leader == a { b.clone() } else { a.clone() };
    let mut parked = sync(&mut g, &follower, 1, &[], at(5));
    // The leader's session runs out before it syncs.
    advance(&mut g, at(SESSION as u64 + 1));
    assert_eq!(parked.try_recv().unwrap(), Err(GroupError::RebalanceInProgress));
    assert!(!g.member_ids().contains(&leader));
    // The survivor rejoins and leads generation 2 alone.
    let mut r = join(&mut g, join_req(&follower, None, &["range"]), at(SESSION as u64 + 2));
    advance(&mut g, at(SESSION as u64 + 2));
    let r = r.try_recv().unwrap();
    assert_eq!((r.generation_id, r.leader.as_str()), (2, follower.as_str()));
}

#[test]
fn leave_group_triggers_a_rebalance_and_last_leave_empties() {
    let (mut g, ids) = stable_group(2);
    assert_eq!(g.leave(&ids[1], None, at(10)), Ok(()));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(g.leave("ghost", None, at(10)), Err(GroupError::UnknownMemberId));
    assert_eq!(g.leave(&ids[0], None, at(11)), Ok(()));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation_id(), 2);
}

#[test]
fn static_member_replacement_fences_the_old_member_without_rebalance() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    // Static members skip MEMBER_ID_REQUIRED.
    let mut r1 = join(&mut g, join_req("", Some("i1"), &["range"]), at(0));
    let mut r2 = join(&mut g, join_req("", Some("i2"), &["range"]), at(0));
    advance(&mut g, at(0));
    let (j1, j2) = (r1.try_recv().unwrap(), r2.try_recv().unwrap());
    assert!(j1.member_id.starts_with("i1-"));
    let leader = j1.leader.clone();
    let (old, other) = if leader == j1.member_id {
        (j2.member_id, j1.member_id)
    } else {
        (j1.member_id, j2.member_id)
    };
    let old_instance = if old.starts_with("i1-") { "i1" } else { "i2" };
    let mut so = sync(&mut g, &other, 1, &[(&other, "A"), (&old, "B")], at(1));
    let mut sf = sync(&mut g, &old, 1, &[], at(1));
    so.try_recv().unwrap().unwrap();
    sf.try_recv().unwrap().unwrap();
    // The follower restarts: same instance id, no member id.
    let r = join(&mut g, join_req("", Some(old_instance), &["range"]), at(100))
        .try_recv()
        .unwrap();
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, 1, "no rebalance");
    assert_ne!(r.member_id, old);
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(
        g.heartbeat(&old, Some(old_instance), 1, at(101)),
        Err(GroupError::FencedInstanceId)
    );
    let got = sync(&mut g, &r.member_id, 1, &[], at(102)).try_recv().unwrap().unwrap();
    assert_eq!(&got.assignment[..], b"B", "the new member keeps the partitions");
}

#[test]
fn protocol_selection_and_inconsistency() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let a = member_id(&mut g, at(0));
    let b = member_id(&mut g, at(0));
    let mut ra = join(&mut g, join_req(&a, None, &["range", "roundrobin"]), at(0));
    let mut rb = join(&mut g, join_req(&b, None, &["roundrobin"]), at(0));
    advance(&mut g, at(0));
    assert_eq!(ra.try_recv().unwrap().protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(rb.try_recv().unwrap().protocol_name.as_deref(), Some("roundrobin"));
    let c = join(&mut g, join_req("", None, &["sticky"]), at(1)).try_recv().unwrap();
    assert_eq!(c.error, Some(GroupError::InconsistentGroupProtocol));
    let mut wrong_type = join_req("", None, &["roundrobin"]);
    wrong_type.protocol_type = "connect".into();
    let d = join(&mut g, wrong_type, at(1)).try_recv().unwrap();
    assert_eq!(d.error, Some(GroupError::InconsistentGroupProtocol));
}

#[test]
fn initial_delay_waits_and_extends_while_members_arrive() {
    let mut g = Group::new("g", limits(3_000, usize::MAX), at(0));
    let a = member_id(&mut g, at(0));
    let mut ra = join(&mut g, join_req(&a, None, &["range"]), at(0));
    advance(&mut g, at(2_999));
    assert!(ra.try_recv().is_err(), "the initial delay holds the first join");
    let b = member_id(&mut g, at(1_000));
    let mut rb = join(&mut g, join_req(&b, None, &["range"]), at(1_000));
    advance(&mut g, at(3_000));
    assert!(ra.try_recv().is_err(), "a new member extends the delay");
    advance(&mut g, at(6_000));
    assert_eq!(ra.try_recv().unwrap().members.len(), 2);
    assert_eq!(rb.try_recv().unwrap().generation_id, 1);
}

#[test]
fn group_max_size_rejects_extra_members() {
    let mut g = Group::new("g", limits(0, 1), at(0));
    let mut r = join(&mut g, join_req("", Some("i1"), &["range"]), at(0));
    advance(&mut g, at(0));
    let first = r.try_recv().unwrap();
    sync(&mut g, &first.member_id, 1, &[], at(0))
        .try_recv()
        .unwrap()
        .unwrap();
    let over = join(&mut g, join_req("", Some("i2"), &["range"]), at(1))
        .try_recv()
        .unwrap();
    assert_eq!(over.error, Some(GroupError::GroupMaxSizeReached));
}

#[test]
fn offset_commit_validation() {
    let simple = Group::new("s", limits(0, usize::MAX), at(0));
    assert_eq!(simple.validate_commit("", None, -1, false), Ok(()));
    assert_eq!(
        simple.validate_commit("m", None, 3, false),
        Err(GroupError::UnknownMemberId)
    );
    let (mut g, ids) = stable_group(2);
    assert_eq!(g.validate_commit(&ids[1], None, 1, false), Ok(()));
    assert_eq!(
        g.validate_commit(&ids[1], None, 0, false),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(g.validate_commit("", None, -1, false), Err(GroupError::UnknownMemberId));
    assert_eq!(
        g.validate_commit("zz", None, 1, false),
        Err(GroupError::UnknownMemberId)
    );
    // TxnOffsetCommit: an anonymous commit into a group with members is accepted.
    assert_eq!(g.validate_commit("", None, -1, true), Ok(()));
    // During CompletingRebalance commits wait for the new assignment.
    let mut r0 = join(&mut g, join_req(&ids[0], None, &["range"]), at(1));
    let mut r1 = join(&mut g, join_req(&ids[1], None, &["range"]), at(1));
    advance(&mut g, at(1));
    assert_eq!(r0.try_recv().unwrap().generation_id, 2);
    assert_eq!(r1.try_recv().unwrap().generation_id, 2);
    assert_eq!(
        g.validate_commit(&ids[1], None, 2, false),
        Err(GroupError::RebalanceInProgress)
    );
    // ... but a transactional commit does not (Kafka's isTransactional path).
    assert_eq!(g.validate_commit(&ids[1], None, 2, true), Ok(()));
}

fn committed(offset: i64, ts: i64) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: ts,
        expire_timestamp_ms: None,
    }
}

#[test]
fn offsets_expire_by_kip211_rules() {
    let day = 86_400_000;
    // A simple group: by commit timestamp.
    let mut s = Group::new("s", limits(0, usize::MAX), at(0));
    s.apply_commit("", ("t".into(), 0), committed(5, 0), at(0));
    s.apply_commit("", ("t".into(), 1), committed(6, 2 * day), at(0));
    assert_eq!(s.expired_offsets(3 * day - 1, day), vec![("t".to_string(), 0)]);
    // A Stable consumer group keeps offsets of subscribed topics however old.
    let (mut g, ids) = stable_group(1);
    g.apply_commit(&ids[0], ("orders".into(), 0), committed(1, 0), at(0));
    g.apply_commit(&ids[0], ("old".into(), 0), committed(1, 0), at(0));
    assert_eq!(g.expired_offsets(10 * day, day), vec![("old".to_string(), 0)]);
    // Once Empty, everything expires a retention period after the group emptied.
    assert_eq!(g.leave(&ids[0], None, at(5)), Ok(()));
    assert_eq!(g.state(), GroupState::Empty);
    let emptied = g.stored().state_timestamp_ms;
    assert!(g.expired_offsets(emptied + day - 1, day).is_empty());
    assert_eq!(g.expired_offsets(emptied + day, day).len(), 2);
}

#[test]
fn stored_group_restores_as_stable() {
    let (g, ids) = stable_group(2);
    let stored = g.stored();
    let r = Group::restore("g", limits(0, usize::MAX), stored.clone(), at(0));
    assert_eq!(r.state(), GroupState::Stable);
    assert_eq!(r.generation_id(), 1);
    assert_eq!(r.leader(), Some(ids[0].as_str()));
    assert_eq!(r.stored(), stored);
}

#[test]
fn static_members_that_have_not_rejoined_get_a_fresh_session_when_the_join_completes() {
    let mut g = Group::new("g", limits(0, usize::MAX), at(0));
    let mut r1 = join(&mut g, join_req("", Some("i1"), &["range"]), at(0));
    advance(&mut g, at(0));
    let m1 = r1.try_recv().unwrap().member_id;
    sync(&mut g, &m1, 1, &[], at(0)).try_recv().unwrap().unwrap();
    // A second static member joins at 9 s; i1 (offline, session 10 s) does not rejoin.
    let mut r2 = join(&mut g, join_req("", Some("i2"), &["range"]), at(9_000));
    advance(&mut g, at(9_000 + REBALANCE as u64));
    assert_eq!(r2.try_recv().unwrap().generation_id, 2);
    // i1 was kept (static) and its session restarted at the join's completion.
    assert!(g.member_ids().contains(&m1));
    let completed = 9_000 + REBALANCE as u64;
    assert_eq!(
        g.heartbeat(&m1, Some("i1"), 2, at(completed + SESSION as u64 - 1)),
        Ok(())
    );
}
