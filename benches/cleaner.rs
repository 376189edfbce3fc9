//! criterion bench of the log cleaner: one round over a compacted partition's dirty
//! segments (32 MiB of 1 KiB values over 1,000 keys, in 8 MiB segments), against a ceiling
//! measured in the same run: one sequential pass that reads the same segment bytes and
//! checks every batch's CRC32C, the least a cleaner must do (it reads the dirty section
//! twice: once to build the offset map, once to copy what it keeps).
//! Run: `cargo bench --bench cleaner`; compare the two MB/s figures it prints.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use brokk::log::cleaner::{CleanerConfig, LogCleaner};
use brokk::log::{LogConfig, LogManager, Partition};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::Compression;

const KEYS: usize = 1000;
const VALUE: usize = 1024;
const PER_BATCH: usize = 16;
const DIRTY: usize = 32 << 20;

#[path = "../tests/common/records.rs"]
#[allow(dead_code)]
mod records;

/// One batch of `PER_BATCH` records whose keys continue the cycle over `KEYS` from `first`.
fn batch(first: usize) -> Bytes {
    records::keyed_batch_of(
        PER_BATCH,
        brokk::log::now_ms(),
        Compression::None,
        |i| format!("key-{}", (first + i) % KEYS).into_bytes(),
        |_| vec![b'v'; VALUE],
    )
}

/// A fresh compacted partition holding `DIRTY` bytes in sealed segments.
struct Dirty {
    _dir: tempfile::TempDir,
    logs: Arc<LogManager>,
    partition: Arc<Partition>,
}

fn dirty_log() -> Dirty {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    let logs = Arc::new(logs);
    let cfg: BTreeMap<String, String> = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "8388608"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let partition = logs.create_topic("c", 1, cfg).unwrap().partitions[0].clone();
    let mut written = 0;
    let mut key = 0;
    // Past DIRTY by one segment, so the dirty bytes are all in sealed segments.
    while written < DIRTY + (8 << 20) {
        let b = batch(key);
        partition.append(&b, brokk::log::now_ms()).unwrap();
        written += b.len();
        key += PER_BATCH;
    }
    // The cleaner stops at what is not yet on disk (the background flusher's job in brokk).
    partition.flush(partition.log_end_offset()).unwrap();
    Dirty {
        _dir: dir,
        logs,
        partition,
    }
}

/// The ceiling: read every sealed byte once and check each batch's CRC.
fn read_and_crc(p: &Partition) -> usize {
    let mut offset = p.log_start_offset();
    let mut bytes = 0;
    while let Some(data) = p.read(offset, 1 << 20, true, false).unwrap().records {
        let mut next = offset;
        for (_, h) in brokk::log::record::batch::iter_batches(&data) {
            let checked = brokk::log::record::batch::BatchHeader::parse_stored(h.bytes()).unwrap();
            next = checked.last_offset() + 1;
        }
        bytes += data.len();
        if next <= offset || bytes >= DIRTY {
            break;
        }
        offset = next;
    }
    bytes
}

fn cleaner(c: &mut Criterion) {
    let mut g = c.benchmark_group("cleaner");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(DIRTY as u64));
    let sample = dirty_log();
    g.bench_function("ceiling: read + CRC32C of 32 MiB of segments", |b| {
        b.iter(|| black_box(read_and_crc(&sample.partition)))
    });
    drop(sample);
    g.bench_function("one cleaning round over 32 MiB (1,000 keys)", |b| {
        b.iter_batched(
            dirty_log,
            |d| {
                let cleaner = LogCleaner::new(d.logs.clone(), CleanerConfig::default());
                assert!(cleaner.clean_dirtiest(brokk::log::now_ms()), "nothing was cleaned");
                d
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, cleaner);
criterion_main!(benches);
