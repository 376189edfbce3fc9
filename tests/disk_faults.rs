//! Injected storage errors (issue 14, defect 4), through faultfs (`tests/faultfs`) with brokk
//! as a child process:
//!
//! - EIO on a segment write: the produce gets KAFKA_STORAGE_ERROR and the log dir goes
//!   offline (its partitions answer produce, fetch, ListOffsets, OffsetForLeaderEpoch,
//!   DeleteRecords and DescribeProducers with KAFKA_STORAGE_ERROR, Metadata and
//!   DescribeTopicPartitions show them leaderless and offline, ElectLeaders finds no leader,
//!   DescribeLogDirs reports the dir failed, new partitions go elsewhere; all as Kafka 4.1
//!   answered with a log dir removed under it) while the other dir serves; a restart
//!   recovers it with every acknowledged record;
//! - EIO from fsync with `log.flush.interval.messages=1`: the batch is not acknowledged and
//!   the dir goes offline, the other serves;
//! - EIO in the metadata dir (the first of `log.dirs`): the broker halts (exit 1), as Kafka;
//! - ENOSPC from the block allocation: the produce gets KAFKA_STORAGE_ERROR, nothing goes
//!   offline, and the next produce succeeds.
//!
//! Needs root and /dev/fuse (as CI has).

mod common;
mod faultfs;

use bytes::Bytes;
use common::process::{BrokkProcess, try_produce};
use common::*;
use faultfs::{FaultFs, Op};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DescribeLogDirsRequest, DescribeProducersRequest, DescribeTopicPartitionsRequest,
    ElectLeadersRequest, FetchResponse, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
};
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;
const TOPIC: &str = "f";

/// brokk on a faultfs mount with two log dirs: `a` (the metadata dir) and `b`. Topic `f`'s
/// partition 0 is placed in `a`, partition 1 in `b` (the emptier dir, as Kafka places).
struct Setup {
    fs: FaultFs,
    broker: Option<BrokkProcess>,
    started: bool,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Setup {
    async fn start(overrides: &[&str]) -> Option<Self> {
        if !faultfs::available("disk_faults") {
            return None;
        }
        let backing = tempfile::tempdir().unwrap();
        let mount = tempfile::tempdir().unwrap();
        let fs = FaultFs::mount(backing.path(), mount.path()).expect("mount faultfs (root and /dev/fuse needed)");
        let mut s = Self {
            fs,
            broker: None,
            started: false,
            _dirs: (backing, mount),
        };
        s.restart(overrides);
        let mut raw = Raw::connect(s.addr()).await;
        create_topic(&mut raw, TOPIC, 2, &[]).await;
        assert_eq!(
            dirs_of(&mut raw).await,
            vec![(0, vec![0]), (0, vec![1])],
            "f-0 in a, f-1 in b"
        );
        Some(s)
    }

    /// A crash (SIGKILL, if running) and a start on the same disk, remounted: Linux reports
    /// a write-back error nobody has seen to the next syncfs on that filesystem, even from
    /// a new process, so without the remount brokk could find its start-up syncfs failing
    /// on an error injected before the crash.
    fn restart(&mut self, overrides: &[&str]) {
        if let Some(old) = self.broker.take() {
            old.kill();
        }
        if self.started {
            self.fs.remount().expect("remount");
        }
        self.started = true;
        let (a, b) = (self.fs.mountpoint.join("a"), self.fs.mountpoint.join("b"));
        self.broker = Some(BrokkProcess::start_dirs(&[&a, &b], overrides));
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.broker.as_ref().expect("running").addr()
    }
}

/// DescribeLogDirs: per dir (a, then b), its error and the partitions of `f` it holds.
async fn dirs_of(raw: &mut Raw) -> Vec<(i16, Vec<i32>)> {
    let mut r = DescribeLogDirsRequest::default();
    r.topics = None;
    let resp = raw.call(&r, 4).await;
    let mut out: Vec<(String, i16, Vec<i32>)> = resp
        .results
        .iter()
        .map(|d| {
            let parts = d
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == TOPIC)
                .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
                .collect();
            (d.log_dir.to_string(), d.error_code, parts)
        })
        .collect();
    out.sort();
    assert!(
        out.len() == 2 && out[0].0.ends_with("/a") && out[1].0.ends_with("/b"),
        "{out:?}"
    );
    out.into_iter().map(|(_, e, p)| (e, p)).collect()
}

fn one(i: usize, size: usize) -> Bytes {
    records::batch_of(1, now_ms(), Compression::None, move |_| {
        let mut v = format!("v{i}-").into_bytes();
        v.resize(size, b'x');
        v
    })
}

async fn fetch_code(raw: &mut Raw, partition: i32, offset: i64) -> (i16, usize) {
    let resp: FetchResponse = raw.call(&fetch_req(TOPIC, partition, offset, 0, 0), 12).await;
    let p = &resp.responses[0].partitions[0];
    let n = p.records.as_ref().map_or(0, |r| decode_records(r).len());
    (p.error_code, n)
}

/// How brokk describes and answers for partition `p` of `f`, API by API.
#[derive(Debug, PartialEq)]
struct View {
    /// Metadata v12: error, leader, leader epoch, ISR, offline replicas.
    metadata: (i16, i32, i32, Vec<i32>, Vec<i32>),
    /// DescribeTopicPartitions: error, leader, ISR, ELR, last known ELR, offline replicas.
    describe: (i16, i32, Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>),
    /// ListOffsets (latest), OffsetForLeaderEpoch, DescribeProducers, DeleteRecords (to 0).
    errors: [i16; 4],
    /// ElectLeaders: preferred, unclean.
    elections: [i16; 2],
}

fn ids(v: &[kafka_protocol::messages::BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

async fn view(raw: &mut Raw, p: i32) -> View {
    use kafka_protocol::messages::{
        delete_records_request as dr, describe_producers_request as dp, describe_topic_partitions_request as dt,
        elect_leaders_request as el, list_offsets_request as lo, offset_for_leader_epoch_request as ofle,
    };
    let md = raw.call(&MetadataRequest::default().with_topics(None), 12).await;
    let m = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
        .unwrap();
    let m = m.partitions.iter().find(|x| x.partition_index == p).unwrap();
    let d = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![dt::TopicRequest::default().with_name(topic(TOPIC))])
        .with_response_partition_limit(100);
    let d = raw.call(&d, 0).await;
    let d = d.topics[0].partitions.iter().find(|x| x.partition_index == p).unwrap();
    let l = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            lo::ListOffsetsTopic::default()
                .with_name(topic(TOPIC))
                .with_partitions(vec![
                    lo::ListOffsetsPartition::default()
                        .with_partition_index(p)
                        .with_timestamp(-1),
                ]),
        ]);
    let o = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            ofle::OffsetForLeaderTopic::default()
                .with_topic(topic(TOPIC))
                .with_partitions(vec![
                    ofle::OffsetForLeaderPartition::default()
                        .with_partition(p)
                        .with_current_leader_epoch(-1),
                ]),
        ]);
    let dpr = DescribeProducersRequest::default().with_topics(vec![
        dp::TopicRequest::default()
            .with_name(topic(TOPIC))
            .with_partition_indexes(vec![p]),
    ]);
    let del = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        dr::DeleteRecordsTopic::default()
            .with_name(topic(TOPIC))
            .with_partitions(vec![
                dr::DeleteRecordsPartition::default()
                    .with_partition_index(p)
                    .with_offset(0),
            ]),
    ]);
    let mut elections = [0; 2];
    for (kind, out) in elections.iter_mut().enumerate() {
        let e = ElectLeadersRequest::default()
            .with_election_type(kind as i8)
            .with_timeout_ms(5000)
            .with_topic_partitions(Some(vec![
                el::TopicPartitions::default()
                    .with_topic(topic(TOPIC))
                    .with_partitions(vec![p]),
            ]));
        *out = raw.call(&e, 2).await.replica_election_results[0].partition_result[0].error_code;
    }
    View {
        metadata: (
            m.error_code,
            m.leader_id.0,
            m.leader_epoch,
            ids(&m.isr_nodes),
            ids(&m.offline_replicas),
        ),
        describe: (
            d.error_code,
            d.leader_id.0,
            ids(&d.isr_nodes),
            ids(d.eligible_leader_replicas.as_deref().unwrap_or_default()),
            ids(d.last_known_elr.as_deref().unwrap_or_default()),
            ids(&d.offline_replicas),
        ),
        errors: [
            raw.call(&l, 7).await.topics[0].partitions[0].error_code,
            raw.call(&o, 4).await.topics[0].partitions[0].error_code,
            raw.call(&dpr, 0).await.topics[0].partitions[0].error_code,
            raw.call(&del, 2).await.topics[0].partitions[0].error_code,
        ],
        elections,
    }
}

/// A partition whose dir serves, at leader epoch `epoch`.
fn healthy(epoch: i32) -> View {
    View {
        metadata: (0, 0, epoch, vec![0], vec![]),
        describe: (0, 0, vec![0], vec![], vec![], vec![]),
        errors: [0; 4],
        // ELECTION_NOT_NEEDED
        elections: [84, 84],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_error_takes_the_log_dir_offline_until_a_restart() {
    let Some(mut s) = Setup::start(&[]).await else { return };
    let mut raw = Raw::connect(s.addr()).await;
    for i in 0..5 {
        assert_eq!(try_produce(&mut raw, TOPIC, 1, one(i, 100)).await, Some((0, i as i64)));
    }
    // Every write to f-1 fails from now on (the produce's, or a write-back of a page the
    // broker dirtied through a mapping, whichever comes first), until cleared.
    s.fs.fail(Op::Write, "/b/f-1/", libc::EIO, u32::MAX);
    let (code, _) = try_produce(&mut raw, TOPIC, 1, one(5, 100)).await.expect("answer");
    assert_eq!(code, KAFKA_STORAGE_ERROR);
    assert!(s.fs.injected() >= 1);
    s.fs.clear_faults();
    // Dir b is offline for writes and reads, even with the fault gone; dir a serves, and
    // new partitions go there.
    assert_eq!(
        try_produce(&mut raw, TOPIC, 1, one(6, 100)).await.map(|r| r.0),
        Some(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(fetch_code(&mut raw, 1, 0).await.0, KAFKA_STORAGE_ERROR);
    assert_eq!(
        dirs_of(&mut raw).await,
        vec![(0, vec![0]), (KAFKA_STORAGE_ERROR, vec![])]
    );
    // Every other API as Kafka 4.1 answered for a partition of its failed log dir.
    let before = view(&mut raw, 0).await;
    assert_eq!(before, healthy(before.metadata.2));
    let epoch_b = before.metadata.2;
    assert_eq!(
        view(&mut raw, 1).await,
        View {
            // LEADER_NOT_AVAILABLE, no leader, a new partition epoch, out of the ISR.
            metadata: (5, -1, epoch_b + 1, vec![], vec![0]),
            describe: (0, -1, vec![], vec![0], vec![0], vec![0]),
            errors: [KAFKA_STORAGE_ERROR; 4],
            // PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE
            elections: [80, 83],
        }
    );
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(0, 100)).await, Some((0, 0)));
    assert_eq!(fetch_code(&mut raw, 0, 0).await, (0, 1));
    create_topic(&mut raw, "g", 2, &[]).await;
    assert_eq!(try_produce(&mut raw, "g", 1, one(0, 100)).await, Some((0, 0)));
    // A restart recovers dir b from the disk: everything acknowledged, and writable.
    s.restart(&[]);
    let mut raw = Raw::connect(s.addr()).await;
    assert_eq!(dirs_of(&mut raw).await, vec![(0, vec![0]), (0, vec![1])]);
    assert_eq!(fetch_code(&mut raw, 1, 0).await, (0, 5));
    assert_eq!(try_produce(&mut raw, TOPIC, 1, one(7, 100)).await, Some((0, 5)));
    let after = view(&mut raw, 1).await;
    assert_eq!(after, healthy(after.metadata.2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_is_never_acknowledged() {
    let flush = ["log.flush.interval.messages=1"];
    let Some(mut s) = Setup::start(&flush).await else {
        return;
    };
    let mut raw = Raw::connect(s.addr()).await;
    for i in 0..3 {
        assert_eq!(try_produce(&mut raw, TOPIC, 1, one(i, 100)).await, Some((0, i as i64)));
    }
    s.fs.fail(Op::Fsync, "/b/f-1/", libc::EIO, 1);
    assert_eq!(
        try_produce(&mut raw, TOPIC, 1, one(3, 100)).await.map(|r| r.0),
        Some(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(s.fs.injected(), 1);
    assert_eq!(fetch_code(&mut raw, 1, 0).await.0, KAFKA_STORAGE_ERROR);
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(0, 100)).await, Some((0, 0)));
    s.restart(&flush);
    let mut raw = Raw::connect(s.addr()).await;
    let (code, n) = fetch_code(&mut raw, 1, 0).await;
    assert_eq!(code, 0);
    assert!(n >= 3, "the acknowledged records are there ({n})");
    assert_eq!(try_produce(&mut raw, TOPIC, 1, one(9, 100)).await.map(|r| r.0), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_metadata_dir_halts_the_broker_as_kafka() {
    let Some(mut s) = Setup::start(&[]).await else { return };
    let mut raw = Raw::connect(s.addr()).await;
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(0, 100)).await, Some((0, 0)));
    s.fs.fail(Op::Write, "/a/f-0/", libc::EIO, u32::MAX);
    assert_eq!(
        try_produce(&mut raw, TOPIC, 0, one(1, 100)).await,
        None,
        "the connection closes"
    );
    let broker = s.broker.take().expect("running");
    let status = tokio::task::spawn_blocking(move || broker.wait_exit());
    let status = tokio::time::timeout(TIMEOUT, status)
        .await
        .expect("exit in time")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    // Nothing acknowledged was lost.
    s.fs.clear_faults();
    s.restart(&[]);
    let mut raw = Raw::connect(s.addr()).await;
    assert_eq!(fetch_code(&mut raw, 0, 0).await.1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_one_write_and_fences_nothing() {
    let Some(s) = Setup::start(&[]).await else { return };
    let mut raw = Raw::connect(s.addr()).await;
    s.fs.fail(Op::Allocate, "/b/f-1/", libc::ENOSPC, 1);
    // Blocks are allocated ahead of appends in chunks: produce until the allocation fails.
    let mut acked = 0;
    for i in 0..200 {
        match try_produce(&mut raw, TOPIC, 1, one(i, 64 << 10)).await.expect("answer") {
            (0, _) => acked += 1,
            (KAFKA_STORAGE_ERROR, _) => break,
            (code, _) => panic!("produce failed with {code}"),
        }
    }
    assert_eq!(s.fs.injected(), 1, "the allocation failed once");
    assert_eq!(try_produce(&mut raw, TOPIC, 1, one(999, 100)).await, Some((0, acked)));
    assert_eq!(fetch_code(&mut raw, 1, acked).await, (0, 1));
    assert_eq!(dirs_of(&mut raw).await, vec![(0, vec![0]), (0, vec![1])]);
}
