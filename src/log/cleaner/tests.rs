//! The cleaner over real partitions: latest value per key with original offsets, tombstones
//! in two rounds, aborted transactions dropped, restarts, and an interrupted swap.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{CleanerConfig, LogCleaner};
use crate::log::{LogConfig, LogManager, Partition, now_ms};

/// One batch of `(key, value)` records (value `None`: a tombstone).
fn batch(records: &[(&str, Option<&str>)], compression: Compression) -> Bytes {
    let ts = now_ms();
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: ts,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &opts).unwrap();
    buf.freeze()
}

/// Every record from the log start: (offset, key, value).
fn read_all(p: &Partition) -> Vec<(i64, String, Option<String>)> {
    let mut out = vec![];
    let mut offset = p.log_start_offset();
    while let Some(data) = p.read(offset, 1 << 20, true, false).unwrap().records {
        let next = crate::log::record::batch::iter_batches(&data)
            .last()
            .map_or(offset, |(_, h)| h.last_offset() + 1);
        let mut buf = data.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for r in set.records.into_iter().filter(|r| r.offset >= offset) {
                let s = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    out
}

fn setup(dir: &std::path::Path, extra: &[(&str, &str)]) -> (Arc<LogManager>, Arc<Partition>) {
    let (m, _) = LogManager::open(dir, LogConfig::default(), 0).unwrap();
    let m = Arc::new(m);
    if m.topic("c").is_none() {
        let mut cfg = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), "400".to_string()),
            ("min.cleanable.dirty.ratio".to_string(), "0.01".to_string()),
        ]);
        for (k, v) in extra {
            cfg.insert(k.to_string(), v.to_string());
        }
        m.create_topic("c", 1, cfg).unwrap();
    }
    let p = m.partition("c", 0).unwrap();
    (m, p)
}

fn cleaner(m: &Arc<LogManager>) -> LogCleaner {
    LogCleaner::new(m.clone(), CleanerConfig::default())
}

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[]);
    let now = now_ms();
    // 12 rounds over 4 keys, alternating codecs; each batch rolls a segment.
    for round in 0..12 {
        let v: Vec<String> = (0..4).map(|k| format!("v{round}-{k}")).collect();
        let recs: Vec<(&str, Option<&str>)> = ["a", "b", "c", "d"]
            .iter()
            .zip(&v)
            .map(|(k, v)| (*k, Some(v.as_str())))
            .collect();
        let c = [Compression::None, Compression::Gzip, Compression::Zstd][round % 3];
        p.append(&batch(&recs, c), now).unwrap();
    }
    p.flush(p.log_end_offset()).unwrap();
    let before = read_all(&p);
    assert_eq!(before.len(), 48);
    let cleaner = cleaner(&m);
    assert!(cleaner.clean_dirtiest(now));
    let upper = cleaner.checkpoint("c", 0).unwrap();
    let after = read_all(&p);
    // Below the checkpoint: each key once, its latest value there, at its original offset.
    let latest: HashMap<&str, &(i64, String, Option<String>)> = before
        .iter()
        .filter(|r| r.0 < upper)
        .map(|r| (r.1.as_str(), r))
        .collect();
    let cleaned: Vec<_> = after.iter().filter(|r| r.0 < upper).collect();
    assert_eq!(cleaned.len(), latest.len(), "{cleaned:?}");
    for r in &cleaned {
        assert_eq!(latest[r.1.as_str()], *r);
    }
    // Above it nothing changed; offsets only increase; the log start stays.
    assert_eq!(
        after.iter().filter(|r| r.0 >= upper).collect::<Vec<_>>(),
        before.iter().filter(|r| r.0 >= upper).collect::<Vec<_>>()
    );
    assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(p.log_start_offset(), 0);
    // Every fetch below the end brings a record, even one starting at a segment the round
    // left with nothing but an empty batch header.
    for seg in p.segments().iter() {
        let got = p
            .read(seg.base_offset(), 1 << 20, true, false)
            .unwrap()
            .records
            .unwrap();
        let recs = crate::log::record::batch::iter_batches(&got)
            .map(|(_, h)| h.records_count())
            .sum::<i32>();
        assert!(recs > 0, "a fetch at {} returned no record", seg.base_offset());
    }
    // The merged segments' producer snapshots went with them: each one left is at a segment base.
    let bases: Vec<i64> = p.segments().iter().map(|s| s.base_offset()).collect();
    for o in crate::log::partition::producer_state::list_snapshots(p.dir()) {
        assert!(bases.contains(&o), "snapshot {o} of a merged segment is left");
    }
    assert!(!cleaner.clean_dirtiest(now), "nothing dirty is left");

    // A clean restart and a crash restart both read the same log.
    m.shutdown().unwrap();
    drop((m, p, cleaner));
    let (m, p) = setup(dir.path(), &[]);
    assert_eq!(read_all(&p), after);
    // Dropped without a shutdown: the next open has no clean-shutdown marker and recovers.
    drop((m, p));
    let (m, p) = setup(dir.path(), &[]);
    assert_eq!(read_all(&p), after, "after recovery");
    // Appends go on after compacted segments.
    p.append(&batch(&[("a", Some("new"))], Compression::None), now_ms())
        .unwrap();
    assert_eq!(read_all(&p).last().unwrap().2.as_deref(), Some("new"));
    drop(m);
}

#[test]
fn tombstones_go_after_their_delete_horizon_in_a_second_round() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[("delete.retention.ms", "0"), ("segment.bytes", "100")]);
    let now = now_ms();
    p.append(&batch(&[("a", Some("1")), ("b", Some("1"))], Compression::None), now)
        .unwrap();
    p.append(&batch(&[("a", None)], Compression::None), now).unwrap();
    p.append(&batch(&[("c", Some("1"))], Compression::None), now).unwrap();
    p.append(&batch(&[("d", Some("1"))], Compression::None), now).unwrap();
    p.flush(p.log_end_offset()).unwrap();
    let cleaner = cleaner(&m);
    assert!(cleaner.clean_dirtiest(now));
    let after = read_all(&p);
    assert!(
        after.contains(&(2, "a".into(), None)),
        "the tombstone stays in the first round: {after:?}"
    );
    assert!(
        !after.iter().any(|r| r.1 == "a" && r.2.is_some()),
        "a's older value is gone"
    );
    // More dirt, a second round past the horizon: the tombstone goes.
    p.append(&batch(&[("c", Some("2"))], Compression::None), now).unwrap();
    p.append(&batch(&[("e", Some("1"))], Compression::None), now).unwrap();
    p.flush(p.log_end_offset()).unwrap();
    assert!(cleaner.clean_dirtiest(now + 10));
    let after = read_all(&p);
    assert!(!after.iter().any(|r| r.1 == "a"), "tombstone removed: {after:?}");
    assert!(after.contains(&(1, "b".into(), Some("1".into()))), "{after:?}");
    drop(m);
}

#[test]
fn an_interrupted_swap_rolls_forward_and_leftover_cleaned_files_go() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[]);
    let now = now_ms();
    for round in 0..6 {
        let v = format!("v{round}");
        p.append(
            &batch(&[("k", Some(v.as_str())), ("x", Some(v.as_str()))], Compression::None),
            now,
        )
        .unwrap();
    }
    p.flush(p.log_end_offset()).unwrap();
    assert!(cleaner(&m).clean_dirtiest(now));
    let cleaned = read_all(&p);
    m.shutdown().unwrap();
    drop((m, p));
    // Pretend the crash came after the cleaned copy became `.swap` but before the old files
    // went: the old segment 0 is back under its name, the copy is `.swap`.
    let pdir = dir.path().join("c-0");
    let seg0 = |ext: &str| pdir.join(format!("{:020}.{ext}", 0));
    for ext in ["log", "index", "timeindex"] {
        std::fs::copy(seg0(ext), seg0(&format!("{ext}.swap"))).unwrap();
    }
    std::fs::write(seg0("log"), b"stale bytes of the old segment").unwrap();
    // And a half-written `.cleaned` file of a later group.
    std::fs::write(pdir.join(format!("{:020}.log.cleaned", 1_000)), b"partial").unwrap();
    let (m, p) = setup(dir.path(), &[]);
    assert_eq!(read_all(&p), cleaned);
    let leftovers: Vec<_> = std::fs::read_dir(&pdir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned") || n.ends_with(".deleted"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(m);
}

#[test]
fn aborted_transactions_are_dropped_and_never_shadow_committed_values() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[("segment.bytes", "100")]);
    let now = now_ms();
    p.append(&batch(&[("a", Some("committed"))], Compression::None), now)
        .unwrap();
    // Producer 7's transactional write of a, then an abort marker.
    let txn = {
        let r = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: 0,
            timestamp: now,
            key: Some(Bytes::from_static(b"a")),
            value: Some(Bytes::from_static(b"aborted")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, [r].iter(), &opts).unwrap();
        buf.freeze()
    };
    p.append(&txn, now).unwrap();
    p.append_marker(7, 0, 0, false, now).unwrap();
    for k in ["b", "c", "d"] {
        p.append(&batch(&[(k, Some("1"))], Compression::None), now).unwrap();
    }
    p.flush(p.log_end_offset()).unwrap();
    assert!(cleaner(&m).clean_dirtiest(now));
    let after = read_all(&p);
    let a: Vec<_> = after.iter().filter(|r| r.1 == "a").collect();
    assert_eq!(
        a,
        vec![&(0, "a".to_string(), Some("committed".to_string()))],
        "{after:?}"
    );
    drop(m);
}

#[test]
fn a_round_stops_when_the_topic_is_no_longer_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[("segment.bytes", "100")]);
    let now = now_ms();
    for i in 0..6 {
        let v = format!("v{i}");
        p.append(&batch(&[("k", Some(v.as_str()))], Compression::None), now)
            .unwrap();
    }
    p.flush(p.log_end_offset()).unwrap();
    let before = read_all(&p);
    let cfg = p.config();
    let a = super::clean::assess(&p, &cfg, None, now);
    assert!(a.eligible(&cfg));
    // The policy changes to delete after the round picked the partition.
    m.alter_topic_config("c", false, |cur| {
        let mut next = cur.clone();
        next.insert("cleanup.policy".into(), "delete".into());
        Ok(next)
    })
    .unwrap();
    let stats = super::clean::clean(&p, &cfg, &a, now, 1 << 20, &super::throttler::Throttler::new(f64::MAX)).unwrap();
    assert!(stats.aborted);
    assert_eq!(read_all(&p), before, "nothing was compacted");
    let leftovers = std::fs::read_dir(dir.path().join("c-0"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".cleaned"))
        .count();
    assert_eq!(leftovers, 0);
    drop(m);
}

#[test]
fn a_partition_another_thread_is_cleaning_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = setup(dir.path(), &[]);
    let now = now_ms();
    for round in 0..6 {
        let v = format!("v{round}");
        p.append(
            &batch(&[("a", Some(v.as_str())), ("b", Some(v.as_str()))], Compression::None),
            now,
        )
        .unwrap();
    }
    p.flush(p.log_end_offset()).unwrap();
    let cleaner = cleaner(&m);
    cleaner.in_progress.lock().unwrap().insert(("c".to_string(), 0));
    assert!(!cleaner.clean_dirtiest(now), "the only dirty partition is taken");
    cleaner.in_progress.lock().unwrap().clear();
    assert!(cleaner.clean_dirtiest(now));
    assert!(
        cleaner.in_progress.lock().unwrap().is_empty(),
        "released after the round"
    );
}
