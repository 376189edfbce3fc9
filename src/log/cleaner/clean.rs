//! One cleaning round of one partition, as Kafka 4.0's Cleaner does it:
//! 1. [`assess`]: the dirty section runs from the cleaner checkpoint to the first
//!    uncleanable offset (the active segment, the last stable offset, what is not yet
//!    fsynced, what is younger than `min.compaction.lag.ms`), rounded down to a segment;
//! 2. the offset map: every key of the dirty section with its latest offset (aborted
//!    transactions and control batches add none);
//! 3. every segment from the log's start to the map's end is recopied, in groups of at most
//!    `segment.bytes`, keeping a record only if it is its key's latest, dropping tombstones
//!    whose delete horizon passed, aborted data, and markers no batch needs any more;
//! 4. each group's copy replaces the group crash-safely (`Partition::replace_segments`).
//!
//! Batches keep their base offset and last offset delta, so offsets never change; a batch
//! whose records all stay is copied byte for byte. A batch that must stay with no records
//! (a producer's last, or a group's last so the segment still ends where the next begins)
//! becomes a 61-byte header.

use super::throttler::Throttler;
use std::sync::Arc;

use super::offset_map::OffsetMap;
use super::txn_meta::TxnMeta;
use crate::log::record::batch::{BatchHeader, DELETE_HORIZON_BIT, TIMESTAMP_TYPE_BIT};
use crate::log::record::codec::{self, BatchFields, DecodedBatch};
use crate::log::segment::{self, Segment};
use crate::log::{LogConfig, LogError, Partition};

/// Where a partition's dirty section is, and how dirty the log is.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub first_dirty: i64,
    /// The first uncleanable offset, rounded down to a segment's base.
    pub upper: i64,
    pub cleanable_bytes: u64,
    pub total_bytes: u64,
    /// Records older than `max.compaction.lag.ms` wait uncleaned.
    pub overdue: bool,
}

impl Assessment {
    pub fn ratio(&self) -> f64 {
        if self.total_bytes == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / self.total_bytes as f64
        }
    }

    /// Kafka's rule: overdue with something to clean, or dirtier than the threshold.
    pub fn eligible(&self, cfg: &LogConfig) -> bool {
        self.total_bytes > 0
            && self.cleanable_bytes > 0
            && (self.overdue || self.ratio() > cfg.min_cleanable_dirty_ratio)
    }
}

/// The dirty section of `p` given its checkpoint (`None`: never cleaned).
pub fn assess(p: &Partition, cfg: &LogConfig, checkpoint: Option<i64>, now: i64) -> Assessment {
    let segs = p.segments();
    let log_start = p.log_start_offset();
    let end = p.log_end_offset();
    let first_dirty = checkpoint
        .filter(|c| (log_start..=end).contains(c))
        .unwrap_or(log_start);
    let active_base = segs.last().map_or(end, |s| s.base_offset());
    // Only fsynced data is rewritten: the swap must never outrun the recovery point.
    let mut uncleanable = p.last_stable_offset().min(active_base).min(p.recovery_point());
    let floor = |o: i64| segs.partition_point(|s| s.base_offset() <= o).saturating_sub(1);
    let sealed = &segs[..segs.len().saturating_sub(1)];
    if cfg.min_compaction_lag_ms > 0 {
        let young = now.saturating_sub(cfg.min_compaction_lag_ms);
        if let Some(s) = sealed[floor(first_dirty).min(sealed.len())..]
            .iter()
            .find(|s| s.max_timestamp() > young)
        {
            uncleanable = uncleanable.min(s.base_offset());
        }
    }
    let uncleanable = uncleanable.max(first_dirty);
    let upper = segs.get(floor(uncleanable)).map_or(uncleanable, |s| s.base_offset());
    let size = |range: &[Arc<Segment>]| range.iter().map(|s| s.size() as u64).sum::<u64>();
    let dirty_from = floor(first_dirty);
    let upper_idx = segs.partition_point(|s| s.base_offset() < upper);
    // Kafka's logSegments(-1, firstDirty): the segment holding the dirty point counts as
    // clean too, unless the dirty point is its base.
    let dirty_at_base = segs.get(dirty_from).is_some_and(|s| s.base_offset() == first_dirty);
    let clean_end = if dirty_at_base { dirty_from } else { dirty_from + 1 };
    let clean_bytes = size(&segs[..clean_end.min(segs.len())]);
    let cleanable_bytes = size(&segs[dirty_from.min(upper_idx)..upper_idx]);
    let deadline = now.saturating_sub(cfg.max_compaction_lag_ms.max(0));
    let overdue = sealed[dirty_from.min(sealed.len())..]
        .iter()
        .filter_map(|s| s.first_batch_timestamp())
        .filter(|t| *t > 0)
        .min()
        .is_some_and(|t| t < deadline);
    Assessment {
        first_dirty,
        upper,
        cleanable_bytes,
        total_bytes: clean_bytes + cleanable_bytes,
        overdue,
    }
}

/// What became of a round.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundStats {
    /// The next dirty offset (the new checkpoint).
    pub end_offset: i64,
    /// A group was no longer in the log (retention or DeleteRecords ran meanwhile): the
    /// round stopped and the checkpoint must not move.
    pub aborted: bool,
    pub groups: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Runs one round over `p` (see the module docs). Blocking.
pub fn clean(
    p: &Partition,
    cfg: &LogConfig,
    a: &Assessment,
    now: i64,
    map_bytes: usize,
    throttler: &Throttler,
) -> Result<RoundStats, LogError> {
    let segs = p.segments();
    let aborted = p.aborted_txns(0, a.upper);
    // Transactions aborted wholly below the dirty section add no keys either way, but one
    // whose marker lies in a segment the map pass skips would stay "open" and hide that
    // producer's later committed batches from the map.
    let dirty_aborts = aborted
        .iter()
        .filter(|t| t.last_offset >= a.first_dirty)
        .cloned()
        .collect();
    let map = build_map(&segs, a, map_bytes, TxnMeta::new(dirty_aborts), throttler);
    let end_offset = map.latest + 1;
    let mut stats = RoundStats {
        end_offset: end_offset.max(a.first_dirty),
        ..RoundStats::default()
    };
    let candidates: Vec<Arc<Segment>> = segs[..segs.len().saturating_sub(1)]
        .iter()
        .filter(|s| s.base_offset() < end_offset)
        .cloned()
        .collect();
    let mut txns = TxnMeta::new(aborted);
    let producers = p.producer_last_records();
    let horizon = now.saturating_add(cfg.delete_retention_ms);
    let ctx = Context {
        throttler,
        map: &map,
        producers: &producers,
        now,
        horizon,
    };
    for group in groups(&candidates, cfg.segment_bytes) {
        let before: u64 = group.iter().map(|s| s.size() as u64).sum();
        let Some(after) = clean_group(p, cfg, &group, &ctx, &mut txns)? else {
            stats.aborted = true;
            break;
        };
        stats.groups += 1;
        stats.bytes_before += before;
        stats.bytes_after += after;
    }
    Ok(stats)
}

/// Keys of the dirty section `[first_dirty, upper)` with their latest offsets.
fn build_map(
    segs: &[Arc<Segment>],
    a: &Assessment,
    map_bytes: usize,
    mut txns: TxnMeta,
    throttler: &Throttler,
) -> OffsetMap {
    let mut map = OffsetMap::new(map_bytes);
    map.latest = a.first_dirty - 1;
    for (i, seg) in segs.iter().enumerate() {
        if seg.base_offset() >= a.upper {
            break;
        }
        let next_start = segs.get(i + 1).map_or(a.upper, |n| n.base_offset()).min(a.upper);
        if next_start <= a.first_dirty {
            continue;
        }
        for h in seg.batches() {
            throttler.maybe_throttle(h.len());
            if h.is_control() {
                txns.on_control(&h);
            } else if !txns.on_batch(&h)
                && h.last_offset() >= a.first_dirty
                && let Ok(d) = codec::decode(&h)
            {
                for r in &d.records {
                    let Some(key) = d.key(r) else { continue };
                    if r.offset < a.first_dirty {
                        continue;
                    }
                    if !map.contains(key) && map.is_full(key.len()) {
                        // Full: what is mapped so far is this round's dirty section.
                        return map;
                    }
                    map.put(key, r.offset);
                }
            }
            if h.last_offset() >= a.first_dirty {
                map.latest = map.latest.max(h.last_offset());
            }
        }
        map.latest = map.latest.max(next_start - 1);
    }
    map
}

/// Consecutive segments whose copies fit one segment (`segment.bytes`) and one index
/// (offsets relative to the base fit an i32).
fn groups(segs: &[Arc<Segment>], segment_bytes: u64) -> Vec<Vec<Arc<Segment>>> {
    let mut out: Vec<Vec<Arc<Segment>>> = vec![];
    let mut bytes = 0u64;
    for (i, s) in segs.iter().enumerate() {
        let last_offset = segs.get(i + 1).map_or(s.end_offset(), |n| n.base_offset()) - 1;
        let fits = out.last().is_some_and(|g| {
            bytes + s.size() as u64 <= segment_bytes && last_offset - g[0].base_offset() <= i32::MAX as i64
        });
        if fits {
            bytes += s.size() as u64;
            if let Some(g) = out.last_mut() {
                g.push(s.clone());
            }
        } else {
            bytes = s.size() as u64;
            out.push(vec![s.clone()]);
        }
    }
    out
}

/// What a round knows while it copies.
struct Context<'a> {
    throttler: &'a Throttler,
    map: &'a OffsetMap,
    producers: &'a std::collections::HashMap<i64, (Option<i64>, i16)>,
    now: i64,
    /// The delete horizon stamped on batches keeping a tombstone or a finished marker.
    horizon: i64,
}

/// Copies `group` into `<base>.*.cleaned` and swaps it in; returns the copy's size, or
/// `None` if the group is no longer in the log.
fn clean_group(
    p: &Partition,
    cfg: &LogConfig,
    group: &[Arc<Segment>],
    ctx: &Context<'_>,
    txns: &mut TxnMeta,
) -> Result<Option<u64>, LogError> {
    // Rebuilt batches (a stamped delete horizon, re-compressed records) may come out a
    // little larger than their originals; the file is sparse and trimmed when sealed.
    let input: usize = group.iter().map(|s| s.size()).sum();
    let capacity = input + input / 8 + (1 << 20);
    let out_cfg = LogConfig {
        segment_bytes: capacity as u64,
        preallocate: false,
        ..cfg.clone()
    };
    let out = Segment::create_with_suffix(p.dir(), group[0].base_offset(), &out_cfg, capacity, ".cleaned")?;
    for (gi, seg) in group.iter().enumerate() {
        let walked: usize = seg.batches().map(|h| h.len()).sum();
        if walked != seg.size() {
            segment::delete_files(p.dir(), group[0].base_offset(), ".cleaned")?;
            return Err(LogError::Invalid(format!(
                "segment {} of {:?}: only {walked} of {} bytes are whole batches",
                seg.base_offset(),
                p,
                seg.size()
            )));
        }
        let mut batches = seg.batches().peekable();
        while let Some(h) = batches.next() {
            let last_of_group = gi + 1 == group.len() && batches.peek().is_none();
            ctx.throttler.maybe_throttle(h.len());
            if let Some(bytes) = retain(&h, ctx, txns, last_of_group) {
                ctx.throttler.maybe_throttle(bytes.len());
                out.append(&bytes, |_| {})?;
            }
            for t in txns.kept_aborts.drain(..) {
                out.txn_index().append(t)?;
            }
        }
    }
    out.trim_files(true)?;
    let size = out.size() as u64;
    drop(out);
    Ok(p.replace_segments(group, cfg)?.then_some(size))
}

/// What one batch becomes: `None` dropped, else the bytes to write.
fn retain(h: &BatchHeader<'_>, ctx: &Context<'_>, txns: &mut TxnMeta, last_of_group: bool) -> Option<Vec<u8>> {
    let can_discard = if h.is_control() {
        txns.on_control(h)
    } else {
        txns.on_batch(h)
    };
    let discard_records = if h.is_control() {
        can_discard && h.delete_horizon().is_some_and(|t| t <= ctx.now)
    } else {
        can_discard
    };
    let last_of_producer = ctx
        .producers
        .get(&h.producer_id())
        .is_some_and(|(last, epoch)| match last {
            Some(o) => h.last_offset() == *o,
            None => h.is_control() && h.producer_epoch() == *epoch,
        });
    let keep_empty = (h.has_producer_id() && last_of_producer) || last_of_group;
    if discard_records && !keep_empty {
        return None;
    }
    let Ok(decoded) = codec::decode(h) else {
        // Unreadable records are left exactly as they are.
        return Some(h.bytes().to_vec());
    };
    let kept: Vec<usize> = (0..decoded.records.len())
        .filter(|i| keep_record(h, &decoded, *i, ctx, discard_records))
        .collect();
    if kept.is_empty() {
        return keep_empty.then(|| empty_header(h));
    }
    let tombstones = kept.iter().any(|i| decoded.records[*i].value.is_none());
    let stamp = (tombstones || (can_discard && h.is_control())) && h.delete_horizon().is_none();
    if kept.len() == decoded.records.len() && !stamp {
        return Some(h.bytes().to_vec());
    }
    let mut f = BatchFields::of(h);
    let horizon = if stamp { Some(ctx.horizon) } else { h.delete_horizon() };
    let records: Vec<_> = kept.iter().map(|i| &decoded.records[*i]).collect();
    match horizon {
        Some(t) => {
            f.base_timestamp = t;
            f.attributes |= DELETE_HORIZON_BIT;
        }
        None => {
            f.base_timestamp = records[0].timestamp;
            f.attributes &= !DELETE_HORIZON_BIT;
        }
    }
    if h.attributes() & TIMESTAMP_TYPE_BIT == 0 {
        f.max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(f.max_timestamp);
    }
    codec::build(&f, h.attributes() & 0x07, None, &decoded, records.into_iter())
        .ok()
        .or_else(|| Some(h.bytes().to_vec()))
}

/// Kafka's shouldRetainRecord.
fn keep_record(h: &BatchHeader<'_>, d: &DecodedBatch, i: usize, ctx: &Context<'_>, discard_records: bool) -> bool {
    if discard_records {
        return false;
    }
    if h.is_control() {
        return true;
    }
    let r = &d.records[i];
    if r.offset > ctx.map.latest {
        return true;
    }
    let Some(key) = d.key(r) else {
        return false;
    };
    let latest = r.offset >= ctx.map.get(key);
    let keep_deletes = h.delete_horizon().is_none_or(|t| ctx.now < t);
    latest && (r.value.is_some() || keep_deletes)
}

/// The header of `h` with no records: its offsets, producer and max timestamp stay.
fn empty_header(h: &BatchHeader<'_>) -> Vec<u8> {
    let mut f = BatchFields::of(h);
    f.base_timestamp = -1;
    f.attributes &= !DELETE_HORIZON_BIT;
    let none = DecodedBatch {
        buf: vec![],
        records: vec![],
    };
    codec::build(&f, 0, None, &none, std::iter::empty()).unwrap_or_else(|_| h.bytes().to_vec())
}
