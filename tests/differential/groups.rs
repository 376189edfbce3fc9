//! The classic group protocol and committed offsets: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, OffsetCommit, OffsetFetch, DescribeGroups, LeaveGroup, OffsetDelete and
//! DeleteGroups, with the error codes of unknown groups, members and generations.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::common::topic;
use super::normalise as n;
use super::pair::Pair;
use super::topics::{created, s};

pub(super) fn gid(g: &str) -> GroupId {
    GroupId(s(g))
}

pub(super) fn join(group: &str, member: &StrBytes) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_member_id(member.clone())
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\0\0\0\0\0\0")),
        ])
}

pub(super) fn sync(group: &str, member: &StrBytes, generation: i32) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_member_id(member.clone())
        .with_generation_id(generation)
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member.clone())
                .with_assignment(Bytes::from_static(b"\0\x01assignment")),
        ])
}

pub(super) fn heartbeat(group: &str, member: &StrBytes, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(member.clone())
        .with_generation_id(generation)
}

pub(super) fn commit(
    group: &str,
    member: &StrBytes,
    generation: i32,
    t: &str,
    p: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_member_id(member.clone())
        .with_generation_id_or_member_epoch(generation)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ])
}

pub(super) fn fetch_offsets(group: &str, t: &str, partitions: Vec<i32>) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(gid(group))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(topic(t))
                    .with_partition_indexes(partitions),
            ])),
    ])
}

pub(super) fn describe(groups: &[&str]) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect())
}

pub(super) fn leave(group: &str, member: &StrBytes) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(gid(group))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(member.clone()),
        ])
}

pub async fn classic_group(p: &mut Pair) {
    let (g, t) = (p.topic("g"), p.topic("t"));
    created(p, &t, 2).await;
    p.await_coordinator(&g).await;
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![s(&g)]);
    p.same("FindCoordinator", &find, 4, n::find_coordinator).await;
    let find3 = FindCoordinatorRequest::default().with_key(s(&g));
    p.same("FindCoordinator", &find3, 3, n::find_coordinator).await;
    // An unknown group.
    let none = StrBytes::default();
    let unknown_member = s("consumer-1-00000000-0000-0000-0000-000000000000");
    p.same(
        "DescribeGroups of an unknown group",
        &describe(&[&g]),
        5,
        n::describe_groups,
    )
    .await;
    p.same(
        "Heartbeat of an unknown group",
        &heartbeat(&g, &unknown_member, 1),
        4,
        n::heartbeat,
    )
    .await;
    p.same(
        "SyncGroup of an unknown group",
        &sync(&g, &unknown_member, 1),
        5,
        n::sync_group,
    )
    .await;
    p.same(
        "LeaveGroup of an unknown group",
        &leave(&g, &unknown_member),
        5,
        n::leave_group,
    )
    .await;
    p.same(
        "OffsetFetch of an unknown group",
        &fetch_offsets(&g, &t, vec![0, 1]),
        8,
        n::offset_fetch,
    )
    .await;
    let del = DeleteGroupsRequest::default().with_groups_names(vec![gid(&g)]);
    p.same("DeleteGroups of an unknown group", &del, 2, n::delete_groups)
        .await;
    p.same("JoinGroup with an empty group id", &join("", &none), 9, n::join_group)
        .await;
    // Join: the member id first, then the join, the sync and heartbeats.
    let (k, b) = p
        .same_each("JoinGroup without a member id", |_| join(&g, &none), 9, n::join_group)
        .await;
    let ids = [k.member_id.clone(), b.member_id.clone()];
    let id = |kafka: bool| ids[usize::from(!kafka)].clone();
    p.same_each("JoinGroup", |kf| join(&g, &id(kf)), 9, n::join_group).await;
    p.same_each("SyncGroup", |kf| sync(&g, &id(kf), 1), 5, n::sync_group)
        .await;
    p.same_each(
        "SyncGroup of an old generation",
        |kf| sync(&g, &id(kf), 0),
        5,
        n::sync_group,
    )
    .await;
    p.same_each("Heartbeat", |kf| heartbeat(&g, &id(kf), 1), 4, n::heartbeat)
        .await;
    p.same_each(
        "Heartbeat of a wrong generation",
        |kf| heartbeat(&g, &id(kf), 7),
        4,
        n::heartbeat,
    )
    .await;
    p.same(
        "Heartbeat of an unknown member",
        &heartbeat(&g, &unknown_member, 1),
        4,
        n::heartbeat,
    )
    .await;
    // Offsets.
    p.same_each(
        "OffsetCommit",
        |kf| commit(&g, &id(kf), 1, &t, 0, 42),
        9,
        n::offset_commit,
    )
    .await;
    p.same_each(
        "OffsetCommit of a wrong generation",
        |kf| commit(&g, &id(kf), 3, &t, 0, 43),
        9,
        n::offset_commit,
    )
    .await;
    p.same_each(
        "OffsetCommit to an unknown partition",
        |kf| commit(&g, &id(kf), 1, &t, 9, 1),
        9,
        n::offset_commit,
    )
    .await;
    p.same(
        "OffsetCommit of an unknown member",
        &commit(&g, &unknown_member, 1, &t, 0, 1),
        9,
        n::offset_commit,
    )
    .await;
    p.same("OffsetFetch", &fetch_offsets(&g, &t, vec![0, 1]), 8, n::offset_fetch)
        .await;
    p.same("OffsetFetch at v5", &fetch_offsets_v5(&g, &t), 5, n::offset_fetch)
        .await;
    p.same(
        "DescribeGroups of a stable group",
        &describe(&[&g]),
        5,
        n::describe_groups,
    )
    .await;
    p.same("DeleteGroups of a group with members", &del, 2, n::delete_groups)
        .await;
    p.same_each("LeaveGroup", |kf| leave(&g, &id(kf)), 5, n::leave_group)
        .await;
    p.same(
        "DescribeGroups of an empty group",
        &describe(&[&g]),
        5,
        n::describe_groups,
    )
    .await;
    // A simple consumer's commit (no generation) and the offset's deletion.
    p.same(
        "OffsetCommit without a generation",
        &commit(&g, &none, -1, &t, 1, 7),
        9,
        n::offset_commit,
    )
    .await;
    let od = OffsetDeleteRequest::default().with_group_id(gid(&g)).with_topics(vec![
        offset_delete_request::OffsetDeleteRequestTopic::default()
            .with_name(topic(&t))
            .with_partitions(vec![
                offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(1),
            ]),
    ]);
    p.same("OffsetDelete", &od, 0, n::offset_delete).await;
    p.same(
        "OffsetFetch after OffsetDelete",
        &fetch_offsets(&g, &t, vec![0, 1]),
        8,
        n::offset_fetch,
    )
    .await;
    p.same("DeleteGroups", &del, 2, n::delete_groups).await;
    p.same("DeleteGroups again", &del, 2, n::delete_groups).await;
}

fn fetch_offsets_v5(group: &str, t: &str) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(gid(group))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic(t))
                .with_partition_indexes(vec![0, 1]),
        ]))
}
