//! The state of one transactional id, as Kafka's `TransactionMetadata`: the pure rules of
//! the transaction coordinator (no I/O, time is an argument). Each operation checks the
//! request against the current state and returns the next state, which the coordinator
//! makes durable in `__transaction_state` before applying it.
//!
//! States and their allowed predecessors (Kafka's `TransactionState`):
//! Empty ← Empty, CompleteCommit, CompleteAbort; Ongoing ← Ongoing, Empty, CompleteCommit,
//! CompleteAbort; PrepareCommit ← Ongoing; PrepareAbort ← Ongoing, PrepareEpochFence;
//! CompleteCommit ← PrepareCommit; CompleteAbort ← PrepareAbort; Dead ← Empty,
//! CompleteCommit, CompleteAbort; PrepareEpochFence ← Ongoing.

use std::collections::BTreeSet;

/// A transaction's state, with Kafka's ids (stored) and names (DescribeTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }
    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
    /// Whether `self` may follow `from`.
    pub fn may_follow(self, from: TxnState) -> bool {
        use TxnState::*;
        match self {
            Empty => matches!(from, Empty | CompleteCommit | CompleteAbort),
            Ongoing => matches!(from, Ongoing | Empty | CompleteCommit | CompleteAbort),
            PrepareCommit => from == Ongoing,
            PrepareAbort => matches!(from, Ongoing | PrepareEpochFence),
            CompleteCommit => from == PrepareCommit,
            CompleteAbort => from == PrepareAbort,
            Dead => matches!(from, Empty | CompleteCommit | CompleteAbort),
            PrepareEpochFence => from == Ongoing,
        }
    }
}

/// Why a transactional request is refused (mapped to Kafka codes in `api/`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("a previous transaction is still completing")]
    ConcurrentTransactions,
    #[error("the producer id does not belong to this transactional id")]
    InvalidProducerIdMapping,
    #[error("a newer producer with the same transactional id fenced this one")]
    ProducerFenced,
    #[error("the request does not fit the transaction's state")]
    InvalidTxnState,
    #[error("transaction.timeout.ms is larger than transaction.max.timeout.ms")]
    InvalidTransactionTimeout,
    #[error("the transaction state could not be written: {0}")]
    Storage(String),
    #[error("this broker does not coordinate the transactional id (now)")]
    NotCoordinator,
    #[error("the coordinator is loading the transactional id's partition")]
    LoadInProgress,
}

/// One transactional id's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The previous producer id and epoch (a retried InitProducerId is recognised by them).
    pub last_producer_id: i64,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current transaction started (-1 outside one).
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl TransactionMetadata {
    /// A new transactional id: producer `producer_id`, epoch -1 until initialised.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: -1,
            last_producer_id: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// Checks that `pid`/`epoch` is this transaction's current producer.
    fn check_producer(&self, pid: i64, epoch: i16) -> Result<(), TxnError> {
        if pid != self.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(TxnError::ProducerFenced);
        }
        Ok(())
    }

    /// InitProducerId for a transaction that is not open: bumps the epoch (or, at the last
    /// epoch, moves to `fresh_pid` at epoch 0) and empties the transaction. An open one must
    /// be aborted first (the coordinator does, via PrepareEpochFence); one completing gets
    /// CONCURRENT_TRANSACTIONS. `expected` is KIP-360's (producer id, epoch) of the caller.
    pub fn init(
        &self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_pid: impl FnOnce() -> i64,
        now_ms: i64,
    ) -> Result<TransactionMetadata, TxnError> {
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence | TxnState::Ongoing => {
                return Err(TxnError::ConcurrentTransactions);
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Dead => {}
        }
        // A caller's expectation is checked only once the id has had a producer (an id
        // created just now accepts any, as Kafka's `isValidProducerId`).
        if let Some((pid, epoch)) = expected.filter(|_| self.producer_epoch >= 0) {
            let current = pid == self.producer_id && epoch == self.producer_epoch;
            // A retry of a bump that already happened is answered with its result.
            let retried = pid == self.last_producer_id && epoch == self.last_producer_epoch;
            if retried {
                return Ok(self.clone());
            }
            if !current {
                return Err(TxnError::ProducerFenced);
            }
        }
        let mut next = self.clone();
        next.last_producer_id = self.producer_id;
        next.last_producer_epoch = self.producer_epoch;
        if self.producer_epoch >= i16::MAX - 1 {
            next.producer_id = fresh_pid();
            next.producer_epoch = 0;
        } else {
            next.producer_epoch = self.producer_epoch + 1;
        }
        next.timeout_ms = timeout_ms;
        next.state = TxnState::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn's `__consumer_offsets` partition).
    pub fn add_partitions(
        &self,
        pid: i64,
        epoch: i16,
        partitions: impl IntoIterator<Item = (String, i32)>,
        now_ms: i64,
    ) -> Result<TransactionMetadata, TxnError> {
        self.check_producer(pid, epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                return Err(TxnError::ConcurrentTransactions);
            }
            TxnState::Dead => return Err(TxnError::InvalidTxnState),
            TxnState::Empty | TxnState::Ongoing | TxnState::CompleteCommit | TxnState::CompleteAbort => {}
        }
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.partitions.clear();
            next.start_ms = now_ms;
        }
        next.partitions.extend(partitions);
        next.state = TxnState::Ongoing;
        next.last_update_ms = now_ms;
        Ok(next)
    }

    /// EndTxn: `Ok(None)` when the same end was already completed (a retry, answered with
    /// success); otherwise the PrepareCommit/PrepareAbort state to store before the markers.
    pub fn prepare_end(
        &self,
        pid: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<TransactionMetadata>, TxnError> {
        self.check_producer(pid, epoch)?;
        let target = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = self.clone();
                next.state = target;
                next.last_update_ms = now_ms;
                Ok(Some(next))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(TxnError::ConcurrentTransactions),
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// After the markers are written: PrepareCommit → CompleteCommit, PrepareAbort (or an
    /// epoch fence) → CompleteAbort, with the partitions cleared.
    pub fn complete(&self, now_ms: i64) -> Option<TransactionMetadata> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        let mut next = self.clone();
        next.state = state;
        next.partitions.clear();
        // The start time stays (DescribeTransactions shows the last one).
        next.last_update_ms = now_ms;
        Some(next)
    }

    /// The coordinator's abort of a transaction that timed out or whose producer is being
    /// replaced: the epoch is bumped so the old producer is fenced, then it aborts.
    pub fn fence_and_abort(&self, now_ms: i64) -> Option<TransactionMetadata> {
        if self.state != TxnState::Ongoing {
            return None;
        }
        let mut next = self.clone();
        next.last_producer_id = self.producer_id;
        // Kafka forgets the last epoch here: the fenced producer's InitProducerId with its
        // old epoch is not a "retry" and gets PRODUCER_FENCED.
        next.last_producer_epoch = -1;
        next.producer_epoch = self.producer_epoch.saturating_add(1);
        next.state = TxnState::PrepareAbort;
        next.last_update_ms = now_ms;
        Some(next)
    }

    /// Whether an open transaction has outlived its timeout.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && now_ms.saturating_sub(self.start_ms) > self.timeout_ms as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    #[test]
    fn transitions_follow_kafkas_table() {
        use TxnState::*;
        let all = [
            Empty,
            Ongoing,
            PrepareCommit,
            PrepareAbort,
            CompleteCommit,
            CompleteAbort,
            Dead,
            PrepareEpochFence,
        ];
        for s in all {
            assert_eq!(TxnState::from_id(s.id()), Some(s));
        }
        assert!(PrepareCommit.may_follow(Ongoing) && !PrepareCommit.may_follow(Empty));
        assert!(Ongoing.may_follow(CompleteAbort) && !Ongoing.may_follow(PrepareCommit));
        assert!(PrepareAbort.may_follow(PrepareEpochFence));
        assert_eq!(TxnState::from_id(9), None);
    }

    #[test]
    fn a_transaction_commits_and_a_retried_end_succeeds() {
        let m = TransactionMetadata::new("t", 7, 60_000, 0);
        let m = m.init(60_000, None, || unreachable!(), 1).unwrap();
        assert_eq!((m.producer_epoch, m.state), (0, TxnState::Empty));
        let m = m.add_partitions(7, 0, [tp("a", 0), tp("b", 1)], 2).unwrap();
        assert_eq!((m.state, m.start_ms, m.partitions.len()), (TxnState::Ongoing, 2, 2));
        let m = m.add_partitions(7, 0, [tp("a", 0), tp("c", 0)], 3).unwrap();
        assert_eq!((m.partitions.len(), m.start_ms), (3, 2));
        let p = m.prepare_end(7, 0, true, 4).unwrap().unwrap();
        assert_eq!(p.state, TxnState::PrepareCommit);
        assert_eq!(
            p.add_partitions(7, 0, [tp("a", 1)], 5),
            Err(TxnError::ConcurrentTransactions)
        );
        assert_eq!(p.prepare_end(7, 0, true, 5), Err(TxnError::ConcurrentTransactions));
        let done = p.complete(6).unwrap();
        assert_eq!((done.state, done.partitions.len()), (TxnState::CompleteCommit, 0));
        assert_eq!(done.prepare_end(7, 0, true, 7), Ok(None), "a retried commit succeeds");
        assert_eq!(done.prepare_end(7, 0, false, 7), Err(TxnError::InvalidTxnState));
    }

    #[test]
    fn producers_are_fenced_by_epoch_and_id() {
        let m = TransactionMetadata::new("t", 7, 60_000, 0)
            .init(60_000, None, || 0, 1)
            .unwrap();
        let m2 = m.init(60_000, None, || 0, 2).unwrap();
        assert_eq!(m2.producer_epoch, 1);
        assert_eq!(m2.add_partitions(7, 0, [tp("a", 0)], 3), Err(TxnError::ProducerFenced));
        assert_eq!(
            m2.add_partitions(8, 1, [tp("a", 0)], 3),
            Err(TxnError::InvalidProducerIdMapping)
        );
        // KIP-360: a caller naming a stale epoch is fenced; a retry of the last bump is
        // answered with the same result.
        assert_eq!(m2.init(60_000, Some((7, 5)), || 0, 4), Err(TxnError::ProducerFenced));
        assert_eq!(m2.init(60_000, Some((7, 0)), || 0, 4).unwrap(), m2);
        let m3 = m2.init(60_000, Some((7, 1)), || 0, 4).unwrap();
        assert_eq!(m3.producer_epoch, 2);
        // At the last epoch the producer gets a new id.
        let mut old = m3.clone();
        old.producer_epoch = i16::MAX - 1;
        let renewed = old.init(60_000, None, || 99, 5).unwrap();
        assert_eq!((renewed.producer_id, renewed.producer_epoch), (99, 0));
    }

    #[test]
    fn open_transactions_time_out_and_are_fenced() {
        let m = TransactionMetadata::new("t", 7, 1_000, 0)
            .init(1_000, None, || 0, 0)
            .unwrap();
        let m = m.add_partitions(7, 0, [tp("a", 0)], 10).unwrap();
        assert_eq!(m.init(1_000, None, || 0, 11), Err(TxnError::ConcurrentTransactions));
        assert!(!m.timed_out(1_010) && m.timed_out(1_011));
        let f = m.fence_and_abort(1_011).unwrap();
        assert_eq!((f.state, f.producer_epoch), (TxnState::PrepareAbort, 1));
        assert_eq!(f.complete(1_012).unwrap().state, TxnState::CompleteAbort);
        assert!(f.complete(1_012).unwrap().fence_and_abort(2_000).is_none());
    }
}
