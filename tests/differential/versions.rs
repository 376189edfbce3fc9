//! Every version brokk serves of the APIs a client picks a version of: one request per
//! version (success paths, plus an unknown group where that is the interesting answer), so
//! that a field or error that differs in one version only shows. The other scenarios go
//! deep at one or two versions; this one goes wide.

use kafka_protocol::messages::*;

use super::common::{batch, fetch_req, produce_req, topic};
use super::groups::{commit, describe, fetch_offsets, gid, heartbeat, join, sync};
use super::normalise as n;
use super::pair::Pair;
use super::records::{delete_records, epochs, list_offsets};
use super::topics::{creatable, create, created, metadata, s};

const TS0: i64 = 1_700_000_000_000;

pub async fn every_version(p: &mut Pair) {
    let t = p.topic("v");
    created(p, &t, 2).await;
    for v in 0..=13 {
        // v0: an empty list means every topic; the named topic is asked for at every version.
        // v0-3 cannot say "do not create" (they always may).
        p.same("Metadata", &metadata(&[&t], v < 4), v, n::metadata).await;
    }
    // Produce v3-v12 by name (v13 names topics by id: tests/differential/records.rs).
    for v in 3..=12 {
        let records = batch(2, TS0 + i64::from(v), kafka_protocol::records::Compression::None);
        p.same("Produce", &produce_req(&t, 0, records, -1), v, n::produce).await;
    }
    for v in 4..=12 {
        p.same("Fetch", &fetch_req(&t, 0, 0, 0, 0), v, n::fetch).await;
        p.same("Fetch past the end", &fetch_req(&t, 0, 99, 0, 0), v, n::fetch)
            .await;
    }
    for v in 1..=10 {
        p.same(
            "ListOffsets latest and earliest",
            &list_offsets(&t, &[(0, -1), (1, -2)], 0),
            v,
            n::list_offsets,
        )
        .await;
        p.same(
            "ListOffsets by time",
            &list_offsets(&t, &[(0, TS0 + 5)], 0),
            v,
            n::list_offsets,
        )
        .await;
    }
    for v in 2..=4 {
        p.same(
            "OffsetForLeaderEpoch",
            &epochs(&t, 0, 0, -1),
            v,
            n::offset_for_leader_epoch,
        )
        .await;
    }
    for v in 0..=2 {
        p.same(
            "DeleteRecords",
            &delete_records(&t, 0, 1 + i64::from(v)),
            v,
            n::delete_records,
        )
        .await;
    }
    // Topic administration: one topic per version.
    for v in 2..=7 {
        let name = format!("{t}-c{v}");
        p.same(
            "CreateTopics",
            &create(vec![creatable(&name, 1, 1, &[])], false),
            v,
            n::create_topics,
        )
        .await;
        p.same(
            "CreateTopics of an existing topic",
            &create(vec![creatable(&name, 1, 1, &[])], false),
            v,
            n::create_topics,
        )
        .await;
    }
    for v in 0..=3 {
        let name = format!("{t}-c{}", v + 2);
        p.await_leaders(&[&name]).await;
        p.same(
            "CreatePartitions",
            &super::admin::create_partitions(&name, 2),
            v,
            n::create_partitions,
        )
        .await;
        p.same(
            "CreatePartitions to fewer",
            &super::admin::create_partitions(&name, 1),
            v,
            n::create_partitions,
        )
        .await;
    }
    for v in 1..=6 {
        let name = format!("{t}-c{}", v + 1);
        let req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
        let req = if v < 6 {
            req.with_topic_names(vec![topic(&name)])
        } else {
            req.with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_name(Some(topic(&name))),
            ])
        };
        p.same("DeleteTopics", &req, v, n::delete_topics).await;
    }
    // Describing.
    for v in 1..=4 {
        p.same(
            "DescribeConfigs of a topic",
            &super::admin::describe_configs(2, &t, Some(&["retention.ms", "cleanup.policy"]), true),
            v,
            n::describe_configs,
        )
        .await;
    }
    for v in 0..=2 {
        p.same(
            "DescribeCluster",
            &DescribeClusterRequest::default(),
            v,
            n::describe_cluster,
        )
        .await;
    }
    for v in 1..=4 {
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            describe_log_dirs_request::DescribableLogDirTopic::default()
                .with_topic(topic(&t))
                .with_partitions(vec![7]),
        ]));
        p.same("DescribeLogDirs of an unknown partition", &req, v, n::describe_log_dirs)
            .await;
    }
    // Groups: an unknown group at every version, and offsets committed without a member.
    let g = p.topic("vg");
    p.await_coordinator(&g).await;
    for v in 0..=6 {
        let find = if v < 4 {
            FindCoordinatorRequest::default().with_key(s(&g))
        } else {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s(&g)])
        };
        p.same("FindCoordinator", &find, v, n::find_coordinator).await;
    }
    for v in 2..=9 {
        let member = kafka_protocol::protocol::StrBytes::default();
        p.same(
            "OffsetCommit without a member",
            &commit(&g, &member, -1, &t, 0, 3),
            v,
            n::offset_commit,
        )
        .await;
    }
    for v in 1..=9 {
        let req = if v < 8 {
            OffsetFetchRequest::default()
                .with_group_id(gid(&g))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic(&t))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        } else {
            fetch_offsets(&g, &t, vec![0, 1])
        };
        p.same("OffsetFetch", &req, v, n::offset_fetch).await;
    }
    for v in 0..=6 {
        p.same(
            "DescribeGroups of a group without members",
            &describe(&[&g]),
            v,
            n::describe_groups,
        )
        .await;
    }
    for v in 0..=5 {
        p.same("ListGroups", &ListGroupsRequest::default(), v, list_groups_of(&g))
            .await;
    }
    for v in 0..=2 {
        let name = format!("{g}-{v}");
        let req = DeleteGroupsRequest::default().with_groups_names(vec![gid(&name)]);
        p.same("DeleteGroups of an unknown group", &req, v, n::delete_groups)
            .await;
    }
    for v in 0..=5 {
        let req = InitProducerIdRequest::default()
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        p.same(
            "InitProducerId without a transactional id",
            &req,
            v,
            n::init_producer_id,
        )
        .await;
    }
}

/// One member's whole life in a group at each JoinGroup version (0-9), with SyncGroup,
/// Heartbeat and LeaveGroup at the matching versions (their newest at or below it).
pub async fn group_versions(p: &mut Pair) {
    for v in 0..=9i16 {
        let g = p.topic(&format!("j{v}"));
        p.await_coordinator(&g).await;
        let none = kafka_protocol::protocol::StrBytes::default();
        let join_at = |member: &kafka_protocol::protocol::StrBytes| {
            // v0 has no rebalance timeout (the session timeout serves).
            let r = join(&g, member);
            if v == 0 { r.with_rebalance_timeout_ms(-1) } else { r }
        };
        let (k, b) = p.same_each("JoinGroup", |_| join_at(&none), v, n::join_group).await;
        // v4+: the first join only hands out a member id (MEMBER_ID_REQUIRED).
        let (k, b) = if v >= 4 {
            let ids = [k.member_id.clone(), b.member_id.clone()];
            p.same_each(
                "JoinGroup with the member id",
                |kf| join_at(&ids[usize::from(!kf)]),
                v,
                n::join_group,
            )
            .await
        } else {
            (k, b)
        };
        let ids = [k.member_id.clone(), b.member_id.clone()];
        let id = |kf: bool| ids[usize::from(!kf)].clone();
        let generation = k.generation_id;
        let sv = v.min(5);
        p.same_each(
            "SyncGroup",
            |kf| {
                let r = sync(&g, &id(kf), generation);
                if sv < 5 {
                    r.with_protocol_type(None).with_protocol_name(None)
                } else {
                    r
                }
            },
            sv,
            n::sync_group,
        )
        .await;
        p.same_each(
            "Heartbeat",
            |kf| heartbeat(&g, &id(kf), generation),
            v.min(4),
            n::heartbeat,
        )
        .await;
        p.same_each(
            "Heartbeat of an older generation",
            |kf| heartbeat(&g, &id(kf), generation - 1),
            v.min(4),
            n::heartbeat,
        )
        .await;
        p.same(
            "DescribeGroups of a stable group",
            &describe(&[&g]),
            v.min(6),
            n::describe_groups,
        )
        .await;
        let lv = v.min(5);
        p.same_each(
            "LeaveGroup",
            |kf| {
                let r = LeaveGroupRequest::default().with_group_id(gid(&g));
                if lv < 3 {
                    r.with_member_id(id(kf))
                } else {
                    r.with_members(vec![
                        leave_group_request::MemberIdentity::default().with_member_id(id(kf)),
                    ])
                }
            },
            lv,
            n::leave_group,
        )
        .await;
    }
}

/// ListGroups restricted to `g` (the shared Kafka has other scenarios' groups).
fn list_groups_of(g: &str) -> impl Fn(&mut ListGroupsResponse) + '_ {
    move |r: &mut ListGroupsResponse| {
        n::list_groups(r);
        r.groups.retain(|x| x.group_id.0.as_str() == g);
    }
}

/// A committed transaction with records and offsets at each EndTxn version (0-4), with
/// InitProducerId, AddPartitionsToTxn (v0-3, then v4-5's verify-only form), AddOffsetsToTxn,
/// TxnOffsetCommit and ListTransactions at the matching versions.
pub async fn transaction_versions(p: &mut Pair) {
    use super::transactions::{add_partitions, batch as txn_batch, begin, end, txn_produce};
    let t = p.topic("tx");
    created(p, &t, 1).await;
    for v in 0..=4i16 {
        let (id, g) = (p.topic(&format!("tx{v}")), p.topic(&format!("txg{v}")));
        let pids = begin(p, &id, v).await;
        let pid = |kf: bool| pids[usize::from(!kf)];
        p.same_each(
            "AddPartitionsToTxn",
            |kf| add_partitions(&id, pid(kf).0, pid(kf).1, &t, vec![0]),
            v.min(3),
            n::add_partitions_to_txn,
        )
        .await;
        p.same_each(
            "Produce in the transaction",
            |kf| txn_produce(&id, &t, 0, txn_batch(pid(kf).0, pid(kf).1, 0, 2, true)),
            9,
            n::produce,
        )
        .await;
        if v >= 3 {
            // v4-5: the brokers' batched form; verify_only asks whether partitions are in.
            let verify = |kf: bool| {
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(s(&id)))
                        .with_producer_id(ProducerId(pid(kf).0))
                        .with_producer_epoch(pid(kf).1)
                        .with_verify_only(true)
                        .with_topics(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                                .with_name(topic(&t))
                                .with_partitions(vec![0]),
                        ]),
                ])
            };
            p.same_each(
                "AddPartitionsToTxn verify-only",
                verify,
                v + 1,
                n::add_partitions_to_txn,
            )
            .await;
        }
        let add_offsets = |kf: bool| {
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(&id)))
                .with_producer_id(ProducerId(pid(kf).0))
                .with_producer_epoch(pid(kf).1)
                .with_group_id(gid(&g))
        };
        p.await_coordinator(&g).await;
        p.same_each("AddOffsetsToTxn", add_offsets, v, n::add_offsets_to_txn)
            .await;
        let offsets = |kf: bool| {
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(&id)))
                .with_group_id(gid(&g))
                .with_producer_id(ProducerId(pid(kf).0))
                .with_producer_epoch(pid(kf).1)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic(&t))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1)
                                .with_committed_metadata(Some(s("in a transaction"))),
                        ]),
                ])
        };
        p.same_each("TxnOffsetCommit", offsets, v, n::txn_offset_commit).await;
        if v <= 1 {
            let list = ListTransactionsRequest::default();
            p.same("ListTransactions", &list, v, list_transactions_of(&id)).await;
        }
        p.same_each(
            "EndTxn commit",
            |kf| end(&id, pid(kf).0, pid(kf).1, true),
            v,
            n::end_txn,
        )
        .await;
        p.await_txn_complete(&id).await;
        p.eventually_same(
            "OffsetFetch after the commit",
            &fetch_offsets(&g, &t, vec![0]),
            8,
            n::offset_fetch,
        )
        .await;
    }
    p.eventually_same_each(
        "Fetch of the committed transactions, read_committed",
        |_| fetch_req(&t, 0, 0, 0, 0).with_isolation_level(1),
        12,
        super::transactions::seen,
    )
    .await;
}

/// ListTransactions restricted to `id` (the shared Kafka has other scenarios' ids), producer
/// ids as each broker's own.
fn list_transactions_of(id: &str) -> impl Fn(&mut ListTransactionsResponse) + '_ {
    move |r: &mut ListTransactionsResponse| {
        r.throttle_time_ms = 0;
        r.transaction_states.retain(|x| x.transactional_id.0.as_str() == id);
        for x in &mut r.transaction_states {
            x.producer_id = ProducerId(0);
        }
    }
}

/// The admin APIs at their other versions: configs (legacy and incremental), quotas, leader
/// election, reassignments, log dir moves, the quorum, config resources, ApiVersions v1-2,
/// and requests by topic id (Produce v13, Fetch v13-18).
pub async fn admin_versions(p: &mut Pair) {
    use super::admin::{alter, incremental};
    let t = p.topic("a");
    let (k, b) = p
        .same_each(
            "CreateTopics",
            |_| create(vec![creatable(&t, 2, 1, &[])], false),
            7,
            n::create_topics,
        )
        .await;
    let ids = [k.topics[0].topic_id, b.topics[0].topic_id];
    p.await_leaders(&[&t]).await;
    for v in 0..=2 {
        let req = kafka_protocol::messages::ApiVersionsRequest::default();
        p.same("ApiVersions", &req, v, |r: &mut ApiVersionsResponse| {
            n::kafka_features(r);
            r.throttle_time_ms = 0;
            // The table itself is compared (per key) by api_versions_match_kafka.
            r.api_keys.clear();
        })
        .await;
    }
    for v in 0..=1 {
        p.same(
            "AlterConfigs of a topic",
            &alter(2, &t, &[("retention.ms", Some("3600000"))]),
            v,
            n::alter_configs,
        )
        .await;
        p.same(
            "AlterConfigs of an invalid value",
            &alter(2, &t, &[("retention.ms", Some("soon"))]),
            v,
            n::alter_configs,
        )
        .await;
        p.same(
            "IncrementalAlterConfigs",
            &incremental(2, &t, &[("segment.ms", 0, Some("600000"))], false),
            v,
            n::incremental_alter_configs,
        )
        .await;
    }
    let user = format!("{}-user", p.topic("q"));
    let dq = DescribeClientQuotasRequest::default().with_components(vec![
        describe_client_quotas_request::ComponentData::default()
            .with_entity_type(s("user"))
            .with_match_type(0)
            .with_match(Some(s(&user))),
    ]);
    p.same("DescribeClientQuotas", &dq, 0, n::describe_client_quotas).await;
    let aq = super::misc::alter_quota(&user, "no_such_rate", 1.0, false);
    p.same("AlterClientQuotas of an unknown key", &aq, 0, n::alter_client_quotas)
        .await;
    for v in 0..=1 {
        // v0 is preferred election only (no election type).
        let el = ElectLeadersRequest::default()
            .with_timeout_ms(10_000)
            .with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(topic(&t))
                    .with_partitions(vec![0, 9]),
            ]));
        p.same("ElectLeaders", &el, v, n::elect_leaders).await;
        // Every partition (kafka-leader-election --all-topic-partitions): every topic with
        // no partition result (none needed an election); compared for this scenario's
        // topic, as the shared reference broker holds other scenarios' topics too.
        let all = ElectLeadersRequest::default()
            .with_timeout_ms(10_000)
            .with_topic_partitions(None);
        let own = |r: &mut ElectLeadersResponse| {
            n::elect_leaders(r);
            r.replica_election_results.retain(|x| x.topic.0.as_str() == t.as_str());
        };
        p.same("ElectLeaders of every partition", &all, v, own).await;
    }
    for v in 0..=1 {
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(topic(&t))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(5)])),
                    ]),
            ]);
        p.same(
            "AlterPartitionReassignments to an unknown broker",
            &req,
            v,
            |r: &mut AlterPartitionReassignmentsResponse| r.throttle_time_ms = 0,
        )
        .await;
    }
    for v in 1..=2 {
        let req = AlterReplicaLogDirsRequest::default().with_dirs(vec![
            alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                .with_path(s("/no/such/dir"))
                .with_topics(vec![
                    alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                        .with_name(topic(&t))
                        .with_partitions(vec![0]),
                ]),
        ]);
        p.same(
            "AlterReplicaLogDirs to an unknown dir",
            &req,
            v,
            |r: &mut AlterReplicaLogDirsResponse| r.throttle_time_ms = 0,
        )
        .await;
    }
    // kafka-cluster unregister of a broker that never registered.
    let unregister = UnregisterBrokerRequest::default().with_broker_id(BrokerId(77));
    p.same(
        "UnregisterBroker of an unknown broker",
        &unregister,
        0,
        |r: &mut UnregisterBrokerResponse| r.throttle_time_ms = 0,
    )
    .await;
    let lcr = ListConfigResourcesRequest::default();
    p.same(
        "ListConfigResources (v0: client metrics)",
        &lcr,
        0,
        n::list_config_resources,
    )
    .await;
    for v in 0..=2 {
        let dq = DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(topic("__cluster_metadata"))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
        ]);
        p.same("DescribeQuorum", &dq, v, describe_quorum_shape).await;
        let other = DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(topic(&t))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
        ]);
        p.same("DescribeQuorum of another topic", &other, v, describe_quorum_shape)
            .await;
    }
    // By topic id.
    let id = |kf: bool| ids[usize::from(!kf)];
    let produce_by_id = |kf: bool| {
        let mut r = produce_req(&t, 1, batch(2, TS0, kafka_protocol::records::Compression::None), -1);
        r.topic_data[0].topic_id = id(kf);
        r.topic_data[0].name = Default::default();
        r
    };
    p.same_each("Produce by topic id", produce_by_id, 13, n::produce).await;
    for v in 13..=18 {
        let fetch_by_id = |kf: bool| {
            let mut r = fetch_req(&t, 1, 0, 0, 0);
            r.topics[0].topic_id = id(kf);
            r.topics[0].topic = Default::default();
            r
        };
        p.same_each("Fetch by topic id", fetch_by_id, v, n::fetch).await;
    }
}

/// DescribeQuorum: what both single-node quorums share (ids, leader, epochs and offsets
/// move with each broker's own metadata log).
fn describe_quorum_shape(r: &mut DescribeQuorumResponse) {
    for t in &mut r.topics {
        for p in &mut t.partitions {
            p.leader_epoch = 0;
            p.high_watermark = 0;
            for v in p.current_voters.iter_mut().chain(p.observers.iter_mut()) {
                v.log_end_offset = 0;
                v.last_fetch_timestamp = -1;
                v.last_caught_up_timestamp = -1;
                v.replica_directory_id = Default::default();
            }
        }
    }
    for n in &mut r.nodes {
        for l in &mut n.listeners {
            l.host = Default::default();
            l.port = 0;
            n::kafka_controller_listener(&mut l.name);
        }
    }
}
