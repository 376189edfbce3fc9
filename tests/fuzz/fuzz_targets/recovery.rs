//! Start-up recovery over mutated data-directory files: segments, offset and time indexes,
//! transaction indexes, producer snapshots, leader-epoch and offset checkpoints, partition
//! and topic metadata, `meta.properties`, `quorum-state`.
//!
//! A template directory is made once: one topic whose small segments hold plain,
//! idempotent, compressed and transactional batches (an abort, a commit, one transaction
//! left open), closed cleanly. Each input picks clean or crashed start (the clean-shutdown
//! marker kept or removed) and replaces or truncates some of the template's files; then
//! `LogManager::open` runs over the result. Whatever the bytes:
//!
//! - no panic;
//! - the open may fail only when a metadata or checkpoint file was changed (Kafka refuses
//!   to load such a directory too); damaged segments, indexes, transaction indexes and
//!   snapshots are recovered, never a reason to refuse the start;
//! - every batch served from the log start to the high watermark has offsets that move
//!   forward, and after a crashed start those from the segment holding the recovery point
//!   on have a right CRC (segments below the recovery point, and all of them after a clean
//!   shutdown, are trusted unscanned, as Kafka trusts them);
//! - when no segment and no checkpoint or metadata file was changed, the batches served are
//!   exactly the template's: damaged indexes or snapshots never drop or add a record;
//! - the partitions take an append afterwards without a panic.
//!
//! Input format: byte 0 bit 0 keeps the clean-shutdown marker, bit 1 keeps the template's
//! recovery point (the log end; otherwise it is 0 and a crashed start scans everything); then entries of
//! `[file u8][len u16 LE][bytes]`. `file` is an index into the template's sorted file list
//! (modulo its length); with bit 7 set the file is truncated to `len` bytes (no bytes
//! follow), otherwise its content becomes the `len` bytes that follow.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use brokk::log::record::batch;
use brokk::log::{LogConfig, LogManager};
use kafka_protocol::records::Compression;
use libfuzzer_sys::fuzz_target;

#[path = "../../common/records.rs"]
#[allow(dead_code)]
mod fixture;

const MARKER: &str = ".kafka_cleanshutdown";
const RECOVERY_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Files left out of the template: the lock and the disk-full reserve (start-up makes both).
const SKIPPED: [&str; 2] = [".lock", ".brokk-reserve"];

struct Template {
    /// Relative path and content of every file, sorted by path, the marker excluded.
    files: Vec<(PathBuf, Vec<u8>)>,
    /// The template's partition t-0, as one buffer of stored batches.
    log: Vec<u8>,
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = scratch_root().join(format!(
        "brokk-fuzz-recovery-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool, compression: Compression) -> Vec<u8> {
    let mut b = fixture::batch_of(n, 1_700_000_000_000, compression, |i| vec![b'v'; 20 + i]).to_vec();
    if txn {
        let attrs = i16::from_be_bytes([b[21], b[22]]) | batch::TRANSACTIONAL_BIT;
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
    }
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    batch::set_crc(&mut b);
    b
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read template dir").flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).expect("under root").to_path_buf();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            collect(root, &path, out);
        } else if !SKIPPED.contains(&name.as_str()) && name != MARKER {
            out.push((rel, std::fs::read(&path).expect("read template file")));
        }
    }
}

/// Every batch the partition serves from its log start to its high watermark; `Err` with
/// what was wrong. Batches at or above `check_crc_from` must have a right CRC.
fn read_all(p: &brokk::log::Partition, check_crc_from: i64) -> Result<Vec<u8>, String> {
    let (mut offset, hw) = (p.log_start_offset(), p.high_watermark());
    let mut out = vec![];
    for _ in 0..10_000 {
        if offset >= hw {
            return Ok(out);
        }
        let data = p.read(offset, 1 << 20, true, false).map_err(|e| format!("read at {offset}: {e}"))?;
        let Some(bytes) = data.records else {
            return Err(format!("nothing served at {offset} below the high watermark {hw}"));
        };
        let mut next = offset;
        for (_, h) in batch::iter_batches(&bytes) {
            if h.base_offset() >= check_crc_from {
                h.check_crc().map_err(|e| format!("batch at {}: {e}", h.base_offset()))?;
            }
            if h.last_offset() < next {
                return Err(format!("batch {}..={} served for offset {next}", h.base_offset(), h.last_offset()));
            }
            next = h.last_offset() + 1;
        }
        if next == offset {
            return Err(format!("no whole batch served at {offset}"));
        }
        out.extend_from_slice(&bytes);
        offset = next;
    }
    Err("the read did not reach the high watermark".into())
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = fresh_dir();
        let (logs, _) = LogManager::open(&dir, LogConfig::default(), 0).expect("open template dir");
        let overrides = BTreeMap::from([
            ("segment.bytes".to_string(), "700".to_string()),
            ("index.interval.bytes".to_string(), "1".to_string()),
        ]);
        logs.create_topic("t", 1, overrides).expect("create topic");
        let p = logs.partition("t", 0).expect("partition");
        let now = brokk::log::now_ms();
        let none = Compression::None;
        let appends = [
            batch(-1, -1, -1, 3, false, none),
            batch(5, 0, 0, 2, false, none),
            batch(7, 0, 0, 3, true, none),
            batch(-1, -1, -1, 4, false, Compression::Gzip),
            batch(5, 0, 2, 2, false, Compression::Zstd),
            batch(8, 0, 0, 1, true, none),
        ];
        for b in &appends[..3] {
            p.append(b, now).expect("append");
        }
        p.append_marker(7, 0, 0, false, now).expect("abort");
        for b in &appends[3..] {
            p.append(b, now).expect("append");
        }
        p.append_marker(8, 0, 0, true, now).expect("commit");
        p.append(&batch(9, 0, 0, 2, true, none), now).expect("append");
        p.append(&batch(-1, -1, -1, 2, false, Compression::Lz4), now).expect("append");
        assert!(p.segment_count() >= 3, "the template spans several segments");
        let log = read_all(&p, 0).expect("template reads back");
        drop(p);
        logs.shutdown().expect("clean shutdown");
        drop(logs);
        let mut files = vec![];
        collect(&dir, &dir, &mut files);
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(out) = std::env::var_os("BROKK_FUZZ_WRITE_SEEDS") {
            write_seeds(Path::new(&out), &files);
        }
        Template { files, log }
    })
}

/// Seeds for the corpus (`BROKK_FUZZ_WRITE_SEEDS=<dir>`): no change, clean and crashed,
/// and each template file rewritten with its own content (a start for the mutator).
fn write_seeds(out: &Path, files: &[(PathBuf, Vec<u8>)]) {
    std::fs::create_dir_all(out).expect("seed dir");
    std::fs::write(out.join("none-crashed"), [0u8]).expect("seed");
    std::fs::write(out.join("none-clean"), [1u8]).expect("seed");
    for (i, (rel, content)) in files.iter().enumerate() {
        let name = rel.to_string_lossy().replace('/', "_");
        for flags in [0u8, 1] {
            let mut seed = vec![flags, i as u8];
            seed.extend_from_slice(&(content.len().min(u16::MAX as usize) as u16).to_le_bytes());
            seed.extend_from_slice(&content[..content.len().min(u16::MAX as usize)]);
            std::fs::write(out.join(format!("{name}-{flags}")), seed).expect("seed");
        }
    }
}

/// A segment below `scanned_from` (trusted unscanned) was changed.
fn unscanned_log_changed(changed: &[&Path], scanned_from: i64) -> bool {
    changed.iter().any(|p| {
        p.extension().is_some_and(|e| e == "log")
            && p.file_stem().and_then(|s| s.to_str()?.parse::<i64>().ok()).is_some_and(|b| b < scanned_from)
    })
}

/// A file whose damage may make the open fail (metadata and checkpoints, as Kafka).
fn is_metadata(rel: &Path) -> bool {
    let name = rel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    !(name.ends_with(".log")
        || name.ends_with(".index")
        || name.ends_with(".timeindex")
        || name.ends_with(".txnindex")
        || name.ends_with(".snapshot"))
}

fuzz_target!(|data: &[u8]| {
    let t = template();
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let mut files: BTreeMap<&Path, Vec<u8>> = t.files.iter().map(|(p, c)| (p.as_path(), c.clone())).collect();
    let mut changed: Vec<&Path> = vec![];
    if flags & 2 == 0 {
        // A crash before any flush: recovery scans every segment.
        files.insert(Path::new(RECOVERY_CHECKPOINT), b"0\n1\nt 0 0\n".to_vec());
    }
    while rest.len() >= 3 {
        let (kind, len) = (rest[0], u16::from_le_bytes([rest[1], rest[2]]) as usize);
        rest = &rest[3..];
        let rel = t.files[(kind & 0x7f) as usize % t.files.len()].0.as_path();
        let content = files.get_mut(rel).expect("template file");
        if kind & 0x80 != 0 {
            content.truncate(len);
        } else {
            let take = len.min(rest.len());
            *content = rest[..take].to_vec();
            rest = &rest[take..];
        }
        if *content != t.files.iter().find(|(p, _)| p == rel).expect("template file").1 {
            changed.push(rel);
        }
    }
    let clean = flags & 1 == 1;
    let dir = fresh_dir();
    for (rel, content) in &files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write file");
    }
    if clean {
        std::fs::write(dir.join(MARKER), b"").expect("write marker");
    }
    let recovery_points = brokk::log::checkpoint::read_offset_checkpoint(&dir.join(RECOVERY_CHECKPOINT));
    let segment_bases: Vec<i64> = files
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
        .collect();
    let metadata_changed = changed.iter().any(|p| is_metadata(p));
    let log_changed = changed.iter().any(|p| p.extension().is_some_and(|e| e == "log"));
    match LogManager::open(&dir, LogConfig::default(), 0) {
        Err(e) => assert!(
            metadata_changed,
            "recovery refused a directory whose metadata is intact ({changed:?} changed): {e}"
        ),
        Ok((logs, _)) => {
            for topic in logs.topics() {
                for p in &topic.partitions {
                    // A crashed start scans the segments from the one holding the recovery
                    // point; after a clean shutdown none is scanned (Kafka trusts both).
                    let rp = recovery_points.get(&(topic.name.to_string(), p.index())).copied().unwrap_or(0);
                    let scanned_from = segment_bases.iter().copied().filter(|b| *b <= rp).max().unwrap_or(0);
                    let read = read_all(p, if clean { i64::MAX } else { scanned_from });
                    if !metadata_changed && !log_changed {
                        let read = read.unwrap_or_else(|e| panic!("{changed:?} changed: {e}"));
                        assert!(read == t.log, "{changed:?} changed: the log served differs from the template's");
                    } else if !clean && !unscanned_log_changed(&changed, scanned_from) {
                        read.unwrap_or_else(|e| panic!("{changed:?} changed, crashed start: {e}"));
                    }
                    let _ = p.append(&batch(-1, -1, -1, 1, false, Compression::None), brokk::log::now_ms());
                    let _ = p.append(&batch(5, 0, 4, 1, false, Compression::None), brokk::log::now_ms());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
});
