//! Several `log.dirs` across restarts (issue 14, defect 4), with brokk as a child process:
//!
//! - a directory other than the metadata one that cannot be opened at start starts offline,
//!   as in Kafka: its partitions answer KAFKA_STORAGE_ERROR and show no leader, the groups
//!   whose `__consumer_offsets` partition it holds answer NOT_COORDINATOR (FindCoordinator:
//!   COORDINATOR_NOT_AVAILABLE), never an empty group; the other directory serves, takes new
//!   topics, and a topic can be deleted and made again meanwhile; once the directory is back,
//!   everything it held is there, at a higher leader epoch than Metadata showed meanwhile,
//!   and the stray copy of the deleted topic is removed, not served;
//! - an open transaction whose `__transaction_state` partition is in the failed directory is
//!   neither aborted nor lost: once the directory is back it commits;
//! - a directory without `meta.properties` beside formatted ones (a disk not mounted) is
//!   refused, as Kafka refuses an unformatted log dir.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::process::{BrokkProcess, try_produce};
use common::*;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DescribeLogDirsRequest, FindCoordinatorRequest, GroupId, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, offset_commit_request as oc, offset_fetch_request as of,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const LEADER_NOT_AVAILABLE: i16 = 5;
/// Two `__consumer_offsets` partitions: one lands in each directory.
const OVERRIDES: &[&str] = &["offsets.topic.num.partitions=2"];

/// DescribeLogDirs: per directory (by its last path component), its error and its
/// partitions as "topic-p".
async fn dirs(raw: &mut Raw) -> BTreeMap<String, (i16, Vec<String>)> {
    let resp = raw.call(&DescribeLogDirsRequest::default().with_topics(None), 4).await;
    resp.results
        .iter()
        .map(|d| {
            let name = Path::new(d.log_dir.as_str())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let mut parts: Vec<String> = d
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| format!("{}-{}", t.name.0.as_str(), p.partition_index))
                })
                .collect();
            parts.sort();
            (name, (d.error_code, parts))
        })
        .collect()
}

/// A group whose `__consumer_offsets` partition is `p` (of 2).
fn group_in(p: i32) -> String {
    (0..)
        .map(|i| format!("g{i}"))
        .find(|g| brokk::log::internal::partition_for(g, 2) == p)
        .unwrap()
}

async fn commit(raw: &mut Raw, group: &str, offset: i64) -> i16 {
    let r = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            oc::OffsetCommitRequestTopic::default()
                .with_name(topic("f"))
                .with_partitions(vec![
                    oc::OffsetCommitRequestPartition::default().with_committed_offset(offset),
                ]),
        ]);
    raw.call(&r, 8).await.topics[0].partitions[0].error_code
}

/// OffsetFetch v8 of f-0 for `group`: (group error, committed offset).
async fn committed(raw: &mut Raw, group: &str) -> (i16, i64) {
    let r = OffsetFetchRequest::default().with_groups(vec![
        of::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group.into())))
            .with_topics(Some(vec![
                of::OffsetFetchRequestTopics::default()
                    .with_name(topic("f"))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let g = &raw.call(&r, 8).await.groups[0];
    (
        g.error_code,
        g.topics.first().map_or(-1, |t| t.partitions[0].committed_offset),
    )
}

async fn find_coordinator(raw: &mut Raw, group: &str) -> i16 {
    let r = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_string(group.into())]);
    raw.call(&r, 4).await.coordinators[0].error_code
}

/// Metadata v12 of partition `p` of `name`: (error, leader).
async fn leader(raw: &mut Raw, name: &str, p: i32) -> (i16, i32) {
    let (e, l, _) = leader_and_epoch(raw, name, p).await;
    (e, l)
}

/// Metadata v12 of partition `p` of `name`: (error, leader, leader epoch).
async fn leader_and_epoch(raw: &mut Raw, name: &str, p: i32) -> (i16, i32, i32) {
    let md = raw.call(&MetadataRequest::default().with_topics(None), 12).await;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .unwrap();
    let x = t.partitions.iter().find(|x| x.partition_index == p).unwrap();
    (x.error_code, x.leader_id.0, x.leader_epoch)
}

async fn values(raw: &mut Raw, name: &str, p: i32) -> (i16, usize) {
    let resp = raw.call(&fetch_req(name, p, 0, 0, 0), 12).await;
    let part = &resp.responses[0].partitions[0];
    (
        part.error_code,
        part.records.as_ref().map_or(0, |r| decode_records(r).len()),
    )
}

async fn delete_topic(raw: &mut Raw, name: &str) -> i16 {
    let r = DeleteTopicsRequest::default()
        .with_topic_names(vec![topic(name)])
        .with_timeout_ms(5000);
    raw.call(&r, 5).await.responses[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_dir_that_fails_at_start_is_offline_and_the_others_serve() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, away) = (root.path().join("a"), root.path().join("b"), root.path().join("b.away"));
    let broker = BrokkProcess::start_dirs(&[&a, &b], OVERRIDES);
    let mut raw = Raw::connect(broker.addr()).await;
    create_topic(&mut raw, "f", 2, &[]).await;
    for p in 0..2 {
        assert_eq!(
            produce(&mut raw, "f", p, batch(3, now_ms(), Compression::None)).await.0,
            0
        );
    }
    // The first lookup creates __consumer_offsets: one partition in each directory.
    let (in_a, in_b) = (group_in(0), group_in(1));
    assert_eq!(find_coordinator(&mut raw, &in_a).await, 0);
    let placed = dirs(&mut raw).await;
    assert_eq!(placed["a"].1, ["__consumer_offsets-0", "f-0"]);
    assert_eq!(placed["b"].1, ["__consumer_offsets-1", "f-1"]);
    assert_eq!(commit(&mut raw, &in_a, 1).await, 0);
    assert_eq!(commit(&mut raw, &in_b, 2).await, 0);
    let epoch_before = leader_and_epoch(&mut raw, "f", 1).await.2;
    broker.kill();

    // Directory b cannot be opened: a file stands where it was.
    std::fs::rename(&b, &away).unwrap();
    std::fs::write(&b, b"not a directory").unwrap();
    let broker = BrokkProcess::start_dirs(&[&a, &b], OVERRIDES);
    let mut raw = Raw::connect(broker.addr()).await;
    let now = dirs(&mut raw).await;
    assert_eq!(now["a"], (0, vec!["__consumer_offsets-0".into(), "f-0".into()]));
    assert_eq!(now["b"], (KAFKA_STORAGE_ERROR, vec![]));
    // f-0 serves; f-1 is offline, not an empty partition made anew.
    assert_eq!(values(&mut raw, "f", 0).await, (0, 3));
    assert_eq!(leader(&mut raw, "f", 0).await, (0, 0));
    assert_eq!(values(&mut raw, "f", 1).await.0, KAFKA_STORAGE_ERROR);
    let (code, no_leader, epoch_offline) = leader_and_epoch(&mut raw, "f", 1).await;
    assert_eq!((code, no_leader), (LEADER_NOT_AVAILABLE, -1));
    assert!(epoch_offline > epoch_before, "{epoch_offline} > {epoch_before}");
    assert_eq!(
        try_produce(&mut raw, "f", 1, batch(1, now_ms(), Compression::None))
            .await
            .map(|r| r.0),
        Some(KAFKA_STORAGE_ERROR)
    );
    // The group in a has its offset; the one in b is not coordinated here, never empty.
    assert_eq!(committed(&mut raw, &in_a).await, (0, 1));
    assert_eq!(find_coordinator(&mut raw, &in_b).await, COORDINATOR_NOT_AVAILABLE);
    assert_eq!(committed(&mut raw, &in_b).await.0, NOT_COORDINATOR);
    assert_eq!(commit(&mut raw, &in_b, 5).await, NOT_COORDINATOR);
    // A second start with b still failed.
    broker.kill();
    let broker = BrokkProcess::start_dirs(&[&a, &b], OVERRIDES);
    let mut raw = Raw::connect(broker.addr()).await;
    let epoch_offline_again = leader_and_epoch(&mut raw, "f", 1).await.2;
    assert!(epoch_offline_again > epoch_offline);
    // New partitions go to a; f can be deleted and made again (f-1's old files stay in b).
    create_topic(&mut raw, "h", 2, &[]).await;
    assert_eq!(delete_topic(&mut raw, "f").await, 0);
    create_topic(&mut raw, "f", 2, &[]).await;
    assert_eq!(
        produce(&mut raw, "f", 1, batch(1, now_ms(), Compression::None)).await,
        (0, 0)
    );
    assert_eq!(
        dirs(&mut raw).await["a"].1,
        ["__consumer_offsets-0", "f-0", "f-1", "h-0", "h-1"]
    );
    broker.kill();

    // b is back: the group in it has its offset again, and the deleted f's stray f-1 there
    // is removed, not served in place of the new one (nor a "duplicate" refusing the start).
    std::fs::remove_file(&b).unwrap();
    std::fs::rename(&away, &b).unwrap();
    assert!(b.join("f-1").is_dir());
    let broker = BrokkProcess::start_dirs(&[&a, &b], OVERRIDES);
    let mut raw = Raw::connect(broker.addr()).await;
    let now = dirs(&mut raw).await;
    assert_eq!(now["b"], (0, vec!["__consumer_offsets-1".into()]));
    assert!(!b.join("f-1").exists());
    assert_eq!(values(&mut raw, "f", 1).await, (0, 1));
    assert_eq!(find_coordinator(&mut raw, &in_b).await, 0);
    assert_eq!(committed(&mut raw, &in_b).await, (0, 2));
}

/// The epoch a partition of b shows, before, while and after b is offline at start, only
/// ever goes up (a client ignores metadata older than what it has seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_epochs_never_go_back_across_an_offline_start() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, away) = (root.path().join("a"), root.path().join("b"), root.path().join("b.away"));
    let mut epochs = vec![];
    let broker = BrokkProcess::start_dirs(&[&a, &b], &[]);
    let mut raw = Raw::connect(broker.addr()).await;
    create_topic(&mut raw, "f", 2, &[]).await;
    assert_eq!(
        produce(&mut raw, "f", 1, batch(2, now_ms(), Compression::None)).await.0,
        0
    );
    epochs.push(leader_and_epoch(&mut raw, "f", 1).await.2);
    broker.kill();
    std::fs::rename(&b, &away).unwrap();
    std::fs::write(&b, b"").unwrap();
    let broker = BrokkProcess::start_dirs(&[&a, &b], &[]);
    let mut raw = Raw::connect(broker.addr()).await;
    epochs.push(leader_and_epoch(&mut raw, "f", 1).await.2);
    broker.kill();
    std::fs::remove_file(&b).unwrap();
    std::fs::rename(&away, &b).unwrap();
    for _ in 0..2 {
        let broker = BrokkProcess::start_dirs(&[&a, &b], &[]);
        let mut raw = Raw::connect(broker.addr()).await;
        assert_eq!(values(&mut raw, "f", 1).await, (0, 2));
        epochs.push(leader_and_epoch(&mut raw, "f", 1).await.2);
        broker.kill();
    }
    assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");
}

/// An open transaction on a (in a) whose transactional id lives in b: while b is offline at
/// start it is not taken for a hanging transaction and aborted; once b is back it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_state_is_offline_is_not_aborted() {
    use kafka_protocol::messages::{
        AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TransactionalId,
        add_partitions_to_txn_request as ap,
    };
    let root = tempfile::tempdir().unwrap();
    let (a, b, away) = (root.path().join("a"), root.path().join("b"), root.path().join("b.away"));
    let overrides = ["transaction.state.log.num.partitions=2"];
    let broker = BrokkProcess::start_dirs(&[&a, &b], &overrides);
    let mut raw = Raw::connect(broker.addr()).await;
    create_topic(&mut raw, "f", 2, &[]).await;
    // __transaction_state-0 lands in a, -1 in b; this id's state is in b.
    let id = (0..)
        .map(|i| format!("t{i}"))
        .find(|t| brokk::log::internal::partition_for(t, 2) == 1)
        .unwrap();
    let tid = || TransactionalId(StrBytes::from_string(id.clone()));
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(tid()))
        .with_transaction_timeout_ms(600_000);
    let r = raw.call(&init, 4).await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert_eq!(dirs(&mut raw).await["b"].1, ["__transaction_state-1", "f-1"]);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid())
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            ap::AddPartitionsToTxnTopic::default()
                .with_name(topic("f"))
                .with_partitions(vec![0]),
        ]);
    let added = raw.call(&add, 3).await;
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let mut req = produce_req("f", 0, producer_batch(pid, epoch, 0, 3, true), -1);
    req.transactional_id = Some(tid());
    let resp = raw.call(&req, 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    broker.kill();

    std::fs::rename(&b, &away).unwrap();
    std::fs::write(&b, b"").unwrap();
    let broker = BrokkProcess::start_dirs(&[&a, &b], &overrides);
    let mut raw = Raw::connect(broker.addr()).await;
    // Still open: no abort marker, the last stable offset held at the transaction's start.
    let resp = raw.call(&fetch_req("f", 0, 0, 0, 0).with_isolation_level(1), 12).await;
    let part = &resp.responses[0].partitions[0];
    assert_eq!((part.high_watermark, part.last_stable_offset), (3, 0));
    let end = EndTxnRequest::default()
        .with_transactional_id(tid())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    assert_eq!(raw.call(&end, 3).await.error_code, NOT_COORDINATOR);
    broker.kill();

    std::fs::remove_file(&b).unwrap();
    std::fs::rename(&away, &b).unwrap();
    let broker = BrokkProcess::start_dirs(&[&a, &b], &overrides);
    let mut raw = Raw::connect(broker.addr()).await;
    assert_eq!(raw.call(&end, 3).await.error_code, 0);
    let resp = raw.call(&fetch_req("f", 0, 0, 0, 0).with_isolation_level(1), 12).await;
    let part = &resp.responses[0].partitions[0];
    assert_eq!((part.high_watermark, part.last_stable_offset), (4, 4));
    assert!(part.aborted_transactions.as_ref().is_none_or(|a| a.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unformatted_log_dir_beside_formatted_ones_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, away) = (root.path().join("a"), root.path().join("b"), root.path().join("b.away"));
    let broker = BrokkProcess::start_dirs(&[&a, &b], &[]);
    let mut raw = Raw::connect(broker.addr()).await;
    create_topic(&mut raw, "f", 2, &[]).await;
    assert_eq!(
        produce(&mut raw, "f", 1, batch(2, now_ms(), Compression::None)).await.0,
        0
    );
    broker.kill();
    // b's disk is not mounted: an empty directory in its place.
    std::fs::rename(&b, &away).unwrap();
    std::fs::create_dir(&b).unwrap();
    let log = BrokkProcess::refused_dirs(&[&a, &b]);
    assert!(log.contains("No `meta.properties` found in"), "{log}");
    assert!(!b.join("meta.properties").exists() && !a.join("f-1").exists());
    // Mounted again, everything is there.
    std::fs::remove_dir(&b).unwrap();
    std::fs::rename(&away, &b).unwrap();
    let broker = BrokkProcess::start_dirs(&[&a, &b], &[]);
    let mut raw = Raw::connect(broker.addr()).await;
    assert_eq!(values(&mut raw, "f", 1).await, (0, 2));
}
