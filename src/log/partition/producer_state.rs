//! Per-partition state of idempotent producers (Kafka's `ProducerStateManager`): for each
//! producer id, its epoch and the metadata of its last 5 batches, so a retried batch is
//! recognised as a duplicate and a gap in sequence numbers is refused.
//!
//! Owns: the sequence and epoch rules applied under the partition's append lock, producer
//! expiry, and the `<offset>.snapshot` files that let start-up skip re-reading the log.
//! Must not touch: segments (the partition feeds it batch headers).
//!
//! Snapshot file (Kafka's format, version 1), big-endian:
//! `version: i16, crc: u32 (CRC32C of everything after it), count: i32`, then per
//! producer `producer_id: i64, epoch: i16, last_sequence: i32, last_offset: i64,
//! offset_delta: i32 (last - first offset of its last batch), timestamp: i64,
//! coordinator_epoch: i32, current_txn_first_offset: i64`. Only the last batch of each
//! producer is kept across a snapshot, as in Kafka.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::log::LogError;
use crate::log::partition::Origin;
use crate::log::record::batch::{BatchHeader, add_sequence};

/// Batches remembered per producer (Kafka's limit, matching max.in.flight = 5).
pub const MAX_BATCHES: usize = 5;
const SNAPSHOT_VERSION: i16 = 1;
const ENTRY_LEN: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp (or its LogAppendTime).
    pub timestamp: i64,
}

/// What the partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// The max timestamp of its last batch (Kafka's `lastTimestamp`, which expiry uses:
    /// the client's time on CreateTime topics).
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

/// The producers of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions as (first offset, producer id): the smallest bounds the last
    /// stable offset.
    ongoing: BTreeSet<(i64, i64)>,
}

/// One producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_start_offset: i64,
}

/// A transaction ended by a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub committed: bool,
}

/// `seq - n` in sequence space (the inverse of `add_sequence`).
fn sub_sequence(seq: i32, n: i32) -> i32 {
    if seq >= n { seq - n } else { i32::MAX - (n - seq) + 1 }
}

/// Whether `next` directly follows `last` in sequence space.
fn in_sequence(last: i32, next: i32) -> bool {
    next == add_sequence(last, 1)
}

impl ProducerState {
    pub fn len(&self) -> usize {
        self.producers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
    /// Each producer's last data offset (`None` if none is remembered) and epoch: the
    /// batches the log cleaner must keep (Kafka's `lastRecordsOfActiveProducers`).
    pub fn last_records(&self) -> HashMap<i64, (Option<i64>, i16)> {
        self.producers
            .iter()
            .map(|(pid, e)| (*pid, (e.batches.back().map(|b| b.last_offset), e.epoch)))
            .collect()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer as DescribeProducers shows it, by producer id.
    pub fn describe(&self) -> Vec<ProducerSummary> {
        let mut out: Vec<ProducerSummary> = self
            .producers
            .iter()
            .map(|(id, e)| ProducerSummary {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.last_seq().unwrap_or(-1),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.current_txn_first_offset,
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Checks an idempotent batch before it is appended. `Ok(Some(b))`: a retry of the
    /// already appended batch `b` (answer with its offsets, append nothing); `Ok(None)`:
    /// append it. Batches without a producer id pass.
    pub fn check(&self, h: &BatchHeader, origin: Origin) -> Result<Option<BatchMetadata>, LogError> {
        let pid = h.producer_id();
        if pid < 0 {
            return Ok(None);
        }
        let (epoch, first, last) = (h.producer_epoch(), h.base_sequence(), h.last_sequence());
        let Some(entry) = self.producers.get(&pid) else {
            // An unknown producer (new, or its state expired or was retained away) may
            // start at any sequence, as in Kafka since KIP-360.
            return Ok(None);
        };
        if !h.is_transactional() && entry.current_txn_first_offset >= 0 {
            return Err(LogError::InvalidTxnState(format!(
                "producer {pid} has an open transaction: expected a transactional write"
            )));
        }
        if epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "producer {pid} epoch {epoch} is older than the current epoch {}",
                entry.epoch
            )));
        }
        if origin == Origin::Coordinator {
            // A coordinator's writes carry no meaningful sequence.
            return Ok(None);
        }
        if epoch > entry.epoch {
            // A bumped epoch restarts the sequence at 0 (unless the epoch was unknown).
            if first != 0 && entry.epoch != -1 {
                return Err(LogError::OutOfOrderSequence(format!(
                    "producer {pid}: new epoch {epoch} must start at sequence 0, got {first}"
                )));
            }
            return Ok(None);
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
        {
            return Ok(Some(*dup));
        }
        // With no batch remembered at this epoch the next one must be sequence 0.
        let prev = entry.last_seq().unwrap_or(-1);
        if entry.epoch != -1 && !in_sequence(prev, first) {
            return Err(LogError::OutOfOrderSequence(format!(
                "producer {pid} epoch {epoch}: expected sequence {}, got {first}",
                add_sequence(prev, 1)
            )));
        }
        Ok(None)
    }

    /// Records a batch of a producer appended at `base_offset` (`timestamp` is its max
    /// timestamp, or its LogAppendTime).
    pub fn update(&mut self, h: &BatchHeader, base_offset: i64, timestamp: i64) {
        let pid = h.producer_id();
        if pid < 0 {
            return;
        }
        let meta = BatchMetadata {
            first_seq: h.base_sequence(),
            last_seq: h.last_sequence(),
            first_offset: base_offset,
            last_offset: base_offset + h.last_offset_delta() as i64,
            timestamp,
        };
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerEntry {
            epoch: h.producer_epoch(),
            batches: VecDeque::new(),
            last_timestamp: timestamp,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        });
        if h.producer_epoch() != entry.epoch {
            entry.epoch = h.producer_epoch();
            entry.batches.clear();
        }
        if entry.batches.len() == MAX_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(meta);
        entry.last_timestamp = timestamp;
        if h.is_transactional() && entry.current_txn_first_offset < 0 {
            entry.current_txn_first_offset = meta.first_offset;
            self.ongoing.insert((meta.first_offset, pid));
        }
    }

    /// Checks a transaction marker of `pid` at `epoch` from a coordinator at
    /// `coordinator_epoch`: an older producer epoch is fenced, as is an older coordinator.
    pub fn check_marker(&self, pid: i64, epoch: i16, coordinator_epoch: i32) -> Result<(), LogError> {
        match self.producers.get(&pid) {
            Some(e) if epoch < e.epoch => Err(LogError::InvalidProducerEpoch(format!(
                "marker for producer {pid} has epoch {epoch}, older than {}",
                e.epoch
            ))),
            Some(e) if coordinator_epoch < e.coordinator_epoch => Err(LogError::CoordinatorFenced(format!(
                "invalid coordinator epoch for producer {pid}: {coordinator_epoch} (zombie), {} (current)",
                e.coordinator_epoch
            ))),
            _ => Ok(()),
        }
    }

    /// Records a transaction marker appended at `offset`: the producer's open
    /// transaction (if any) ends. Returns it.
    pub fn complete_txn(
        &mut self,
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        offset: i64,
        committed: bool,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: timestamp,
            coordinator_epoch,
            current_txn_first_offset: -1,
        });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        let first = std::mem::replace(&mut entry.current_txn_first_offset, -1);
        if first < 0 {
            return None;
        }
        self.ongoing.remove(&(first, pid));
        Some(CompletedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: offset,
            committed,
        })
    }

    /// The producers with an open transaction here: (producer id, its epoch).
    pub fn open_transactions(&self) -> Vec<(i64, i16)> {
        self.ongoing
            .iter()
            .map(|(_, pid)| (*pid, self.producers.get(pid).map_or(-1, |e| e.epoch)))
            .collect()
    }

    /// The first offset of the oldest open transaction: the last stable offset's bound.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|(o, _)| *o)
    }

    /// Drops producers whose last batch is `expiration_ms` old (`producer.id.expiration.ms`);
    /// a producer with an open transaction stays.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // (A producer with an open transaction stays, so `ongoing` is unaffected.)
        self.producers
            .retain(|_, e| e.current_txn_first_offset >= 0 || now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }

    /// Encodes the state in Kafka's snapshot format.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.producers.len() * ENTRY_LEN);
        body.extend_from_slice(&(self.producers.len() as i32).to_be_bytes());
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.producers[id];
            // A producer known only from a marker has no batch: sequence and offset -1.
            let (seq, offset, delta, ts) = match e.batches.back() {
                Some(b) => (
                    b.last_seq,
                    b.last_offset,
                    (b.last_offset - b.first_offset) as i32,
                    e.last_timestamp,
                ),
                None => (-1, -1, 0, e.last_timestamp),
            };
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&seq.to_be_bytes());
            body.extend_from_slice(&offset.to_be_bytes());
            body.extend_from_slice(&delta.to_be_bytes());
            body.extend_from_slice(&ts.to_be_bytes());
            body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
        }
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a snapshot.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 10 {
            return Err("snapshot shorter than its header".into());
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        if version != SNAPSHOT_VERSION {
            return Err(format!("snapshot version {version} is not {SNAPSHOT_VERSION}"));
        }
        let crc = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let body = &bytes[6..];
        if crc32c::crc32c(body) != crc {
            return Err("snapshot CRC mismatch".into());
        }
        let count = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let entries = &body[4..];
        if count < 0 || entries.len() != count as usize * ENTRY_LEN {
            return Err("snapshot entry count does not match its size".into());
        }
        let mut producers = HashMap::new();
        let mut ongoing = BTreeSet::new();
        for e in entries.chunks_exact(ENTRY_LEN) {
            let i64_at = |o: usize| i64::from_be_bytes(e[o..o + 8].try_into().unwrap_or([0; 8]));
            let i32_at = |o: usize| i32::from_be_bytes(e[o..o + 4].try_into().unwrap_or([0; 4]));
            let pid = i64_at(0);
            let epoch = i16::from_be_bytes([e[8], e[9]]);
            let last_seq = i32_at(10);
            let last_offset = i64_at(14);
            let delta = i32_at(22);
            let meta = BatchMetadata {
                first_seq: sub_sequence(last_seq, delta),
                last_seq,
                first_offset: last_offset - delta as i64,
                last_offset,
                timestamp: i64_at(26),
            };
            let txn_first = i64_at(38);
            if txn_first >= 0 {
                ongoing.insert((txn_first, pid));
            }
            let batches = if last_seq < 0 && last_offset < 0 {
                VecDeque::new()
            } else {
                VecDeque::from([meta])
            };
            producers.insert(
                pid,
                ProducerEntry {
                    epoch,
                    batches,
                    last_timestamp: meta.timestamp,
                    coordinator_epoch: i32_at(34),
                    current_txn_first_offset: i64_at(38),
                },
            );
        }
        Ok(Self { producers, ongoing })
    }
}

/// The snapshot file for `offset` in `dir` (`<offset:020>.snapshot`, as Kafka names it).
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// Snapshot offsets present in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> Vec<i64> {
    let mut out: Vec<i64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".snapshot")?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::batch;
    use crate::log::test_fixture as fixture;
    use kafka_protocol::records::Compression;

    /// A batch of `n` records for producer `pid`/`epoch` starting at sequence `seq`, with
    /// its base offset set to `base`.
    fn idem_batch(pid: i64, epoch: i16, seq: i32, n: usize, base: i64) -> Vec<u8> {
        let mut b = fixture::batch_of(n, 0, Compression::None, |i| vec![i as u8]).to_vec();
        // Producer fields are covered by the CRC: rewrite them and recompute it.
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        batch::set_base_offset(&mut b, base);
        b
    }

    fn check(s: &ProducerState, b: &[u8]) -> Result<Option<BatchMetadata>, LogError> {
        s.check(&BatchHeader::parse_validated(b).unwrap(), Origin::Client)
    }

    fn append(s: &mut ProducerState, b: &[u8]) {
        let h = BatchHeader::parse_validated(b).unwrap();
        s.update(&h, h.base_offset(), 0);
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut s = ProducerState::default();
        let b0 = idem_batch(7, 0, 0, 3, 0);
        assert_eq!(check(&s, &b0).unwrap(), None);
        append(&mut s, &b0);
        // The same batch again is a duplicate, answered with its original offsets.
        let dup = check(&s, &idem_batch(7, 0, 0, 3, 99)).unwrap().unwrap();
        assert_eq!((dup.first_offset, dup.last_offset), (0, 2));
        // The next batch must start at 3.
        assert!(matches!(
            check(&s, &idem_batch(7, 0, 5, 1, 3)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        let b1 = idem_batch(7, 0, 3, 2, 3);
        assert_eq!(check(&s, &b1).unwrap(), None);
        append(&mut s, &b1);
        // An older epoch is fenced; a newer one restarts at sequence 0.
        assert!(matches!(
            check(&s, &idem_batch(7, -1, 5, 1, 5)),
            Err(LogError::InvalidProducerEpoch(_))
        ));
        assert!(matches!(
            check(&s, &idem_batch(7, 1, 5, 1, 5)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        assert_eq!(check(&s, &idem_batch(7, 1, 0, 1, 5)).unwrap(), None);
        // Only the last 5 batches are remembered.
        for i in 0..6 {
            let b = idem_batch(7, 0, 5 + i as i32, 1, 10 + i);
            append(&mut s, &b);
        }
        assert_eq!(s.get(7).unwrap().batches.len(), MAX_BATCHES);
        // An unknown producer may start anywhere.
        assert_eq!(check(&s, &idem_batch(8, 3, 42, 1, 0)).unwrap(), None);
    }

    #[test]
    fn a_producer_known_only_from_a_marker_starts_at_sequence_zero() {
        let mut s = ProducerState::default();
        assert_eq!(s.complete_txn(4, 2, 0, 10, false, 0), None);
        assert!(matches!(
            check(&s, &idem_batch(4, 2, 5, 1, 11)),
            Err(LogError::OutOfOrderSequence(_))
        ));
        assert_eq!(check(&s, &idem_batch(4, 2, 0, 1, 11)).unwrap(), None);
        // A non-transactional write while a transaction is open is refused, at any epoch.
        let mut t = idem_batch(4, 2, 0, 1, 11);
        t[22] |= 0x10;
        let crc = crc32c::crc32c(&t[21..]);
        t[17..21].copy_from_slice(&crc.to_be_bytes());
        append(&mut s, &t);
        assert_eq!(s.first_unstable_offset(), Some(11));
        assert!(matches!(
            check(&s, &idem_batch(4, 3, 0, 1, 12)),
            Err(LogError::InvalidTxnState(_))
        ));
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerState::default();
        let b = idem_batch(1, 0, i32::MAX - 1, 2, 0);
        assert_eq!(BatchHeader::parse_validated(&b).unwrap().last_sequence(), i32::MAX);
        append(&mut s, &b);
        assert_eq!(check(&s, &idem_batch(1, 0, 0, 1, 2)).unwrap(), None);
        let w = idem_batch(1, 0, i32::MAX, 3, 0);
        assert_eq!(BatchHeader::parse_validated(&w).unwrap().last_sequence(), 1);
    }

    #[test]
    fn snapshot_round_trip_keeps_the_last_batch() {
        let mut s = ProducerState::default();
        append(&mut s, &idem_batch(5, 2, 0, 4, 10));
        append(&mut s, &idem_batch(5, 2, 4, 2, 14));
        append(&mut s, &idem_batch(9, 0, 0, 1, 16));
        let bytes = s.snapshot();
        let r = ProducerState::from_snapshot(&bytes).unwrap();
        assert_eq!(r.len(), 2);
        let e = r.get(5).unwrap();
        assert_eq!(e.epoch, 2);
        assert_eq!(e.batches.len(), 1);
        assert_eq!(*e.batches.back().unwrap(), *s.get(5).unwrap().batches.back().unwrap());
        // A retry of the last batch is still recognised after a restart.
        assert!(check(&r, &idem_batch(5, 2, 4, 2, 99)).unwrap().is_some());
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(ProducerState::from_snapshot(&bad).is_err());
        assert!(ProducerState::from_snapshot(&bytes[..5]).is_err());
    }

    #[test]
    fn idle_producers_expire() {
        let mut s = ProducerState::default();
        s.update(
            &BatchHeader::parse_validated(&idem_batch(1, 0, 0, 1, 0)).unwrap(),
            0,
            1_000,
        );
        s.update(
            &BatchHeader::parse_validated(&idem_batch(2, 0, 0, 1, 1)).unwrap(),
            1,
            5_000,
        );
        assert_eq!(s.expire(6_000, 4_000), 1);
        assert!(s.get(1).is_none() && s.get(2).is_some());
    }
}
