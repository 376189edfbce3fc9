//! criterion micro-benches of the storage and codec hot paths: batch validation + append,
//! offset index lookup, the fetch read path, and request decode / response encode.
//! Run: `cargo bench --bench log`.

use std::collections::BTreeMap;
use std::hint::black_box;

use brokk::log::segment::index::OffsetIndex;
use brokk::log::{LogConfig, LogManager};
use brokk::server::codec::encode_fetch_response;
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::{FetchResponse, ProduceRequest, TopicName, fetch_response, produce_request};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::Compression;

#[path = "../tests/common/records.rs"]
#[allow(dead_code)]
mod records;

/// One uncompressed batch of `n` records of `size` bytes each.
fn batch(n: usize, size: usize) -> Bytes {
    records::batch_of(n, brokk::log::now_ms(), Compression::None, |_| vec![b'x'; size])
}

fn storage(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    // Bounded disk use: 64 MiB segments, at most ~256 MiB kept.
    let cfg: BTreeMap<String, String> = [("segment.bytes", "67108864"), ("retention.bytes", "268435456")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    let topic = logs.create_topic("bench", 1, cfg).unwrap();
    let p = topic.partitions[0].clone();
    let b = batch(16, 1024);
    let mut g = c.benchmark_group("storage");
    g.throughput(Throughput::Bytes(b.len() as u64));
    let mut n = 0u64;
    g.bench_function("validate+append 16x1KiB batch", |bench| {
        bench.iter(|| {
            let now = brokk::log::now_ms();
            p.validate(&b, now).unwrap();
            black_box(p.append(&b, now).unwrap());
            n += 1;
            if n.is_multiple_of(4096) {
                logs.retention_pass(now);
            }
        })
    });
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    let mut i = 0i64;
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("fetch read 1 MiB at a random offset", |bench| {
        bench.iter(|| {
            i = (i * 7919 + 104_729) % (end - start);
            black_box(p.read(start + i, 1 << 20, true, false).unwrap());
        })
    });
    g.finish();

    let idx_dir = tempfile::tempdir().unwrap();
    let idx = OffsetIndex::open(&idx_dir.path().join("0.index"), 0, 8 * 200_000, true).unwrap();
    for n in 0..200_000i64 {
        idx.append(n * 10, (n * 4096) as u32).unwrap();
    }
    let mut k = 0i64;
    c.bench_function("offset index lookup (200k entries)", |bench| {
        bench.iter(|| {
            k = (k * 6364136223846793005 + 1442695040888963407).rem_euclid(2_000_000);
            black_box(idx.lookup(k))
        })
    });
}

fn codec(c: &mut Criterion) {
    let mut pd = produce_request::PartitionProduceData::default();
    pd.records = Some(batch(16, 1024));
    let mut td = produce_request::TopicProduceData::default();
    td.name = TopicName(StrBytes::from_static_str("bench"));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.topic_data = vec![td];
    let mut buf = BytesMut::new();
    req.encode(&mut buf, 9).unwrap();
    let frame = buf.freeze();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("decode Produce v9 (16 KiB batch)", |bench| {
        bench.iter(|| black_box(ProduceRequest::decode(&mut frame.clone(), 9).unwrap()))
    });
    g.finish();

    // A Fetch response carrying 1 MiB of records, encoded as brokk sends it (the records
    // shared as their own part) and copied into one buffer, as kafka-protocol alone would.
    let mut p = fetch_response::PartitionData::default();
    p.records = Some(Bytes::from(vec![7u8; 1 << 20]));
    let mut t = fetch_response::FetchableTopicResponse::default();
    t.topic = TopicName(StrBytes::from_static_str("bench"));
    t.partitions = vec![p];
    let mut resp = FetchResponse::default();
    resp.responses = vec![t];
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("encode Fetch v12 response, 1 MiB records shared", |bench| {
        bench.iter(|| black_box(encode_fetch_response(1, 12, &resp).unwrap()))
    });
    g.bench_function("encode Fetch v12 response, 1 MiB records copied", |bench| {
        bench.iter(|| {
            let mut buf = BytesMut::with_capacity(resp.compute_size(12).unwrap());
            resp.encode(&mut buf, 12).unwrap();
            black_box(buf)
        })
    });
    g.finish();
}

criterion_group!(benches, storage, codec);
criterion_main!(benches);
