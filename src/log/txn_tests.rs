//! Transactions at the partition level: open transactions hold the last stable offset
//! back, markers end them, aborts are indexed for read_committed fetches, and all of it is
//! rebuilt after a clean restart and after a crash.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;

use super::record::batch::BatchHeader;
use super::test_fixture as fixture;
use super::{LogConfig, LogError, LogManager};

/// `n` records from producer `pid`/`epoch` at sequence `seq`, transactional or not.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Vec<u8> {
    let mut b = fixture::batch_of(n, super::now_ms(), Compression::None, |i| vec![i as u8]).to_vec();
    if transactional {
        let attrs = i16::from_be_bytes([b[21], b[22]]) | super::record::batch::TRANSACTIONAL_BIT;
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
    }
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn open(dir: &std::path::Path) -> LogManager {
    LogManager::open(dir, LogConfig::default(), 0).unwrap().0
}

#[test]
fn open_transactions_bound_the_lso_and_aborts_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    logs.create_topic("t", 1, BTreeMap::new()).unwrap();
    let p = logs.partition("t", 0).unwrap();
    let now = super::now_ms();
    p.append(&batch(-1, -1, -1, 2, false), now).unwrap(); // offsets 0-1, plain
    p.append(&batch(7, 0, 0, 3, true), now).unwrap(); // 2-4, txn of 7
    p.append(&batch(8, 0, 0, 1, true), now).unwrap(); // 5, txn of 8
    assert_eq!((p.high_watermark(), p.last_stable_offset()), (6, 2));
    // A plain write from a producer inside a transaction is refused.
    assert!(matches!(
        p.append(&batch(7, 0, 3, 1, false), now),
        Err(LogError::InvalidTxnState(_))
    ));
    // 7 aborts: the LSO moves to 8's transaction; the abort is indexed.
    assert_eq!(p.append_marker(7, 0, 0, false, now).unwrap().base_offset, 6);
    assert_eq!(p.last_stable_offset(), 5);
    // A stale epoch cannot end a transaction.
    assert!(matches!(
        p.append_marker(8, -1, 0, true, now),
        Err(LogError::InvalidProducerEpoch(_))
    ));
    assert_eq!(p.append_marker(8, 0, 0, true, now).unwrap().base_offset, 7);
    assert_eq!(p.last_stable_offset(), 8);
    let aborted = p.aborted_txns(0, 8);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset),
        (7, 2, 6)
    );
    assert!(p.aborted_txns(7, 8).is_empty());
    // read_committed stops at the LSO while a transaction is open.
    p.append(&batch(9, 0, 0, 1, true), now).unwrap(); // 8, open
    let committed = p.read(0, 1 << 20, true, true).unwrap();
    let last = super::record::batch::iter_batches(committed.records.as_ref().unwrap())
        .last()
        .map(|(_, h)| h.last_offset())
        .unwrap();
    assert_eq!(last, 7);
    assert_eq!(committed.last_stable_offset, 8);
    // The markers are control batches as Kafka writes them.
    let all = p.read(6, 1 << 20, true, false).unwrap().records.unwrap();
    let (_, first) = super::record::batch::iter_batches(&all).next().unwrap();
    assert!(first.is_control() && first.is_transactional());
    assert_eq!(super::record::batch::marker_is_commit(&first), Some(false));
    drop(p);
    // Clean restart (snapshot) keeps the open transaction and the index.
    logs.shutdown().unwrap();
    drop(logs);
    let logs = open(dir.path());
    let p = logs.partition("t", 0).unwrap();
    assert_eq!((p.high_watermark(), p.last_stable_offset()), (9, 8));
    assert_eq!(p.aborted_txns(0, 9).len(), 1);
    assert_eq!(p.append_marker(9, 0, 0, false, now).unwrap().base_offset, 9);
    assert_eq!(p.last_stable_offset(), 10);
    drop(p);
    drop(logs); // a crash: no snapshot at the log end, no clean marker
    for e in std::fs::read_dir(dir.path().join("t-0")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".snapshot") || name.ends_with(".txnindex") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let logs = open(dir.path());
    let p = logs.partition("t", 0).unwrap();
    assert_eq!((p.high_watermark(), p.last_stable_offset()), (10, 10));
    let mut ids: Vec<i64> = p.aborted_txns(0, 10).iter().map(|t| t.producer_id).collect();
    ids.sort();
    assert_eq!(ids, vec![7, 9], "aborts re-indexed from the markers");
    let _ = BatchHeader::parse_validated(&batch(1, 0, 0, 1, true)).unwrap();
}
