//! criterion bench of produce validation (Kafka's LogValidator, `log::validator`): one
//! batch of about 1 MiB (1 KiB and 100 B values, semi-random so the codecs work as on real
//! data), every codec, against ceilings measured in the same run: the CRC32C check that
//! produce did before the record walk existed, and for a compressed batch the codec's own
//! decompression of the same section into a sink (the least a walk over its records costs).
//! Run: `cargo bench --bench validate`; each group prints `walk` and its `ceiling`.

use std::hint::black_box;
use std::io::Read;

use brokk::log::TimestampType;
use brokk::log::record::batch::BatchHeader;
use brokk::log::record::validator::{Rules, check_batch, validate_records};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::Compression;

#[path = "../tests/common/records.rs"]
#[allow(dead_code)]
mod records;

const BATCH: usize = 1 << 20;

/// Values of `size` bytes drawn from a small alphabet (compressible about 2:1, like text).
fn value(i: usize, size: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijklmnop"[(x % 16) as usize]
        })
        .collect()
}

fn decompress(codec: i16, section: &[u8]) -> u64 {
    let mut r: Box<dyn Read + '_> = match codec {
        1 => Box::new(flate2::read::GzDecoder::new(section)),
        2 => return snappy_xerial(section),
        3 => Box::new(lz4::Decoder::new(section).unwrap()),
        4 => Box::new(zstd::stream::read::Decoder::new(section).unwrap()),
        _ => Box::new(section),
    };
    std::io::copy(&mut r, &mut std::io::sink()).unwrap()
}

/// Kafka's xerial framing: a 16-byte header, then `u32 length | raw block` chunks.
fn snappy_xerial(section: &[u8]) -> u64 {
    let mut rest = &section[16..];
    let mut out = vec![0u8; 64 << 10];
    let mut total = 0;
    while rest.len() >= 4 {
        let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let block = &rest[4..4 + n];
        let len = snap::raw::decompress_len(block).unwrap();
        out.resize(len, 0);
        total += snap::raw::Decoder::new().decompress(block, &mut out).unwrap() as u64;
        rest = &rest[4 + n..];
    }
    total
}

fn bench(c: &mut Criterion) {
    let rules = Rules {
        topic_partition: "bench-0",
        compacted: false,
        timestamp_type: TimestampType::CreateTime,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: 3_600_000,
        now_ms: brokk::log::now_ms(),
    };
    for size in [1024usize, 100] {
        let n = BATCH / (size + 20);
        for (codec, compression) in [
            (0i16, Compression::None),
            (1, Compression::Gzip),
            (2, Compression::Snappy),
            (3, Compression::Lz4),
            (4, Compression::Zstd),
        ] {
            let batch = records::batch_of(n, rules.now_ms, compression, |i| value(i, size));
            let h = BatchHeader::parse_unchecked(&batch).unwrap();
            let mut g = c.benchmark_group(format!("validate {size} B {compression:?}"));
            // Throughput in the records' uncompressed bytes.
            g.throughput(Throughput::Bytes((n * (size + 20)) as u64));
            g.bench_function("walk", |b| {
                b.iter(|| {
                    check_batch(&h, rules.topic_partition).unwrap();
                    black_box(validate_records(black_box(&h), &rules).unwrap())
                })
            });
            g.bench_function("ceiling", |b| {
                b.iter(|| {
                    h.check_crc().unwrap();
                    black_box(decompress(codec, &batch[61..]))
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
