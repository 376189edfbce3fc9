//! Which transactions the cleaner is inside of while it walks a log (Kafka's
//! CleanedTransactionMetadata): the batches of aborted transactions are dropped, and a
//! marker is kept while any batch of its transaction was seen in this pass.
//!
//! The cleaner never goes past the last stable offset, so every transaction it meets is
//! decided; aborted ones are known from the transaction indexes.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::log::record::batch::{self, BatchHeader};
use crate::log::segment::txn_index::AbortedTxn;

#[derive(Debug, Default)]
pub struct TxnMeta {
    /// Aborted transactions not reached yet, by first offset.
    pending: VecDeque<AbortedTxn>,
    /// Producer id -> (its aborted transaction, last offset of a batch of it seen).
    aborted: HashMap<i64, (AbortedTxn, Option<i64>)>,
    committed: HashSet<i64>,
    /// ABORT markers kept in this pass (the cleaned segment's `.txnindex` entries).
    pub kept_aborts: Vec<AbortedTxn>,
}

impl TxnMeta {
    pub fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|t| t.first_offset);
        Self {
            pending: aborted.into(),
            ..Self::default()
        }
    }

    fn consume_up_to(&mut self, offset: i64) {
        while self.pending.front().is_some_and(|t| t.first_offset <= offset) {
            if let Some(t) = self.pending.pop_front() {
                self.aborted.entry(t.producer_id).or_insert((t, None));
            }
        }
    }

    /// A data batch: true if it belongs to an aborted transaction (it may be discarded).
    pub fn on_batch(&mut self, h: &BatchHeader<'_>) -> bool {
        self.consume_up_to(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        if let Some((_, seen)) = self.aborted.get_mut(&h.producer_id()) {
            *seen = Some(h.last_offset());
            return true;
        }
        self.committed.insert(h.producer_id());
        false
    }

    /// A control batch: true if it may be discarded (no batch of its transaction is left).
    pub fn on_control(&mut self, h: &BatchHeader<'_>) -> bool {
        self.consume_up_to(h.last_offset());
        if h.records_count() == 0 {
            return true;
        }
        match batch::marker_is_commit(h) {
            Some(false) => match self.aborted.remove(&h.producer_id()) {
                Some((t, Some(_))) => {
                    self.kept_aborts.push(t);
                    false
                }
                _ => true,
            },
            Some(true) => !self.committed.remove(&h.producer_id()),
            None => false,
        }
    }
}
