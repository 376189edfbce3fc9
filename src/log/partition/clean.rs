//! What the log cleaner needs from a partition: its producers' last batches, and the swap
//! of a group of sealed segments for their cleaned copy (Kafka's `replaceSegments`).
//!
//! The swap runs under the append lock (which rolls and retention also take), so the
//! segment list changes atomically for readers; readers holding the old segments keep
//! reading their mappings.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Partition, lock};
use crate::log::partition::producer_state::snapshot_path;
use crate::log::segment::{self, Segment};
use crate::log::{LogConfig, LogError, checkpoint};

impl Partition {
    /// Each producer's last data offset and epoch (see `ProducerState::last_records`).
    pub(crate) fn producer_last_records(&self) -> HashMap<i64, (Option<i64>, i16)> {
        lock(&self.append).producers.last_records()
    }

    /// Replaces `old` (consecutive sealed segments) with the cleaned segment written as
    /// `<base>.*.cleaned` (base = `old[0]`'s). Crash-safe as Kafka's: `.cleaned` becomes
    /// `.swap` (the commit point), the old files become `.deleted`, the `.swap` files take
    /// the final names, and start-up finishes whatever a crash interrupted (see
    /// `recovery::complete_swaps`). Returns false, and drops the cleaned files, when the
    /// group is no longer in the log (retention or DeleteRecords removed part of it) or the
    /// topic is no longer compacted.
    pub(crate) fn replace_segments(&self, old: &[Arc<Segment>], cfg: &LogConfig) -> Result<bool, LogError> {
        let dir = self.dir().to_path_buf();
        let base = old[0].base_offset();
        let _st = lock(&self.append);
        // Topic deletion marks the partition under this lock before it moves the
        // directory: a deleted partition's path may already belong to a new topic.
        if self.deleted.load(Ordering::Acquire) {
            segment::delete_files(&dir, base, ".cleaned")?;
            return Err(LogError::PartitionDeleted);
        }
        // The topic stopped being compacted while the round ran: its records stay.
        if !self.config().cleanup_policy.compact {
            segment::delete_files(&dir, base, ".cleaned")?;
            return Ok(false);
        }
        let segs = self.segments();
        let at = segs.iter().position(|s| Arc::ptr_eq(s, &old[0]));
        let intact = at.is_some_and(|at| {
            at + old.len() < segs.len() && segs[at..at + old.len()].iter().zip(old).all(|(a, b)| Arc::ptr_eq(a, b))
        });
        let Some(at) = at.filter(|_| intact) else {
            segment::delete_files(&dir, base, ".cleaned")?;
            return Ok(false);
        };
        let cleaned_log = segment::file_path(&dir, base, "log.cleaned");
        if !cleaned_log.exists() {
            return Err(LogError::Invalid(format!("{} is missing", cleaned_log.display())));
        }
        segment::rename_files(&dir, base, ".cleaned", ".swap")?;
        checkpoint::sync_dir(&dir)?;
        // Past the commit point the disk holds the cleaned group: a failure from here on
        // fences the partition (start-up completes the swap) rather than leave the segment
        // list describing files that are gone.
        let commit = || -> Result<Arc<Segment>, LogError> {
            for s in old {
                s.mark_deleted();
                segment::rename_files(&dir, s.base_offset(), "", ".deleted")?;
            }
            segment::rename_files(&dir, base, ".swap", "")?;
            checkpoint::sync_dir(&dir)?;
            let cleaned = Arc::new(Segment::open(&dir, base, cfg, false)?);
            cleaned.release_files();
            Ok(cleaned)
        };
        let cleaned = match commit() {
            Ok(c) => c,
            Err(e) => {
                self.storage_failed(&e);
                tracing::error!(partition = ?self, error = %e, "installing a cleaned segment failed; partition fenced until restart");
                return Err(e);
            }
        };
        let mut next: Vec<Arc<Segment>> = segs[..at].to_vec();
        next.push(cleaned);
        next.extend(segs[at + old.len()..].iter().cloned());
        self.set_segments(next);
        for s in old {
            if let Err(e) = segment::delete_files(&dir, s.base_offset(), ".deleted") {
                tracing::warn!(partition = ?self, error = %e, "removing a replaced segment's files failed (start-up retries)");
            }
        }
        // The producer snapshots taken where the merged segments began go with them, as
        // Kafka deletes the replaced segments' snapshots (the group's first one stays).
        for s in &old[1..] {
            let _ = std::fs::remove_file(snapshot_path(&dir, s.base_offset()));
        }
        Ok(true)
    }
}
