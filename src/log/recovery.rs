//! Opening a partition directory at start-up, with crash recovery.
//!
//! Owns: discovering segment files, deciding which segments to scan, truncating a torn
//! tail, and dropping segments that follow a truncation point. After a clean shutdown
//! (marker present) nothing is scanned. Otherwise every segment from the one holding the
//! recovery point onward is rescanned (`Segment::recover`): CRC32C, framing and offset
//! order are checked, the first bad byte and everything after it is cut, indexes rebuilt.

use std::path::Path;
use std::sync::Arc;

use super::segment::Segment;
use super::{LogConfig, LogError};

/// What recovery did to one partition (for the start-up log line and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments_scanned: usize,
    pub torn_bytes: usize,
    pub segments_dropped: usize,
}

/// One past the last offset of the batches in the log file at `path` (its base when empty).
fn end_offset_of(path: &Path, base: i64) -> Result<i64, LogError> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    let len = f.metadata().map_err(|e| LogError::io(path, e))?.len();
    let (mut pos, mut end) = (0u64, base);
    let mut head = [0u8; super::record::batch::HEADER_LEN];
    while pos + head.len() as u64 <= len {
        f.read_exact_at(&mut head, pos).map_err(|e| LogError::io(path, e))?;
        let n = match super::record::batch::BatchHeader::frame_len(&head) {
            Some(Ok(n)) => n as u64,
            _ => break,
        };
        let base_offset = i64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let delta = i32::from_be_bytes(head[23..27].try_into().unwrap_or_default());
        end = base_offset + delta as i64 + 1;
        pos += n;
    }
    Ok(end)
}

/// Finishes or rolls back a log-cleaner swap interrupted by a crash (Kafka's LogLoader):
/// `.deleted` and `.cleaned` files go, and so do `.swap` files at or above the lowest
/// `.cleaned` one (their group was not completely renamed: roll back). The remaining
/// `.swap` segments are complete and fsynced: the old segments they cover are removed and
/// they take their final names (roll forward).
fn complete_swaps(dir: &Path) -> Result<(), LogError> {
    let mut swaps = vec![];
    let mut min_cleaned = i64::MAX;
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else { continue };
        if ext.ends_with(".deleted") {
            std::fs::remove_file(entry.path()).map_err(|e| LogError::io(&entry.path(), e))?;
        } else if ext.ends_with(super::partition::TRUNCATING) {
            // A cut that never reached its swap: the old segment is whole.
            std::fs::remove_file(entry.path()).map_err(|e| LogError::io(&entry.path(), e))?;
        } else if ext.ends_with(".cleaned") {
            min_cleaned = min_cleaned.min(base);
            std::fs::remove_file(entry.path()).map_err(|e| LogError::io(&entry.path(), e))?;
        } else if let Some(plain) = ext.strip_suffix(".swap") {
            swaps.push((base, plain.to_string(), entry.path()));
        }
    }
    if swaps.is_empty() {
        return Ok(());
    }
    let mut keep = vec![];
    for (base, ext, path) in swaps {
        if base >= min_cleaned {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        } else {
            keep.push((base, ext, path));
        }
    }
    let mut range = (i64::MAX, i64::MIN);
    for (base, ext, path) in &keep {
        if ext == "log" {
            range = (range.0.min(*base), range.1.max(end_offset_of(path, *base)?));
        }
    }
    if range.0 < range.1 {
        for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
            let entry = entry.map_err(|e| LogError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            let Ok(base) = stem.parse::<i64>() else { continue };
            if super::segment::EXTENSIONS.contains(&ext) && (range.0..range.1).contains(&base) {
                std::fs::remove_file(entry.path()).map_err(|e| LogError::io(&entry.path(), e))?;
            }
        }
    }
    for (base, ext, path) in keep {
        let to = super::segment::file_path(dir, base, &ext);
        std::fs::rename(&path, &to).map_err(|e| LogError::io(&path, e))?;
        tracing::info!(file = %to.display(), "completed an interrupted log-cleaner swap");
    }
    super::checkpoint::sync_dir(dir)
}

/// Base offsets of the `.log` files in `dir`, sorted. Leftover temp files and index files
/// without a log are removed, and an interrupted cleaner swap is completed or undone.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    complete_swaps(dir)?;
    let mut bases = vec![];
    let rd = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))?;
    let mut orphans = vec![];
    for entry in rd {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else { continue };
        match ext {
            "log" => bases.push(base),
            "index" | "timeindex" | "txnindex" => orphans.push((base, entry.path())),
            "tmp" | "log.tmp" => orphans.push((-1, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in orphans {
        if bases.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        }
    }
    Ok(bases)
}

/// Opens all segments of a partition directory (creating the first one if there are
/// none), recovering as described in the module docs. Returns the segments (oldest first,
/// last = active) and a report.
pub fn open_segments(
    dir: &Path,
    cfg: &LogConfig,
    clean_shutdown: bool,
    recovery_point: Option<i64>,
) -> Result<(Vec<Arc<Segment>>, RecoveryReport), LogError> {
    let bases = list_segments(dir)?;
    let mut report = RecoveryReport::default();
    if bases.is_empty() {
        return Ok((vec![Arc::new(Segment::create(dir, 0, cfg, 0)?)], report));
    }
    let last = bases.len() - 1;
    // First segment to scan: the one containing the recovery point (all if unknown).
    let mut scan_from = match (clean_shutdown, recovery_point) {
        (true, _) => bases.len(),
        (false, Some(rp)) => bases.partition_point(|b| *b <= rp).saturating_sub(1),
        (false, None) => 0,
    };
    let mut segs: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let seg = if i >= scan_from {
            Segment::open_for_recovery(dir, base, cfg, i == last)?
        } else {
            let seg = Segment::open(dir, base, cfg, i == last)?;
            match seg.check_indexes() {
                Ok(()) => seg,
                Err(why) => {
                    // Kafka's CorruptIndexException: this segment is recovered (its indexes
                    // rebuilt from the log), and so is every later one.
                    tracing::warn!(dir = %dir.display(), base_offset = base, why, "corrupt index found; recovering from this segment on");
                    drop(seg);
                    scan_from = i;
                    Segment::open_for_recovery(dir, base, cfg, i == last)?
                }
            }
        };
        if i >= scan_from {
            report.segments_scanned += 1;
            let torn = seg.recover(base)?;
            if let Some(t) = torn {
                report.torn_bytes += t;
                tracing::warn!(dir = %dir.display(), base_offset = base, torn_bytes = t, valid_bytes = seg.size(), "truncated torn log tail");
            }
            // A torn segment, or one that does not end where the next begins, ends the log:
            // everything after it goes, as in Kafka.
            let gap = i != last && seg.end_offset() != bases[i + 1];
            if i != last && (torn.is_some() || gap) {
                if gap && torn.is_none() {
                    tracing::warn!(dir = %dir.display(), base_offset = base, end_offset = seg.end_offset(), next_base = bases[i + 1], "segment does not reach the next one; truncating the log there");
                }
                for &later in &bases[i + 1..] {
                    Segment::open_for_recovery(dir, later, cfg, false)?.delete_files(dir)?;
                    report.segments_dropped += 1;
                }
                drop(seg);
                let seg = Segment::open_for_recovery(dir, base, cfg, true)?;
                seg.recover(base)?;
                segs.push(Arc::new(seg));
                return Ok((segs, report));
            }
        }
        if i != last {
            if i >= scan_from {
                // Recovery rebuilt the indexes in memory; cut their files to the valid
                // entries too (Kafka's trimToValidSize), durably.
                seg.trim_files(true)?;
            }
            seg.release_files();
        }
        segs.push(Arc::new(seg));
    }
    Ok((segs, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::batch::tests::make_batch;
    use crate::log::record::batch::{BatchHeader, set_base_offset};
    use kafka_protocol::records::Compression;

    fn append(seg: &Segment, base: i64, n: usize) -> i64 {
        let b = make_batch(n, 1000 + base, Compression::None);
        seg.append(&b, |d| set_base_offset(d, base)).unwrap();
        base + n as i64
    }

    fn small_cfg() -> LogConfig {
        LogConfig {
            segment_bytes: 64 * 1024,
            segment_index_bytes: 4096,
            index_interval_bytes: 100,
            ..LogConfig::default()
        }
    }

    #[test]
    fn crash_recovery_keeps_complete_batches_and_cuts_the_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_cfg();
        let seg = Segment::create(dir.path(), 0, &cfg, 0).unwrap();
        let mut next = 0;
        for _ in 0..20 {
            next = append(&seg, next, 5);
        }
        let good = seg.size();
        // A torn batch: a valid header prefix with the rest missing.
        let mut torn = make_batch(5, 0, Compression::None);
        set_base_offset(&mut torn, next);
        drop(seg);
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join("00000000000000000000.log"))
                .unwrap();
            f.seek(SeekFrom::Start(good as u64)).unwrap();
            f.write_all(&torn[..torn.len() / 2]).unwrap();
        }
        let (segs, report) = open_segments(dir.path(), &cfg, false, None).unwrap();
        assert_eq!(report.segments_scanned, 1);
        assert_eq!(report.torn_bytes, torn.len());
        assert_eq!(segs[0].size(), good);
        assert_eq!(segs[0].end_offset(), 100);
        // Offsets continue where the valid data ends, and the index finds mid-log offsets.
        let data = segs[0].read(57, i64::MAX, usize::MAX, true, false).unwrap();
        let first = BatchHeader::parse_unchecked(&data).unwrap();
        assert_eq!(first.base_offset(), 55);
    }

    #[test]
    fn a_crashed_empty_segment_recovers_empty_and_stale_bytes_go() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_cfg();
        drop(Segment::create(dir.path(), 0, &cfg, 0).unwrap());
        // Preallocated files, never written; a stray page far into the log must not survive.
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join("00000000000000000000.log"))
                .unwrap();
            f.seek(SeekFrom::Start(8192)).unwrap();
            f.write_all(&[0xAB; 100]).unwrap();
        }
        let (segs, report) = open_segments(dir.path(), &cfg, false, None).unwrap();
        assert_eq!(report.segments_scanned, 1);
        assert_eq!(report.torn_bytes, 0);
        assert_eq!((segs[0].size(), segs[0].end_offset()), (0, 0));
        // Appends work and a later crash recovery finds exactly them.
        let next = append(&segs[0], 0, 4);
        drop(segs);
        let (segs, _) = open_segments(dir.path(), &cfg, false, None).unwrap();
        assert_eq!(segs[0].end_offset(), next);
        let mut stale = [0u8; 100];
        use std::os::unix::fs::FileExt;
        std::fs::File::open(dir.path().join("00000000000000000000.log"))
            .unwrap()
            .read_at(&mut stale, 8192)
            .unwrap();
        assert!(stale.iter().all(|b| *b == 0), "the stray bytes were cut");
    }

    #[test]
    fn clean_open_skips_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_cfg();
        let seg = Segment::create(dir.path(), 0, &cfg, 0).unwrap();
        append(&seg, 0, 3);
        seg.trim_files(true).unwrap();
        drop(seg);
        let (segs, report) = open_segments(dir.path(), &cfg, true, None).unwrap();
        assert_eq!(report.segments_scanned, 0);
        assert_eq!(segs[0].end_offset(), 3);
        assert_eq!(segs[0].max_timestamp(), 1002);
    }

    #[test]
    fn clean_open_rebuilds_a_corrupt_index() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_cfg();
        let seg = Segment::create(dir.path(), 0, &cfg, 0).unwrap();
        let mut next = 0;
        for _ in 0..20 {
            next = append(&seg, next, 5);
        }
        seg.trim_files(true).unwrap();
        drop(seg);
        let index = dir.path().join("00000000000000000000.index");
        let good = std::fs::read(&index).unwrap();
        assert!(good.len() >= 16, "the fixture has index entries");
        // Entries that go backwards, and entries that point into the middle of a batch.
        let mut backwards = good.clone();
        backwards[8..12].copy_from_slice(&0u32.to_be_bytes());
        let mut misplaced = good.clone();
        let last = misplaced.len() - 4;
        let pos = u32::from_be_bytes(misplaced[last..].try_into().unwrap());
        misplaced[last..].copy_from_slice(&(pos + 7).to_be_bytes());
        for bad in [backwards, misplaced, vec![0xff; 40]] {
            std::fs::write(&index, &bad).unwrap();
            let (segs, report) = open_segments(dir.path(), &cfg, true, None).unwrap();
            assert_eq!(report.segments_scanned, 1, "the segment was recovered");
            assert_eq!(segs[0].end_offset(), next);
            for offset in [0, 37, next - 1] {
                let data = segs[0].read(offset, next, 1 << 20, true, false).unwrap();
                let (_, h) = crate::log::record::batch::iter_batches(&data).next().unwrap();
                assert!(h.base_offset() <= offset && offset <= h.last_offset());
            }
            drop(segs);
        }
    }
}
