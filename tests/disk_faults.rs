//! Injected storage errors (issue 14, defect 4), through faultfs (`tests/faultfs`) with brokk
//! as a child process:
//!
//! - EIO on a segment write: the produce gets KAFKA_STORAGE_ERROR, the partition goes
//!   offline (produce and fetch KAFKA_STORAGE_ERROR, as Kafka's partitions in a failed log
//!   dir) while the others keep serving; a restart recovers it with every acknowledged
//!   record;
//! - EIO from fsync with `log.flush.interval.messages=1`: the batch is not acknowledged and
//!   the partition goes offline, the others serve;
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
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;
const TOPIC: &str = "f";

struct Setup {
    fs: FaultFs,
    broker: Option<BrokkProcess>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Setup {
    async fn start(overrides: &[&str]) -> Self {
        let backing = tempfile::tempdir().unwrap();
        let mount = tempfile::tempdir().unwrap();
        let fs = FaultFs::mount(backing.path(), mount.path()).expect("mount faultfs (root and /dev/fuse needed)");
        let broker = BrokkProcess::start(&mount.path().join("data"), overrides);
        let mut raw = Raw::connect(broker.addr()).await;
        create_topic(&mut raw, TOPIC, 2, &[]).await;
        Self {
            fs,
            broker: Some(broker),
            _dirs: (backing, mount),
        }
    }

    /// A crash (SIGKILL) and a start on the same disk.
    fn restart(&mut self, overrides: &[&str]) {
        if let Some(old) = self.broker.take() {
            old.kill();
        }
        self.broker = Some(BrokkProcess::start(&self.fs.mountpoint.join("data"), overrides));
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.broker.as_ref().expect("running").addr()
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_error_takes_the_partition_offline_until_a_restart() {
    let mut s = Setup::start(&[]).await;
    let mut raw = Raw::connect(s.addr()).await;
    for i in 0..5 {
        assert_eq!(try_produce(&mut raw, TOPIC, 0, one(i, 100)).await, Some((0, i as i64)));
    }
    s.fs.fail(Op::Write, "/f-0/", libc::EIO, 1);
    let (code, _) = try_produce(&mut raw, TOPIC, 0, one(5, 100)).await.expect("answer");
    assert_eq!(code, KAFKA_STORAGE_ERROR);
    assert_eq!(s.fs.injected(), 1);
    // Offline for writes and reads, even with the fault gone; the other partition serves.
    assert_eq!(
        try_produce(&mut raw, TOPIC, 0, one(6, 100)).await.map(|r| r.0),
        Some(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(fetch_code(&mut raw, 0, 0).await.0, KAFKA_STORAGE_ERROR);
    assert_eq!(try_produce(&mut raw, TOPIC, 1, one(0, 100)).await, Some((0, 0)));
    assert_eq!(fetch_code(&mut raw, 1, 0).await, (0, 1));
    // A restart recovers the partition from the disk: everything acknowledged, and writable.
    s.restart(&[]);
    let mut raw = Raw::connect(s.addr()).await;
    assert_eq!(fetch_code(&mut raw, 0, 0).await, (0, 5));
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(7, 100)).await, Some((0, 5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_is_never_acknowledged() {
    let flush = ["log.flush.interval.messages=1"];
    let mut s = Setup::start(&flush).await;
    let mut raw = Raw::connect(s.addr()).await;
    for i in 0..3 {
        assert_eq!(try_produce(&mut raw, TOPIC, 0, one(i, 100)).await, Some((0, i as i64)));
    }
    s.fs.fail(Op::Fsync, "/f-0/", libc::EIO, 1);
    assert_eq!(
        try_produce(&mut raw, TOPIC, 0, one(3, 100)).await.map(|r| r.0),
        Some(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(s.fs.injected(), 1);
    assert_eq!(fetch_code(&mut raw, 0, 0).await.0, KAFKA_STORAGE_ERROR);
    assert_eq!(try_produce(&mut raw, TOPIC, 1, one(0, 100)).await, Some((0, 0)));
    s.restart(&flush);
    let mut raw = Raw::connect(s.addr()).await;
    let (code, n) = fetch_code(&mut raw, 0, 0).await;
    assert_eq!(code, 0);
    assert!(n >= 3, "the acknowledged records are there ({n})");
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(9, 100)).await.map(|r| r.0), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_one_write_and_fences_nothing() {
    let s = Setup::start(&[]).await;
    let mut raw = Raw::connect(s.addr()).await;
    s.fs.fail(Op::Allocate, "/f-0/", libc::ENOSPC, 1);
    // Blocks are allocated ahead of appends in chunks: produce until the allocation fails.
    let mut acked = 0;
    for i in 0..200 {
        match try_produce(&mut raw, TOPIC, 0, one(i, 64 << 10)).await.expect("answer") {
            (0, _) => acked += 1,
            (KAFKA_STORAGE_ERROR, _) => break,
            (code, _) => panic!("produce failed with {code}"),
        }
    }
    assert_eq!(s.fs.injected(), 1, "the allocation failed once");
    assert_eq!(try_produce(&mut raw, TOPIC, 0, one(999, 100)).await, Some((0, acked)));
    assert_eq!(fetch_code(&mut raw, 0, acked).await, (0, 1));
}
