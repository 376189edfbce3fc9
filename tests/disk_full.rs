//! A full disk (issue 14, defect 4), on a small tmpfs this test mounts (it needs root, as
//! CI has; elsewhere it says so and does nothing): a full data directory refuses writes
//! with KAFKA_STORAGE_ERROR without fencing anything, acknowledged data stays readable,
//! writes resume by themselves once space is freed (a deleted topic, the operator), and
//! brokk starts and serves reads on a disk that is completely full.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kafka_protocol::messages::{DeleteTopicsRequest, delete_topics_request::DeleteTopicState};
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: usize) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("disk_full: cannot mount a tmpfs here (not root?); the test does nothing");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` with a file until it is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let mut byte = [7u8];
    while f.write_all(&byte).is_ok() {
        byte[0] = 7;
    }
    path
}

fn value_batch(kib: usize) -> bytes::Bytes {
    records::batch_of(1, now_ms(), Compression::None, |_| vec![b'v'; kib << 10])
}

/// Produces 64 KiB batches to `topic` until the disk refuses one (bounded); returns how
/// many were acknowledged.
async fn produce_until_full(raw: &mut Raw, topic: &str) -> i64 {
    for n in 0..10_000 {
        let (err, _) = produce(raw, topic, 0, value_batch(64)).await;
        if err != 0 {
            assert_eq!(err, KAFKA_STORAGE_ERROR, "a full disk is KAFKA_STORAGE_ERROR");
            return n;
        }
    }
    panic!("the disk never filled");
}

async fn log_end(raw: &mut Raw, topic: &str) -> i64 {
    let r = raw.call(&fetch_req(topic, 0, 0, 0, 1), 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{topic} readable");
    p.high_watermark
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_resumes_and_brokk_starts_on_it() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let mut b = TestBroker::start_in(&fs.path(), &[]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "filler", 1, &[("segment.bytes", "1048576")]).await;
    create_topic(&mut raw, "keep", 1, &[]).await;
    create_topic(&mut raw, "spare", 1, &[]).await;
    assert_eq!(produce(&mut raw, "keep", 0, value_batch(1)).await.0, 0);
    for _ in 0..64 {
        assert_eq!(produce(&mut raw, "spare", 0, value_batch(64)).await.0, 0);
    }

    let acked = produce_until_full(&mut raw, "filler").await;
    assert!(acked > 10, "wrote {acked} batches before the disk filled");
    eprintln!("disk_full: {acked} batches of 64 KiB acknowledged before the disk filled");
    // Everything acknowledged is readable, and the refusal fenced nothing: a retry
    // still gets the retriable error, not a fenced partition's.
    assert_eq!(log_end(&mut raw, "filler").await, acked);
    assert_eq!(log_end(&mut raw, "keep").await, 1);
    assert_eq!(
        produce(&mut raw, "filler", 0, value_batch(64)).await.0,
        KAFKA_STORAGE_ERROR
    );

    // Deleting another topic frees its space: writes resume without a restart, to the
    // very partition that hit the full disk (it was not fenced).
    let mut del = DeleteTopicsRequest::default();
    del.topics = vec![DeleteTopicState::default().with_name(Some(topic("spare")))];
    del.timeout_ms = 5000;
    let resp = raw.call(&del, 6).await;
    assert_eq!(resp.responses[0].error_code, 0);
    let (err, offset) = produce(&mut raw, "filler", 0, value_batch(64)).await;
    assert_eq!((err, offset), (0, acked), "writes resume once space is freed");
    let (err, offset) = produce(&mut raw, "keep", 0, value_batch(64)).await;
    assert_eq!((err, offset), (0, 1));

    // A completely full disk at start: brokk starts and serves what it has.
    b.stop().await;
    let filler = fill(&fs.path());
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(log_end(&mut raw, "keep").await, 2, "reads are served on a full disk");
    // The operator frees space: writes go on, no restart.
    std::fs::remove_file(filler).unwrap();
    let (err, offset) = produce(&mut raw, "keep", 0, value_batch(64)).await;
    assert_eq!((err, offset), (0, 2));
    b.stop().await;
}
