//! Consumer groups over TCP with a raw kafka-protocol client: the classic protocol's paths
//! and error codes (KIP-394 member ids, concurrent joins, parked syncs, a member that never
//! syncs, a leader that dies mid-rebalance, static member replacement), committed offsets
//! and their survival across a restart, and the group admin APIs.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Raw, TIMEOUT, TestBroker, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

/// Consumer-protocol subscription metadata for `topics` (v0 layout).
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = vec![0u8, 0];
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

fn join_req(group: &str, member: &str, instance: Option<&str>, session_ms: i32, rebalance_ms: i32) -> JoinGroupRequest {
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = subscription(&["orders"]);
    let mut r = JoinGroupRequest::default();
    r.group_id = gid(group);
    r.session_timeout_ms = session_ms;
    r.rebalance_timeout_ms = rebalance_ms;
    r.member_id = s(member);
    r.group_instance_id = instance.map(s);
    r.protocol_type = s("consumer");
    r.protocols = vec![p];
    r
}

fn sync_req(group: &str, member: &str, generation: i32, assignments: &[(&str, &[u8])]) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default();
    r.group_id = gid(group);
    r.generation_id = generation;
    r.member_id = s(member);
    r.protocol_type = Some(s("consumer"));
    r.protocol_name = Some(s("range"));
    r.assignments = assignments
        .iter()
        .map(|(m, a)| {
            let mut x = sync_group_request::SyncGroupRequestAssignment::default();
            x.member_id = s(m);
            x.assignment = Bytes::copy_from_slice(a);
            x
        })
        .collect();
    r
}

fn heartbeat_req(group: &str, member: &str, generation: i32, instance: Option<&str>) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default();
    r.group_id = gid(group);
    r.member_id = s(member);
    r.generation_id = generation;
    r.group_instance_id = instance.map(s);
    r
}

/// A member's KIP-394 join: MEMBER_ID_REQUIRED first, then a join with the given id
/// (which parks until the join phase ends). Returns the final response.
async fn join(addr: std::net::SocketAddr, group: &str, session_ms: i32, rebalance_ms: i32) -> JoinGroupResponse {
    let mut raw = Raw::connect(addr).await;
    let first = raw.call(&join_req(group, "", None, session_ms, rebalance_ms), 9).await;
    assert_eq!(first.error_code, code(ResponseError::MemberIdRequired));
    assert!(first.member_id.starts_with("brokk-test-"), "{:?}", first.member_id);
    raw.call(&join_req(group, &first.member_id, None, session_ms, rebalance_ms), 9)
        .await
}

fn commit_req(group: &str, member: &str, generation: i32, offsets: &[(&str, i32, i64, &str)]) -> OffsetCommitRequest {
    let mut r = OffsetCommitRequest::default();
    r.group_id = gid(group);
    r.member_id = s(member);
    r.generation_id_or_member_epoch = generation;
    r.topics = offsets
        .iter()
        .map(|(t, p, o, m)| {
            let mut part = offset_commit_request::OffsetCommitRequestPartition::default();
            part.partition_index = *p;
            part.committed_offset = *o;
            part.committed_leader_epoch = 0;
            part.committed_metadata = Some(s(m));
            let mut tt = offset_commit_request::OffsetCommitRequestTopic::default();
            tt.name = topic(t);
            tt.partitions = vec![part];
            tt
        })
        .collect();
    r
}

fn commit_codes(r: &OffsetCommitResponse) -> Vec<i16> {
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v8 of (topic, partition) for several groups: (offset, metadata) per group.
async fn fetch_offsets(raw: &mut Raw, groups: &[&str], t: &str, p: i32) -> Vec<(i64, String)> {
    let mut r = OffsetFetchRequest::default();
    r.groups = groups
        .iter()
        .map(|g| {
            let mut x = offset_fetch_request::OffsetFetchRequestGroup::default();
            x.group_id = gid(g);
            let mut tt = offset_fetch_request::OffsetFetchRequestTopics::default();
            tt.name = topic(t);
            tt.partition_indexes = vec![p];
            x.topics = Some(vec![tt]);
            x
        })
        .collect();
    let resp = raw.call(&r, 8).await;
    resp.groups
        .iter()
        .map(|g| {
            assert_eq!(g.error_code, 0);
            let part = &g.topics[0].partitions[0];
            (
                part.committed_offset,
                part.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn find_coordinator_single_batched_and_invalid_key_type() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    // The internal topic cannot be created by hand (nor auto-created with defaults).
    let mut ct = CreateTopicsRequest::default();
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic("__consumer_offsets");
    t.num_partitions = 1;
    t.replication_factor = 1;
    ct.topics = vec![t];
    assert_eq!(
        raw.call(&ct, 7).await.topics[0].error_code,
        code(ResponseError::InvalidRequest)
    );
    // Metadata auto-creation of it goes through the coordinator: 50 partitions, internal.
    let mut m = MetadataRequest::default();
    let mut mt = metadata_request::MetadataRequestTopic::default();
    mt.name = Some(topic("__consumer_offsets"));
    m.topics = Some(vec![mt]);
    m.allow_auto_topic_creation = true;
    let meta = raw.call(&m, 12).await;
    assert_eq!((meta.topics[0].error_code, meta.topics[0].partitions.len()), (0, 50));
    for v in [0, 3] {
        let mut r = FindCoordinatorRequest::default();
        r.key = s("g1");
        let resp = raw.call(&r, v).await;
        assert_eq!(resp.error_code, 0);
        assert_eq!((resp.host.as_str(), resp.port), ("127.0.0.1", b.addr.port() as i32));
    }
    let mut r = FindCoordinatorRequest::default();
    r.coordinator_keys = vec![s("a"), s("b")];
    let resp = raw.call(&r, 4).await;
    assert_eq!(resp.coordinators.len(), 2);
    assert!(
        resp.coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.port == b.addr.port() as i32)
    );
    r.key_type = 7;
    let resp = raw.call(&r, 4).await;
    assert!(
        resp.coordinators
            .iter()
            .all(|c| c.error_code == code(ResponseError::InvalidRequest))
    );
    // The coordinator's topic exists now, marked internal, and clients may not write to it.
    let mut m = MetadataRequest::default();
    let mut mt = metadata_request::MetadataRequestTopic::default();
    mt.name = Some(topic("__consumer_offsets"));
    m.topics = Some(vec![mt]);
    let meta = raw.call(&m, 12).await;
    assert!(meta.topics[0].is_internal);
    assert_eq!(meta.topics[0].partitions.len(), 50);
    let (err, _) = common::produce(
        &mut raw,
        "__consumer_offsets",
        0,
        common::batch(1, 0, kafka_protocol::records::Compression::None),
    )
    .await;
    assert_eq!(err, code(ResponseError::InvalidTopicException));
}

#[tokio::test]
async fn concurrent_joins_sync_and_heartbeat() {
    // A short initial delay gathers the concurrent first joins into one generation (each
    // arrival extends it), as a starting consumer fleet would be.
    let b = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "500")]).await;
    let addr = b.addr;
    let joins: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { join(addr, "cg", 10_000, 10_000).await }))
        .collect();
    let mut resps = vec![];
    for j in joins {
        resps.push(j.await.expect("join task"));
    }
    // Joins arriving one after another may complete in more than one generation (there is
    // no initial delay): members still in an old generation rejoin until all share one.
    let mut conns = vec![];
    for _ in 0..3 {
        conns.push(Raw::connect(addr).await);
    }
    for _round in 0..5 {
        let generation = resps.iter().map(|r| r.generation_id).max().unwrap();
        if resps.iter().all(|r| r.generation_id == generation && r.error_code == 0) {
            break;
        }
        // Stragglers rejoin (a removed member starts over with a new member id).
        let rejoin: Vec<_> = resps
            .iter()
            .map(|r| {
                let (m, ok) = (r.member_id.to_string(), r.error_code == 0);
                tokio::spawn(async move {
                    if !ok {
                        return join(addr, "cg", 10_000, 10_000).await;
                    }
                    let mut raw = Raw::connect(addr).await;
                    raw.call(&join_req("cg", &m, None, 10_000, 10_000), 9).await
                })
            })
            .collect();
        resps.clear();
        for j in rejoin {
            resps.push(j.await.expect("rejoin"));
        }
    }
    let generation = resps[0].generation_id;
    assert!(resps.iter().all(|r| r.error_code == 0 && r.generation_id == generation));
    let leader = resps[0].leader.to_string();
    let leader_resp = resps.iter().find(|r| r.member_id.as_str() == leader).expect("leader");
    assert_eq!(leader_resp.members.len(), 3, "the leader sees every member");
    assert!(
        resps
            .iter()
            .filter(|r| r.member_id.as_str() != leader)
            .all(|r| r.members.is_empty())
    );
    // Followers' SyncGroup parks until the leader's assignment arrives.
    let followers: Vec<String> = resps
        .iter()
        .map(|r| r.member_id.to_string())
        .filter(|m| *m != leader)
        .collect();
    let parked: Vec<_> = followers
        .iter()
        .map(|m| {
            let m = m.clone();
            tokio::spawn(async move {
                let mut raw = Raw::connect(addr).await;
                raw.call(&sync_req("cg", &m, generation, &[]), 5).await
            })
        })
        .collect();
    let mut raw = Raw::connect(addr).await;
    // The parked followers are visible as the group waiting for its leader.
    let assignments: Vec<(String, Vec<u8>)> = resps
        .iter()
        .map(|r| (r.member_id.to_string(), format!("for-{}", r.member_id).into_bytes()))
        .collect();
    let refs: Vec<(&str, &[u8])> = assignments.iter().map(|(m, a)| (m.as_str(), a.as_slice())).collect();
    let ls = raw.call(&sync_req("cg", &leader, generation, &refs), 5).await;
    assert_eq!(ls.error_code, 0);
    assert_eq!(ls.assignment, Bytes::from(format!("for-{leader}")));
    for (p, m) in parked.into_iter().zip(&followers) {
        let r = p.await.expect("sync task");
        assert_eq!(r.error_code, 0);
        assert_eq!(r.assignment, Bytes::from(format!("for-{m}")));
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
    }
    // Heartbeat error codes.
    let hb = raw.call(&heartbeat_req("cg", &leader, generation, None), 4).await;
    assert_eq!(hb.error_code, 0);
    let hb = raw.call(&heartbeat_req("cg", &leader, generation + 5, None), 4).await;
    assert_eq!(hb.error_code, code(ResponseError::IllegalGeneration));
    let hb = raw.call(&heartbeat_req("cg", "nobody", generation, None), 4).await;
    assert_eq!(hb.error_code, code(ResponseError::UnknownMemberId));
    let hb = raw.call(&heartbeat_req("no-such-group", "x", 1, None), 4).await;
    assert_eq!(hb.error_code, code(ResponseError::UnknownMemberId));
    let hb = raw.call(&heartbeat_req("", "x", 1, None), 4).await;
    assert_eq!(hb.error_code, code(ResponseError::InvalidGroupId));
    // Describe: Stable with three members and their assignments.
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![gid("cg"), gid("missing")];
    let desc = raw.call(&d, 5).await;
    assert_eq!(desc.groups[0].group_state.as_str(), "Stable");
    assert_eq!(desc.groups[0].protocol_data.as_str(), "range");
    assert_eq!(desc.groups[0].members.len(), 3);
    assert!(
        desc.groups[0]
            .members
            .iter()
            .all(|m| m.client_host.as_str() == "/127.0.0.1")
    );
    assert_eq!(
        (desc.groups[1].error_code, desc.groups[1].group_state.as_str()),
        (0, "Dead")
    );
    let desc6 = raw.call(&d, 6).await;
    assert_eq!(desc6.groups[1].error_code, code(ResponseError::GroupIdNotFound));
    // A heartbeat during a rebalance says REBALANCE_IN_PROGRESS; LeaveGroup v3 in a batch.
    let mut l = LeaveGroupRequest::default();
    l.group_id = gid("cg");
    l.members = vec![s(&followers[0]), s("ghost")]
        .into_iter()
        .map(|m| {
            let mut x = leave_group_request::MemberIdentity::default();
            x.member_id = m;
            x
        })
        .collect();
    let left = raw.call(&l, 5).await;
    assert_eq!(left.error_code, 0);
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(left.members[1].error_code, code(ResponseError::UnknownMemberId));
    let hb = raw.call(&heartbeat_req("cg", &leader, generation, None), 4).await;
    assert_eq!(hb.error_code, code(ResponseError::RebalanceInProgress));
}

#[tokio::test]
async fn member_that_never_syncs_is_removed_and_the_group_rebalances() {
    let b = TestBroker::start_with(&[("group.min.session.timeout.ms", "500")]).await;
    let addr = b.addr;
    // Rebalance timeout 1 s: the pending-sync deadline.
    let first = join(addr, "ns", 5_000, 1_000).await;
    let mut raw = Raw::connect(addr).await;
    let r = raw
        .call(&sync_req("ns", &first.member_id, first.generation_id, &[]), 5)
        .await;
    assert_eq!(r.error_code, 0);
    // A second member joins, so the first must rejoin; the second never sends SyncGroup.
    let second = tokio::spawn(async move { join(addr, "ns", 5_000, 1_000).await });
    // The first member learns of the rebalance from its heartbeat, as a client does.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while raw
        .call(&heartbeat_req("ns", &first.member_id, first.generation_id, None), 4)
        .await
        .error_code
        != code(ResponseError::RebalanceInProgress)
    {
        assert!(tokio::time::Instant::now() < deadline, "no rebalance started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = raw.call(&join_req("ns", &first.member_id, None, 5_000, 1_000), 9).await;
    let second = second.await.expect("join");
    assert_eq!(again.generation_id, second.generation_id);
    let generation = again.generation_id;
    let leader = again.leader.to_string();
    assert_eq!(leader, first.member_id.to_string(), "the old member stays leader");
    let r = raw.call(&sync_req("ns", &leader, generation, &[]), 5).await;
    assert_eq!(r.error_code, 0);
    // The leader heartbeats; after the rebalance timeout the silent member is dropped and
    // the leader is told to rejoin.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let hb = raw.call(&heartbeat_req("ns", &leader, generation, None), 4).await;
        if hb.error_code == code(ResponseError::RebalanceInProgress) {
            break;
        }
        assert_eq!(hb.error_code, 0);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent member was never removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rejoined = raw.call(&join_req("ns", &leader, None, 5_000, 1_000), 9).await;
    assert_eq!(rejoined.generation_id, generation + 1);
    assert_eq!(rejoined.members.len(), 1);
}

#[tokio::test]
async fn static_member_replacement_fences_the_old_instance() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    // Static members get their member id at once (no MEMBER_ID_REQUIRED).
    let j = raw.call(&join_req("sg", "", Some("inst-1"), 10_000, 10_000), 9).await;
    assert_eq!(j.error_code, 0);
    assert!(j.member_id.starts_with("inst-1-"));
    let r = raw
        .call(
            &sync_req("sg", &j.member_id, j.generation_id, &[(&j.member_id, b"P0")]),
            5,
        )
        .await;
    assert_eq!(r.assignment, Bytes::from_static(b"P0"));
    // The instance restarts and joins with no member id: it replaces the old member without
    // a rebalance (same generation) and, as leader on v9, is told to skip assignment.
    let j2 = raw.call(&join_req("sg", "", Some("inst-1"), 10_000, 10_000), 9).await;
    assert_eq!(j2.error_code, 0);
    assert_eq!(j2.generation_id, j.generation_id);
    assert_ne!(j2.member_id, j.member_id);
    assert!(j2.skip_assignment);
    let r = raw.call(&sync_req("sg", &j2.member_id, j2.generation_id, &[]), 5).await;
    assert_eq!(r.assignment, Bytes::from_static(b"P0"), "the partitions come back");
    let hb = raw
        .call(&heartbeat_req("sg", &j.member_id, j.generation_id, Some("inst-1")), 4)
        .await;
    assert_eq!(hb.error_code, code(ResponseError::FencedInstanceId));
    let hb = raw
        .call(&heartbeat_req("sg", &j2.member_id, j2.generation_id, Some("inst-1")), 4)
        .await;
    assert_eq!(hb.error_code, 0);
}

#[tokio::test]
async fn leader_dying_mid_rebalance_releases_parked_followers() {
    let b = TestBroker::start_with(&[
        ("group.min.session.timeout.ms", "500"),
        ("group.initial.rebalance.delay.ms", "300"),
    ])
    .await;
    let addr = b.addr;
    let j1 = tokio::spawn(async move { join(addr, "ld", 1_000, 5_000).await });
    let j2 = tokio::spawn(async move { join(addr, "ld", 1_000, 5_000).await });
    let (mut a, mut c) = (j1.await.unwrap(), j2.await.unwrap());
    // Bring both into one generation.
    for _ in 0..5 {
        if a.generation_id == c.generation_id {
            break;
        }
        let (am, cm) = (a.member_id.to_string(), c.member_id.to_string());
        let ta = tokio::spawn(async move {
            Raw::connect(addr)
                .await
                .call(&join_req("ld", &am, None, 1_000, 5_000), 9)
                .await
        });
        let tc = tokio::spawn(async move {
            Raw::connect(addr)
                .await
                .call(&join_req("ld", &cm, None, 1_000, 5_000), 9)
                .await
        });
        a = ta.await.unwrap();
        c = tc.await.unwrap();
    }
    assert_eq!(a.generation_id, c.generation_id);
    let leader = a.leader.to_string();
    let follower = if a.member_id.as_str() == leader {
        c.member_id.to_string()
    } else {
        a.member_id.to_string()
    };
    // The follower parks in SyncGroup; the leader goes silent. Its session (1 s) expires and
    // the follower is released with REBALANCE_IN_PROGRESS.
    let mut raw = Raw::connect(addr).await;
    let r = raw.call(&sync_req("ld", &follower, a.generation_id, &[]), 5).await;
    assert_eq!(r.error_code, code(ResponseError::RebalanceInProgress));
    let again = raw.call(&join_req("ld", &follower, None, 1_000, 5_000), 9).await;
    assert_eq!((again.error_code, again.leader.as_str()), (0, follower.as_str()));
    assert_eq!(again.members.len(), 1);
}

#[tokio::test]
async fn offsets_commit_fetch_and_survive_a_restart() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    common::create_topic(&mut raw, "orders", 2, &[]).await;
    // assign()-style commits: generation -1 into an unknown (then Empty) group.
    let c = raw
        .call(
            &commit_req("simple", "", -1, &[("orders", 0, 42, "meta-0"), ("orders", 1, 7, "")]),
            9,
        )
        .await;
    assert_eq!(commit_codes(&c), vec![0, 0]);
    // Unknown topic, oversized metadata, and a member commit into a missing group.
    let big = "x".repeat(4097);
    let c = raw
        .call(
            &commit_req("simple", "", -1, &[("nope", 0, 1, ""), ("orders", 0, 50, &big)]),
            9,
        )
        .await;
    assert_eq!(
        commit_codes(&c),
        vec![
            code(ResponseError::UnknownTopicOrPartition),
            code(ResponseError::OffsetMetadataTooLarge)
        ]
    );
    let c = raw.call(&commit_req("ghost", "m", 3, &[("orders", 0, 1, "")]), 8).await;
    assert_eq!(commit_codes(&c), vec![code(ResponseError::IllegalGeneration)]);
    let c = raw.call(&commit_req("ghost", "m", 3, &[("orders", 0, 1, "")]), 9).await;
    assert_eq!(commit_codes(&c), vec![code(ResponseError::GroupIdNotFound)]);
    // A second group, fetched together with the first (v8 multi-group) and an unknown one.
    let c = raw
        .call(&commit_req("other", "", -1, &[("orders", 0, 3, "o")]), 9)
        .await;
    assert_eq!(commit_codes(&c), vec![0]);
    let got = fetch_offsets(&mut raw, &["simple", "other", "unknown"], "orders", 0).await;
    assert_eq!(got, vec![(42, "meta-0".into()), (3, "o".into()), (-1, String::new())]);
    // v1 (single group, per-partition errors) and v7 all-partitions.
    let mut r = OffsetFetchRequest::default();
    r.group_id = gid("simple");
    r.topics = None;
    let all = raw.call(&r, 7).await;
    assert_eq!(all.error_code, 0);
    let parts: Vec<(i32, i64)> = all.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(parts, vec![(0, 42), (1, 7)]);
    // Restart: offsets and metadata come back.
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let got = fetch_offsets(&mut raw, &["simple", "other"], "orders", 0).await;
    assert_eq!(got, vec![(42, "meta-0".into()), (3, "o".into())]);
    // ListGroups sees both (simple groups have no protocol type), filtered by state.
    let mut lg = ListGroupsRequest::default();
    lg.states_filter = vec![s("empty")];
    let groups = raw.call(&lg, 5).await;
    let mut names: Vec<String> = groups.groups.iter().map(|g| g.group_id.to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["other", "simple"]);
    assert!(
        groups
            .groups
            .iter()
            .all(|g| g.group_state.as_str() == "Empty" && g.group_type.as_str() == "classic")
    );
    lg.states_filter = vec![s("Stable")];
    assert!(raw.call(&lg, 5).await.groups.is_empty());
    // OffsetDelete then DeleteGroups; both survive another restart.
    let mut od = OffsetDeleteRequest::default();
    od.group_id = gid("simple");
    let mut odt = offset_delete_request::OffsetDeleteRequestTopic::default();
    odt.name = topic("orders");
    odt.partitions = vec![offset_delete_request::OffsetDeleteRequestPartition::default()];
    od.topics = vec![odt];
    let del = raw.call(&od, 0).await;
    assert_eq!((del.error_code, del.topics[0].partitions[0].error_code), (0, 0));
    let mut dg = DeleteGroupsRequest::default();
    dg.groups_names = vec![gid("other"), gid("missing")];
    let dr = raw.call(&dg, 2).await;
    assert_eq!(dr.results[0].error_code, 0);
    assert_eq!(dr.results[1].error_code, code(ResponseError::GroupIdNotFound));
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let got = fetch_offsets(&mut raw, &["simple", "other"], "orders", 0).await;
    assert_eq!(got, vec![(-1, String::new()), (-1, String::new())]);
    let got = fetch_offsets(&mut raw, &["simple"], "orders", 1).await;
    assert_eq!(got, vec![(7, String::new())]);
}

#[tokio::test]
async fn group_with_members_protects_its_offsets() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    common::create_topic(&mut raw, "orders", 1, &[]).await;
    common::create_topic(&mut raw, "archive", 1, &[]).await;
    let j = raw.call(&join_req("busy", "", Some("i"), 10_000, 10_000), 9).await;
    let r = raw.call(&sync_req("busy", &j.member_id, j.generation_id, &[]), 5).await;
    assert_eq!(r.error_code, 0);
    let mut c = commit_req(
        "busy",
        &j.member_id,
        j.generation_id,
        &[("orders", 0, 5, ""), ("archive", 0, 9, "")],
    );
    c.group_instance_id = Some(s("i"));
    assert_eq!(commit_codes(&raw.call(&c, 9).await), vec![0, 0]);
    // Stale generation and anonymous commits are refused while the group has members.
    let stale = commit_req("busy", &j.member_id, j.generation_id - 1, &[("orders", 0, 6, "")]);
    assert_eq!(
        commit_codes(&raw.call(&stale, 9).await),
        vec![code(ResponseError::IllegalGeneration)]
    );
    let anon = commit_req("busy", "", -1, &[("orders", 0, 6, "")]);
    assert_eq!(
        commit_codes(&raw.call(&anon, 9).await),
        vec![code(ResponseError::UnknownMemberId)]
    );
    let mut dg = DeleteGroupsRequest::default();
    dg.groups_names = vec![gid("busy")];
    assert_eq!(
        raw.call(&dg, 2).await.results[0].error_code,
        code(ResponseError::NonEmptyGroup)
    );
    // OffsetDelete: the subscribed topic ("orders") is protected, the other is not.
    let mut od = OffsetDeleteRequest::default();
    od.group_id = gid("busy");
    od.topics = ["orders", "archive"]
        .iter()
        .map(|t| {
            let mut x = offset_delete_request::OffsetDeleteRequestTopic::default();
            x.name = topic(t);
            x.partitions = vec![offset_delete_request::OffsetDeleteRequestPartition::default()];
            x
        })
        .collect();
    let del = raw.call(&od, 0).await;
    assert_eq!(
        del.topics[0].partitions[0].error_code,
        code(ResponseError::GroupSubscribedToTopic)
    );
    assert_eq!(del.topics[1].partitions[0].error_code, 0);
    // LeaveGroup by instance id empties the group; now it can be deleted.
    let mut l = LeaveGroupRequest::default();
    l.group_id = gid("busy");
    let mut m = leave_group_request::MemberIdentity::default();
    m.group_instance_id = Some(s("i"));
    l.members = vec![m];
    assert_eq!(raw.call(&l, 5).await.members[0].error_code, 0);
    assert_eq!(raw.call(&dg, 2).await.results[0].error_code, 0);
}

#[tokio::test]
async fn deleting_a_topic_drops_its_committed_offsets() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    common::create_topic(&mut raw, "doomed", 1, &[]).await;
    let c = raw.call(&commit_req("g", "", -1, &[("doomed", 0, 11, "")]), 9).await;
    assert_eq!(commit_codes(&c), vec![0]);
    let mut d = DeleteTopicsRequest::default();
    d.topic_names = vec![topic("doomed")];
    assert_eq!(raw.call(&d, 5).await.responses[0].error_code, 0);
    // DeleteTopics answers after the group's offsets for the topic are tombstoned.
    assert_eq!(
        fetch_offsets(&mut raw, &["g"], "doomed", 0).await,
        vec![(-1, String::new())]
    );
    // The internal topic itself cannot be deleted.
    d.topic_names = vec![topic("__consumer_offsets")];
    assert_eq!(
        raw.call(&d, 5).await.responses[0].error_code,
        code(ResponseError::InvalidRequest)
    );
}

#[tokio::test]
async fn consumer_offsets_compaction_keeps_the_latest_state_only() {
    let mut b = TestBroker::start_with(&[
        ("offsets.topic.num.partitions", "1"),
        ("offsets.topic.segment.bytes", "1048576"),
    ])
    .await;
    let mut raw = Raw::connect(b.addr).await;
    common::create_topic(&mut raw, "wide", 1000, &[]).await;
    // 25 commits of 1000 partitions (~60 KB each) roll the 1 MiB segments.
    for round in 0..25i64 {
        let mut r = commit_req("compacted", "", -1, &[]);
        let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
        t.name = topic("wide");
        t.partitions = (0..1000)
            .map(|p| {
                let mut x = offset_commit_request::OffsetCommitRequestPartition::default();
                x.partition_index = p;
                x.committed_offset = round * 10 + p as i64;
                x.committed_metadata = Some(s(&format!("r{round}")));
                x
            })
            .collect();
        r.topics = vec![t];
        assert!(commit_codes(&raw.call(&r, 9).await).iter().all(|c| *c == 0));
    }
    let p = b.broker().logs().partition("__consumer_offsets", 0).expect("partition");
    let segments_before = p.segment_count();
    assert!(segments_before >= 2, "the log rolled");
    let removed = b.broker().groups().compact_offsets().await;
    assert!(removed >= segments_before - 1, "every sealed segment was superseded");
    assert!(p.log_start_offset() > 0);
    drop(p);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    for part in [0, 999] {
        let got = fetch_offsets(&mut raw, &["compacted"], "wide", part).await;
        assert_eq!(got, vec![(240 + part as i64, "r24".to_string())]);
    }
}
