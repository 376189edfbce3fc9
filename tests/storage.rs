//! Storage behaviour over TCP: segment roll, retention, clean restart, and crash recovery
//! after the tail of the log is cut or corrupted on disk.

mod common;

use std::path::Path;

use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::records::Compression;

fn log_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".log"))
        .collect();
    v.sort();
    v
}

/// Fetches everything from `offset` to the high watermark, batch by batch.
async fn read_all(raw: &mut Raw, topic: &str, mut offset: i64) -> Vec<(i64, Option<bytes::Bytes>)> {
    let mut out = vec![];
    for _ in 0..10_000 {
        let r = raw.call(&fetch_req(topic, 0, offset, 0, 1), 12).await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}");
        let recs = decode_records(p.records.as_ref().unwrap());
        let before = out.len();
        for (o, _, v, _) in recs.into_iter().filter(|r| r.0 >= offset) {
            out.push((o, v));
        }
        if out.len() == before {
            return out;
        }
        offset = out.last().unwrap().0 + 1;
    }
    panic!("fetch loop did not terminate");
}

#[tokio::test]
async fn segments_roll_and_reads_cross_them() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(
        &mut raw,
        "roll",
        1,
        &[("segment.bytes", "1024"), ("index.interval.bytes", "100")],
    )
    .await;
    for _ in 0..40 {
        assert_eq!(
            produce(&mut raw, "roll", 0, batch(5, now_ms(), Compression::None))
                .await
                .0,
            0
        );
    }
    let files = log_files(&b.data_dir().join("roll-0"));
    assert!(files.len() > 5, "rolled into many segments: {files:?}");
    // Sealed segments live on their mappings once flushed (the roll's background flush;
    // flushed here to be deterministic): only the active segment holds descriptors.
    b.broker().logs().partition("roll", 0).unwrap().flush(i64::MAX).unwrap();
    let pdir = b.data_dir().join("roll-0");
    let open_here = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.starts_with(&pdir))
        .count();
    assert!(open_here <= 3, "{open_here} descriptors open in {}", pdir.display());
    assert_eq!(files[0], "00000000000000000000.log");
    let all = read_all(&mut raw, "roll", 0).await;
    assert_eq!(all.len(), 200);
    assert!(
        all.iter().enumerate().all(|(i, (o, _))| *o == i as i64),
        "contiguous offsets across segments"
    );
    // Mid-log fetch through the sparse index.
    let some = read_all(&mut raw, "roll", 123).await;
    assert_eq!(some.first().unwrap().0, 123);
}

#[tokio::test]
async fn retention_by_bytes_deletes_old_segments_and_advances_log_start() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(
        &mut raw,
        "ret",
        1,
        &[("segment.bytes", "1024"), ("retention.bytes", "2048")],
    )
    .await;
    for _ in 0..40 {
        produce(&mut raw, "ret", 0, batch(5, now_ms(), Compression::None)).await;
    }
    let dir = b.data_dir().join("ret-0");
    let before = log_files(&dir).len();
    b.broker().logs().retention_pass(now_ms());
    let after = log_files(&dir);
    assert!(after.len() < before && after.len() <= 4, "{before} -> {after:?}");
    assert_ne!(after[0], "00000000000000000000.log");
    let start = b.broker().logs().partition("ret", 0).unwrap().log_start_offset();
    assert!(start > 0);
    assert_eq!(
        format!("{start:020}.log"),
        after[0],
        "log start is the first segment's base offset"
    );
    let r = raw.call(&fetch_req("ret", 0, 0, 0, 1), 12).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    // As Kafka: an errored partition's offsets are unknown; ListOffsets tells the start.
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (-1, -1, -1)
    );
    assert_eq!(read_all(&mut raw, "ret", start).await.len() as i64, 200 - start);
}

#[tokio::test]
async fn retention_by_time_removes_expired_data_even_in_the_active_segment() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "old", 1, &[("retention.ms", "60000")]).await;
    let hour_ago = now_ms() - 3_600_000;
    for _ in 0..3 {
        produce(&mut raw, "old", 0, batch(5, hour_ago, Compression::None)).await;
    }
    b.broker().logs().retention_pass(now_ms());
    let p = b.broker().logs().partition("old", 0).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (15, 15));
    assert_eq!(log_files(&b.data_dir().join("old-0")), vec![format!("{:020}.log", 15)]);
    // New data is kept and offsets continue.
    assert_eq!(
        produce(&mut raw, "old", 0, batch(1, now_ms(), Compression::None)).await,
        (0, 15)
    );
    b.broker().logs().retention_pass(now_ms());
    assert_eq!(p.log_start_offset(), 15);
}

#[tokio::test]
async fn clean_restart_keeps_data_topics_and_ids() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let id = create_topic(&mut raw, "keep", 2, &[("retention.ms", "-1")]).await;
    produce(&mut raw, "keep", 1, batch(7, now_ms(), Compression::Snappy)).await;
    drop(raw);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let t = b.broker().logs().topic("keep").unwrap();
    assert_eq!((t.id, t.partitions.len(), t.config().retention_ms), (id, 2, -1));
    let r = raw.call(&fetch_req("keep", 1, 0, 0, 1), 12).await;
    assert_eq!(
        decode_records(r.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        7
    );
    assert_eq!(
        produce(&mut raw, "keep", 1, batch(1, now_ms(), Compression::None)).await,
        (0, 7)
    );
}

#[tokio::test]
async fn recovery_truncates_a_cut_tail_and_offsets_continue() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "cut", 1, &[]).await;
    for _ in 0..10 {
        produce(&mut raw, "cut", 0, batch(3, now_ms(), Compression::None)).await;
    }
    drop(raw);
    // Cut the last batch in half.
    b.crash_and_damage("cut", |log| {
        let len = std::fs::metadata(log).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(log).unwrap();
        f.set_len(len - 20).unwrap();
    })
    .await;
    let mut raw = Raw::connect(b.addr).await;
    let all = read_all(&mut raw, "cut", 0).await;
    assert_eq!(all.len(), 27, "the torn batch is gone, the rest intact");
    assert_eq!(
        produce(&mut raw, "cut", 0, batch(1, now_ms(), Compression::None)).await,
        (0, 27)
    );
    assert_eq!(read_all(&mut raw, "cut", 0).await.len(), 28);
}

#[tokio::test]
async fn recovery_truncates_at_a_corrupt_batch() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "rot", 1, &[]).await;
    let mut sizes = vec![];
    for i in 0..6 {
        let bt = batch(2 + i, now_ms(), Compression::None);
        sizes.push(bt.len());
        produce(&mut raw, "rot", 0, bt).await;
    }
    drop(raw);
    // Flip a byte inside the 4th batch: it and everything after it must go.
    let pos: usize = sizes[..3].iter().sum::<usize>() + 70;
    b.crash_and_damage("rot", |log| {
        let mut data = std::fs::read(log).unwrap();
        data[pos] ^= 0xff;
        std::fs::write(log, data).unwrap();
    })
    .await;
    let mut raw = Raw::connect(b.addr).await;
    let all = read_all(&mut raw, "rot", 0).await;
    assert_eq!(all.len(), 2 + 3 + 4);
    assert_eq!(
        produce(&mut raw, "rot", 0, batch(1, now_ms(), Compression::None)).await,
        (0, 9)
    );
    // Garbage after the truncation point never comes back on a second crash.
    b.crash_and_damage("rot", |_| {}).await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(read_all(&mut raw, "rot", 0).await.len(), 10);
}

#[tokio::test]
async fn segment_ms_rolls_by_record_time_as_kafka() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "age", 1, &[("segment.ms", "1000")]).await;
    let old = now_ms() - 3_600_000;
    // Old but close-together timestamps: no roll per batch.
    for i in 0..3 {
        produce(&mut raw, "age", 0, batch(2, old + i * 10, Compression::None)).await;
    }
    assert_eq!(log_files(&b.data_dir().join("age-0")).len(), 1);
    // A batch more than segment.ms after the segment's first one rolls.
    produce(&mut raw, "age", 0, batch(2, old + 5_000, Compression::None)).await;
    assert_eq!(
        log_files(&b.data_dir().join("age-0")),
        vec![format!("{:020}.log", 0), format!("{:020}.log", 6)]
    );
}

/// With an fsync per batch, produces sent back to back on one connection are appended in
/// order, answered in order once durable, and a request of another kind waits its turn.
#[tokio::test]
async fn pipelined_fsync_produces_are_answered_in_order() {
    use bytes::Buf;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, ProduceResponse, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, HeaderVersion};

    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "piped", 2, &[("flush.messages", "1")]).await;
    let mut frames = vec![];
    for i in 0..12 {
        let acks = if i % 3 == 2 { 1 } else { -1 };
        frames.push(raw.frame(
            &produce_req("piped", i % 2, batch(3, now_ms(), Compression::None), acks),
            9,
        ));
    }
    frames.insert(6, raw.frame(&MetadataRequest::default(), 12));
    let all: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    raw.send_bytes(&all).await;
    let mut next = [0i64, 0];
    for n in 0..13 {
        let mut resp = raw.read_frame().await.expect("answered");
        let is_metadata = n == 6;
        let hv = if is_metadata {
            MetadataResponse::header_version(12)
        } else {
            ProduceResponse::header_version(9)
        };
        let header = ResponseHeader::decode(&mut resp, hv).unwrap();
        // Correlation ids: 1 was CreateTopics, 2-13 the produces, 14 the metadata (sent 7th).
        let corr = match n {
            0..6 => n + 2,
            6 => 14,
            _ => n + 1,
        };
        assert_eq!(header.correlation_id, corr, "answered in request order");
        if is_metadata {
            MetadataResponse::decode(&mut resp, 12).unwrap();
            continue;
        }
        let r = ProduceResponse::decode(&mut resp, 9).unwrap();
        assert_eq!(resp.remaining(), 0);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        let i = p.index as usize;
        assert_eq!(p.base_offset, next[i], "partition {i} appended in order");
        next[i] += 3;
    }
    assert_eq!(next, [18, 18]);
    for i in 0..2 {
        let p = b.broker().logs().partition("piped", i).unwrap();
        assert_eq!(p.recovery_point(), 18, "acknowledged data is fsynced");
    }
}
