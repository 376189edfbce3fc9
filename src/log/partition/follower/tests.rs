//! Follower appends and truncation: offsets and epochs kept, divergent tails cut at batch
//! boundaries across segments, readers of the cut bytes unharmed, and all of it as found
//! again after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;

use crate::log::record::batch::{self, BatchHeader, TRANSACTIONAL_BIT};
use crate::log::{LogConfig, LogError, LogManager, Partition, now_ms, test_fixture};

/// `n` records at `base` written under leader epoch `epoch` by producer `pid` (-1: none),
/// transactional or not.
fn leader_batch(base: i64, epoch: i32, n: usize, pid: i64, transactional: bool) -> Vec<u8> {
    let mut b = test_fixture::batch_of(n, now_ms(), Compression::None, |i| vec![i as u8; 40]).to_vec();
    if transactional {
        let attrs = i16::from_be_bytes([b[21], b[22]]) | TRANSACTIONAL_BIT;
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
    }
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&(if pid >= 0 { 0i16 } else { -1 }).to_be_bytes());
    b[53..57].copy_from_slice(&(if pid >= 0 { base as i32 } else { -1 }).to_be_bytes());
    batch::set_crc(&mut b);
    batch::set_base_offset(&mut b, base);
    batch::set_partition_leader_epoch(&mut b, epoch);
    b
}

fn marker(base: i64, epoch: i32, pid: i64, commit: bool) -> Vec<u8> {
    let mut b = batch::control_batch(pid, 0, commit, 0, now_ms());
    batch::set_base_offset(&mut b, base);
    batch::set_partition_leader_epoch(&mut b, epoch);
    b
}

/// A one-partition topic with 1 KiB segments (a few batches each).
fn small_partition(dir: &std::path::Path) -> (LogManager, Arc<Partition>) {
    let (logs, _) = LogManager::open(dir, LogConfig::default(), 0).unwrap();
    let cfg = BTreeMap::from([("segment.bytes".to_string(), "1024".to_string())]);
    logs.create_topic("t", 1, cfg).unwrap();
    let p = logs.partition("t", 0).unwrap();
    (logs, p)
}

/// Every batch's (base offset, last offset, partition leader epoch), read from the log
/// start (after the high watermark is moved to the log end, as a leader would).
fn batches(p: &Partition) -> Vec<(i64, i64, i32)> {
    p.set_high_watermark(p.log_end_offset());
    let mut out = vec![];
    let mut at = p.log_start_offset();
    while at < p.log_end_offset() {
        let Some(read) = p.read(at, 1 << 20, true, false).unwrap().records else {
            break;
        };
        for (_, h) in batch::iter_batches(&read) {
            out.push((h.base_offset(), h.last_offset(), h.partition_leader_epoch()));
            at = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn a_follower_keeps_the_leaders_offsets_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, p) = small_partition(dir.path());
    p.append_as_follower(&leader_batch(0, 3, 2, -1, false), now_ms())
        .unwrap();
    let info = p
        .append_as_follower(&leader_batch(2, 4, 6, -1, false), now_ms())
        .unwrap();
    assert_eq!((info.base_offset, info.last_offset), (2, 7));
    assert_eq!(p.log_end_offset(), 8);
    assert_eq!(
        p.high_watermark(),
        0,
        "a follower's high watermark is the leader's word"
    );
    assert_eq!(batches(&p), vec![(0, 1, 3), (2, 7, 4)]);
    let epochs: Vec<_> = p.epoch_entries().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(epochs, vec![(3, 0), (4, 2)]);
    // Below the log end, or past it (a gap): refused, nothing written.
    for base in [6, 9] {
        assert!(matches!(
            p.append_as_follower(&leader_batch(base, 4, 1, -1, false), now_ms()),
            Err(LogError::Invalid(_))
        ));
    }
    // A corrupt batch is refused too.
    let mut bad = leader_batch(8, 4, 1, -1, false);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(p.append_as_follower(&bad, now_ms()).is_err());
    assert_eq!(p.log_end_offset(), 8);
    // Never past the log end.
    p.set_high_watermark(6);
    assert_eq!(p.high_watermark(), 6);
    p.set_high_watermark(100);
    assert_eq!(p.high_watermark(), 8);
}

#[test]
fn truncation_cuts_whole_batches_across_segments_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, p) = small_partition(dir.path());
    let mut next = 0;
    for epoch in [1, 1, 1, 2, 2, 2, 3, 3] {
        let b = leader_batch(next, epoch, 4, -1, false);
        next = p.append_as_follower(&b, now_ms()).unwrap().last_offset + 1;
    }
    assert!(p.segment_count() >= 3, "several segments: {}", p.segment_count());
    p.set_high_watermark(next);
    // A reader holds bytes of the tail about to go.
    let held = p.read(26, 1 << 20, true, false).unwrap().records.unwrap();
    // 14 is inside the batch 12..15: that batch goes whole.
    assert!(p.truncate_to(14).unwrap());
    assert_eq!(p.log_end_offset(), 12);
    assert_eq!(p.high_watermark(), 12);
    assert_eq!(batches(&p), vec![(0, 3, 1), (4, 7, 1), (8, 11, 1)]);
    let epochs: Vec<_> = p.epoch_entries().iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(epochs, vec![(1, 0)]);
    assert_eq!(
        BatchHeader::parse_stored(&held).unwrap().base_offset(),
        24,
        "the reader's bytes are intact"
    );
    assert!(!p.truncate_to(20).unwrap(), "nothing past the end to cut");
    // The leader's log from the divergence point on.
    p.append_as_follower(&leader_batch(12, 4, 2, -1, false), now_ms())
        .unwrap();
    assert_eq!(batches(&p).last(), Some(&(12, 13, 4)));
    logs.shutdown().unwrap();
    drop((logs, p));
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    let p = logs.partition("t", 0).unwrap();
    assert_eq!(p.log_end_offset(), 14);
    assert_eq!(batches(&p), vec![(0, 3, 1), (4, 7, 1), (8, 11, 1), (12, 13, 4)]);
    let epochs: Vec<_> = p.epoch_entries().iter().map(|e| (e.epoch, e.start_offset)).collect();
    // (The single broker then leads the partition in a new epoch from the log end.)
    assert_eq!(epochs[..2], [(1, 0), (4, 12)]);
    let leftovers: Vec<_> = std::fs::read_dir(p.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".deleted") || n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cut_at_a_segment_base_and_a_crash_after_it_keep_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, p) = small_partition(dir.path());
    let mut next = 0;
    for _ in 0..6 {
        next = p
            .append_as_follower(&leader_batch(next, 1, 4, -1, false), now_ms())
            .unwrap()
            .last_offset
            + 1;
    }
    let second = p.segments()[1].base_offset();
    assert!(p.truncate_to(second).unwrap());
    assert_eq!(p.log_end_offset(), second);
    assert_eq!(p.segment_count(), 2, "the sealed first segment and an empty active one");
    next = p
        .append_as_follower(&leader_batch(second, 2, 4, -1, false), now_ms())
        .unwrap()
        .last_offset
        + 1;
    // No clean shutdown: recovery reads what the cut left.
    drop((logs, p));
    let (logs, r) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    assert!(!r.clean_shutdown);
    let p = logs.partition("t", 0).unwrap();
    assert_eq!(p.log_end_offset(), next);
    assert_eq!(batches(&p).last(), Some(&(second, second + 3, 2)));
}

#[test]
fn truncation_rebuilds_producer_state_and_the_aborted_index() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, p) = small_partition(dir.path());
    p.append_as_follower(&leader_batch(0, 1, 2, 7, true), now_ms()).unwrap(); // 0-1: txn of 7
    p.append_as_follower(&marker(2, 1, 7, false), now_ms()).unwrap(); // 2: abort
    p.append_as_follower(&leader_batch(3, 1, 2, 8, true), now_ms()).unwrap(); // 3-4: txn of 8
    p.append_as_follower(&marker(5, 1, 8, true), now_ms()).unwrap(); // 5: commit
    p.set_high_watermark(6);
    assert_eq!(p.last_stable_offset(), 6);
    assert_eq!(p.aborted_txns(0, 6).len(), 1);
    // The commit goes: producer 8's transaction is open again and holds the LSO at 3.
    p.truncate_to(5).unwrap();
    assert_eq!(p.log_end_offset(), 5);
    assert_eq!(p.open_transactions(), vec![(8, 0)]);
    p.set_high_watermark(5);
    assert_eq!(p.last_stable_offset(), 3);
    assert_eq!(p.aborted_txns(0, 6).len(), 1, "the abort below the cut stays indexed");
    // The abort goes too.
    p.truncate_to(2).unwrap();
    assert!(p.aborted_txns(0, 6).is_empty());
    assert_eq!(p.open_transactions(), vec![(7, 0)]);
}

#[test]
fn a_log_replaced_by_an_empty_one_starts_at_the_given_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, p) = small_partition(dir.path());
    for i in 0..5 {
        p.append_as_follower(&leader_batch(i * 4, 1, 4, -1, false), now_ms())
            .unwrap();
    }
    p.truncate_fully_and_start_at(500).unwrap();
    assert_eq!(
        (p.log_start_offset(), p.log_end_offset(), p.high_watermark()),
        (500, 500, 500)
    );
    assert!(p.epoch_entries().is_empty());
    p.append_as_follower(&leader_batch(500, 6, 2, -1, false), now_ms())
        .unwrap();
    // Cutting at or below the log start empties the log again.
    assert!(p.truncate_to(500).unwrap());
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (500, 500));
    p.append_as_follower(&leader_batch(500, 7, 2, -1, false), now_ms())
        .unwrap();
    logs.shutdown().unwrap();
    drop((logs, p));
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    let p = logs.partition("t", 0).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (500, 502));
    assert_eq!(batches(&p), vec![(500, 501, 7)]);
}

#[test]
fn a_cut_that_never_reached_its_swap_leaves_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, p) = small_partition(dir.path());
    p.append_as_follower(&leader_batch(0, 1, 4, -1, false), now_ms())
        .unwrap();
    // What a crash in the middle of a copy leaves behind.
    std::fs::write(p.dir().join("00000000000000000000.log.truncating"), b"partial").unwrap();
    let pdir = p.dir().to_path_buf();
    drop((logs, p));
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    let p = logs.partition("t", 0).unwrap();
    assert_eq!(p.log_end_offset(), 4);
    assert!(!pdir.join("00000000000000000000.log.truncating").exists());
}
