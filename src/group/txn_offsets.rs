//! A group's transactional offset commits (TxnOffsetCommit) waiting for their transaction
//! to end, as Kafka's `pendingTransactionalOffsetCommits`.
//!
//! A pending offset is stored in `__consumer_offsets` inside the producer's transaction and
//! only becomes the committed offset when the commit marker lands; an abort drops it. On
//! commit the transactional offset wins unless a plain OffsetCommit of the same partition
//! was written to the log after it (Kafka compares the records' log offsets). While a
//! partition has a pending offset, OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for it.

use std::collections::{BTreeMap, HashMap};

use super::state::CommittedOffset;

type Tp = (String, i32);

/// Pending transactional offsets of one group, and where its committed offsets were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnOffsets {
    /// Per producer id: partition → (offset, log offset of its record).
    pending: HashMap<i64, BTreeMap<Tp, (CommittedOffset, i64)>>,
    /// Log offset of the record behind each committed offset.
    committed_at: HashMap<Tp, i64>,
}

impl TxnOffsets {
    /// A TxnOffsetCommit of producer `pid`, written at log offset `at`.
    pub fn add_pending(&mut self, pid: i64, tp: Tp, o: CommittedOffset, at: i64) {
        self.pending.entry(pid).or_default().insert(tp, (o, at));
    }

    /// A plain commit (or tombstone) of `tp` written at log offset `at`.
    pub fn record_commit(&mut self, tp: Tp, at: i64) {
        self.committed_at.insert(tp, at);
    }

    /// A tombstone for `tp`: the committed offset's origin is forgotten and no open
    /// transaction's pending offset for it survives (as Kafka's replay of a tombstone).
    pub fn forget(&mut self, tp: &Tp) {
        self.committed_at.remove(tp);
        for m in self.pending.values_mut() {
            m.remove(tp);
        }
        self.pending.retain(|_, m| !m.is_empty());
    }

    /// Every partition some open transaction has an offset pending for.
    pub fn pending_partitions(&self) -> Vec<Tp> {
        let mut all: Vec<Tp> = self.pending.values().flat_map(|m| m.keys().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The log offset of the oldest pending record (compaction must keep it and what follows).
    pub fn first_pending_offset(&self) -> Option<i64> {
        self.pending.values().flat_map(|m| m.values().map(|(_, at)| *at)).min()
    }

    /// Producer `pid`'s transaction ended: on commit its pending offsets become committed
    /// in `offsets` where they are newer than what is there. Returns whether it had any.
    pub fn complete(&mut self, pid: i64, commit: bool, offsets: &mut BTreeMap<Tp, CommittedOffset>) -> bool {
        let Some(pending) = self.pending.remove(&pid) else {
            return false;
        };
        if commit {
            for (tp, (o, at)) in pending {
                let newer = match self.committed_at.get(&tp) {
                    Some(&existing) => existing < at,
                    None => true,
                };
                if newer || !offsets.contains_key(&tp) {
                    offsets.insert(tp.clone(), o);
                    self.committed_at.insert(tp, at);
                }
            }
        }
        true
    }

    /// Whether some open transaction has an offset for `tp`.
    pub fn is_pending(&self, tp: &Tp) -> bool {
        self.pending.values().any(|m| m.contains_key(tp))
    }

    /// Whether any transaction has offsets pending here.
    pub fn any_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Producer ids with pending offsets.
    pub fn producers(&self) -> impl Iterator<Item = i64> + '_ {
        self.pending.keys().copied()
    }

    /// Drops pending offsets of `topic` (deleted).
    pub fn drop_topic(&mut self, topic: &str) {
        for m in self.pending.values_mut() {
            m.retain(|(t, _), _| t != topic);
        }
        self.pending.retain(|_, m| !m.is_empty());
        self.committed_at.retain(|(t, _), _| t != topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(o: i64) -> CommittedOffset {
        CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
            expire_timestamp_ms: None,
        }
    }

    fn tp(p: i32) -> Tp {
        ("t".to_string(), p)
    }

    #[test]
    fn commit_applies_and_abort_drops() {
        let mut t = TxnOffsets::default();
        let mut offsets = BTreeMap::new();
        t.add_pending(7, tp(0), off(10), 100);
        t.add_pending(8, tp(1), off(20), 101);
        assert!(t.is_pending(&tp(0)) && t.is_pending(&tp(1)) && !t.is_pending(&tp(2)));
        assert!(t.complete(7, true, &mut offsets));
        assert_eq!(offsets.get(&tp(0)).map(|o| o.offset), Some(10));
        assert!(t.complete(8, false, &mut offsets));
        assert!(!offsets.contains_key(&tp(1)));
        assert!(!t.any_pending());
        assert!(!t.complete(8, true, &mut offsets), "nothing left for 8");
    }

    #[test]
    fn a_tombstone_drops_pending_offsets_too() {
        let mut t = TxnOffsets::default();
        let mut offsets = BTreeMap::new();
        t.add_pending(7, tp(0), off(10), 100);
        t.add_pending(7, tp(1), off(11), 100);
        assert_eq!(t.first_pending_offset(), Some(100));
        assert_eq!(t.pending_partitions(), vec![tp(0), tp(1)]);
        t.forget(&tp(0));
        t.complete(7, true, &mut offsets);
        assert!(
            !offsets.contains_key(&tp(0)),
            "deleted before the commit: stays deleted"
        );
        assert_eq!(offsets[&tp(1)].offset, 11);
        assert_eq!(t.first_pending_offset(), None);
    }

    #[test]
    fn a_later_plain_commit_wins_over_an_earlier_transactional_one() {
        let mut t = TxnOffsets::default();
        let mut offsets = BTreeMap::new();
        t.add_pending(7, tp(0), off(10), 100);
        offsets.insert(tp(0), off(50));
        t.record_commit(tp(0), 105);
        t.add_pending(7, tp(1), off(11), 106);
        offsets.insert(tp(1), off(3));
        t.record_commit(tp(1), 90);
        t.complete(7, true, &mut offsets);
        assert_eq!(offsets[&tp(0)].offset, 50, "plain commit written later stays");
        assert_eq!(offsets[&tp(1)].offset, 11, "transactional commit written later wins");
    }
}
