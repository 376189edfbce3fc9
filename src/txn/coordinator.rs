//! The transaction coordinator: Kafka's `TransactionCoordinator` and
//! `TransactionStateManager` for one broker.
//!
//! Owns: every transactional id's [`TransactionMetadata`], made durable in
//! `__transaction_state` (Kafka's record formats, partition `abs(hash(id)) % n`) before it
//! is applied or answered; writing the transaction markers; aborting transactions that
//! outlive their timeout; forgetting idle transactional ids; and the check that a
//! transactional write goes to a partition of the producer's ongoing transaction
//! (KIP-890's partition verification, answered locally).
//!
//! Ending a transaction: PrepareCommit/PrepareAbort is stored, then the markers are
//! written to every partition of the transaction (`__consumer_offsets` ones through the
//! group coordinator, which settles pending TxnOffsetCommits), then
//! CompleteCommit/CompleteAbort is stored. EndTxn is answered after the markers, so a
//! client's next transaction never waits on CONCURRENT_TRANSACTIONS. If the broker dies in
//! between, start-up finds the Prepare state and finishes the markers before serving.
//!
//! Concurrency: one async lock per transactional id serialises its operations; a
//! transactional append holds the id's `appends` lock shared from verification to append,
//! and markers are written holding it exclusively, so no write can land after its
//! transaction's marker.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::{OwnedRwLockReadGuard, RwLock, watch};

use super::ProducerIdManager;
use super::records;
use super::state::{TransactionMetadata, TxnError, TxnState};
use crate::group::coordinator::TXN_COORDINATOR_EPOCH;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::internal::{InternalTopic, Item, read_all};
use crate::log::{LogError, LogManager, now_ms};
use crate::replica::leader_write::LeaderWriteError;

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Coordinator settings (Kafka's `transaction.*` keys; defaults in `config.rs`).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transaction.state.log.num.partitions`.
    pub state_log_partitions: i32,
    /// `transaction.state.log.segment.bytes`.
    pub state_log_segment_bytes: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval_ms: u64,
    /// `transactional.id.expiration.ms`: idle ids (no open transaction) are forgotten.
    pub id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_interval_ms: u64,
    /// `transaction.state.log.replication.factor` as given (a cluster's default is
    /// Kafka's, 3).
    pub state_log_replication_factor: Option<i32>,
    /// `transaction.state.log.min.isr`: `__transaction_state`'s `min.insync.replicas` in a
    /// cluster (Kafka's default, 2).
    pub state_log_min_isr: i32,
    /// The broker is in a cluster: partitions load as this broker leads them.
    pub in_cluster: bool,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            state_log_partitions: 50,
            state_log_segment_bytes: 104_857_600,
            abort_interval_ms: 10_000,
            id_expiration_ms: 604_800_000,
            remove_interval_ms: 3_600_000,
            state_log_replication_factor: None,
            state_log_min_isr: 2,
            in_cluster: false,
        }
    }
}

/// One transactional id.
#[derive(Debug)]
pub(super) struct Entry {
    /// Serialises the coordinator's operations on this id (held across log writes).
    op: Arc<tokio::sync::Mutex<()>>,
    /// The current, durable metadata (replaced only under `op`).
    meta: Mutex<TransactionMetadata>,
    /// Shared by transactional appends, exclusive while markers are written.
    appends: Arc<RwLock<()>>,
    /// In a cluster, the leader epoch of the id's partition this entry was loaded or
    /// created at: it writes (states, markers) only while coordinated at that epoch.
    pub(super) epoch: Option<i32>,
}

impl Entry {
    fn new(meta: TransactionMetadata, epoch: Option<i32>) -> Arc<Self> {
        Arc::new(Entry {
            op: Arc::new(tokio::sync::Mutex::new(())),
            meta: Mutex::new(meta),
            appends: Arc::new(RwLock::new(())),
            epoch,
        })
    }
    fn meta(&self) -> TransactionMetadata {
        self.meta.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Held by a transactional append from its verification until it is in the log.
#[derive(Debug)]
pub struct AppendGuard {
    _guard: OwnedRwLockReadGuard<()>,
}

/// The transaction coordinator shared by all handlers.
#[derive(Debug)]
pub struct TransactionCoordinator {
    config: TxnConfig,
    log: InternalTopic,
    groups: Arc<GroupCoordinator>,
    producer_ids: Arc<ProducerIdManager>,
    entries: DashMap<String, Arc<Entry>>,
    /// Producer id → its transactional id's entry (for verifying transactional appends).
    by_pid: DashMap<i64, Arc<Entry>>,
    /// In a cluster: the partitions of `__transaction_state` coordinated here, and the
    /// other brokers.
    cluster: std::sync::OnceLock<Arc<super::cluster::TxnClusterLink>>,
}

/// A failure writing the transaction state log or a marker.
fn storage(e: impl std::fmt::Display) -> TxnError {
    TxnError::Storage(e.to_string())
}

impl TransactionCoordinator {
    pub fn new(
        logs: Arc<LogManager>,
        config: TxnConfig,
        groups: Arc<GroupCoordinator>,
        producer_ids: Arc<ProducerIdManager>,
    ) -> Self {
        let mut overrides = BTreeMap::new();
        // Kafka's settings: the log cleaner keeps the newest state per transactional id, and
        // nothing is deleted by time or size.
        overrides.insert("cleanup.policy".to_string(), "compact".to_string());
        overrides.insert("segment.bytes".to_string(), config.state_log_segment_bytes.to_string());
        // Every state change is fsynced before it is acted on, whatever the data topics'
        // flush policy: a partition must never hold a transactional batch, or a commit marker,
        // that a power loss could make the coordinator forget.
        overrides.insert("flush.messages".to_string(), "1".to_string());
        let log = InternalTopic::new(logs, TRANSACTION_STATE_TOPIC, config.state_log_partitions, overrides);
        TransactionCoordinator {
            config,
            log,
            groups,
            producer_ids,
            entries: DashMap::new(),
            by_pid: DashMap::new(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// Makes sure `__transaction_state` exists (FindCoordinator does, as in Kafka). In a
    /// cluster the controller creates it (`Broker::ensure_internal_topic_in_cluster`).
    pub async fn ensure_topic(&self) -> Result<(), TxnError> {
        if self.cluster().is_some() {
            return Ok(());
        }
        self.log.topic().await.map(|_| ()).map_err(storage)
    }

    pub(super) fn cluster_slot(&self) -> &std::sync::OnceLock<Arc<super::cluster::TxnClusterLink>> {
        &self.cluster
    }

    /// The coordinator's place in a cluster (None on a single broker).
    pub(super) fn cluster(&self) -> Option<&Arc<super::cluster::TxnClusterLink>> {
        self.cluster.get()
    }

    pub(super) fn logs(&self) -> &Arc<LogManager> {
        self.log.logs()
    }

    pub(super) fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    async fn fresh_producer_id(&self) -> Result<i64, TxnError> {
        self.producer_ids.next_id_async().await.map_err(storage)
    }

    /// Stores `next` in `__transaction_state`, then makes it current.
    async fn store(&self, entry: &Arc<Entry>, next: TransactionMetadata) -> Result<(), TxnError> {
        let id = next.transactional_id.clone();
        let recs = [(records::key(&id), Some(records::value(&next)))];
        self.append_state(entry.epoch, &id, &recs).await?;
        self.publish(entry, next);
        Ok(())
    }

    /// Appends `recs` to `id`'s partition of `__transaction_state` (in a cluster, one
    /// coordinated here at `epoch`, answered once its in-sync replicas hold them).
    async fn append_state(
        &self,
        epoch: Option<i32>,
        id: &str,
        recs: &[(Bytes, Option<Bytes>)],
    ) -> Result<(), TxnError> {
        match self.cluster() {
            Some(c) => c.append_state(self.logs(), epoch, id, recs).await,
            None => self.log.append(id, recs, None).await.map(drop).map_err(storage),
        }
    }

    fn publish(&self, entry: &Arc<Entry>, next: TransactionMetadata) {
        let pid = next.producer_id;
        let old = std::mem::replace(&mut *entry.meta.lock().unwrap_or_else(|p| p.into_inner()), next);
        if old.producer_id != pid {
            self.by_pid.remove_if(&old.producer_id, |_, e| Arc::ptr_eq(e, entry));
        }
        // An entry forgotten meanwhile (its partition resigned) is not found again by pid.
        let current = self
            .entries
            .get(&old.transactional_id)
            .is_some_and(|e| Arc::ptr_eq(e.value(), entry));
        if current {
            self.by_pid.insert(pid, entry.clone());
        }
    }

    /// InitProducerId with a transactional id: the producer id and the bumped epoch. An
    /// open transaction is aborted first (its producer is fenced); one completing is
    /// finished first. `expected` is KIP-360's (producer id, epoch) of the caller.
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        if let Some(e) = self.not_here(transactional_id) {
            return Err(e);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let (entry, _op) = self.live_entry_or_create(transactional_id, timeout_ms).await?;
        let mut meta = entry.meta();
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            // Markers that failed earlier: finish them now (the client retries meanwhile).
            self.write_markers_and_complete(&entry, meta.clone())
                .await
                .map_err(|_| TxnError::ConcurrentTransactions)?;
            meta = entry.meta();
        }
        if meta.state == TxnState::Ongoing {
            if let Some((pid, epoch)) = expected
                && (pid != meta.producer_id || epoch != meta.producer_epoch)
            {
                return Err(TxnError::ProducerFenced);
            }
            // The client retries on CONCURRENT_TRANSACTIONS until the abort is complete.
            self.abort(&entry, &meta)
                .await
                .map_err(|_| TxnError::ConcurrentTransactions)?;
            meta = entry.meta();
            // The fence already moved the epoch on; the caller's is now the previous one.
            let next = meta.init(timeout_ms, None, || -1, now_ms())?;
            let next = self.renew_if_exhausted(next).await?;
            let answer = (next.producer_id, next.producer_epoch);
            self.store(&entry, next).await?;
            return Ok(answer);
        }
        let next = meta.init(timeout_ms, expected, || -1, now_ms())?;
        if next == meta {
            // A retried InitProducerId: the same answer again.
            return Ok((meta.producer_id, meta.producer_epoch));
        }
        let next = self.renew_if_exhausted(next).await?;
        let answer = (next.producer_id, next.producer_epoch);
        self.store(&entry, next).await?;
        Ok(answer)
    }

    /// The id's entry, created (with a fresh producer id at epoch -1, as Kafka) if
    /// unknown, and its operation lock. An entry that expired while we waited for its lock
    /// is looked up again.
    async fn live_entry_or_create(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
    ) -> Result<(Arc<Entry>, tokio::sync::OwnedMutexGuard<()>), TxnError> {
        if self.is_offline(transactional_id) {
            return Err(TxnError::NotCoordinator);
        }
        if let Some(e) = self.not_here(transactional_id) {
            return Err(e);
        }
        for _ in 0..3 {
            let entry = match self.entries.get(transactional_id).map(|e| e.clone()) {
                Some(e) => e,
                None => {
                    let pid = self.fresh_producer_id().await?;
                    let created = Entry::new(
                        TransactionMetadata::new(transactional_id, pid, timeout_ms, now_ms()),
                        self.election_of(transactional_id),
                    );
                    self.entries
                        .entry(transactional_id.to_string())
                        .or_insert(created)
                        .clone()
                }
            };
            let op = entry.op.clone().lock_owned().await;
            if entry.meta().state != TxnState::Dead {
                return Ok((entry, op));
            }
        }
        Err(TxnError::ConcurrentTransactions)
    }

    /// An existing id's entry and its operation lock (an id that expired meanwhile is
    /// unknown).
    async fn locked_entry(
        &self,
        transactional_id: &str,
    ) -> Result<(Arc<Entry>, tokio::sync::OwnedMutexGuard<()>), TxnError> {
        if self.is_offline(transactional_id) {
            return Err(TxnError::NotCoordinator);
        }
        let entry = self.entry(transactional_id)?;
        let op = entry.op.clone().lock_owned().await;
        if entry.meta().state == TxnState::Dead {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        Ok((entry, op))
    }

    /// `init` signals an exhausted epoch with producer id -1: a fresh id replaces it.
    async fn renew_if_exhausted(&self, mut next: TransactionMetadata) -> Result<TransactionMetadata, TxnError> {
        if next.producer_id == -1 {
            next.producer_id = self.fresh_producer_id().await?;
        }
        Ok(next)
    }

    /// `transactional_id`'s `__transaction_state` partition is in a failed log dir: the id
    /// is not coordinated here until a restart (NOT_COORDINATOR; FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE).
    pub fn is_offline(&self, transactional_id: &str) -> bool {
        self.log.is_offline(transactional_id)
    }

    fn entry(&self, transactional_id: &str) -> Result<Arc<Entry>, TxnError> {
        if self.is_offline(transactional_id) {
            return Err(TxnError::NotCoordinator);
        }
        if let Some(e) = self.not_here(transactional_id) {
            return Err(e);
        }
        self.entries
            .get(transactional_id)
            .map(|e| e.clone())
            .ok_or(TxnError::InvalidProducerIdMapping)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn's `__consumer_offsets` partition); the
    /// caller checked the partitions exist. Nothing is written when all are already in.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        pid: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), TxnError> {
        let (entry, _op) = self.locked_entry(transactional_id).await?;
        let meta = entry.meta();
        let next = meta.add_partitions(pid, epoch, partitions, now_ms())?;
        if meta.state == TxnState::Ongoing && next.partitions == meta.partitions {
            return Ok(());
        }
        self.store(&entry, next).await
    }

    /// AddPartitionsToTxn v4+ `verify_only`: whether every partition is in the producer's
    /// ongoing transaction (no change is made).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, TxnError> {
        let meta = self.entry(transactional_id)?.meta();
        check_producer(&meta, pid, epoch)?;
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|tp| meta.state == TxnState::Ongoing && meta.partitions.contains(tp))
            .collect())
    }

    /// Admits a transactional append of producer `pid` at `epoch` to `topic`-`partition`:
    /// the partition must be in the producer's ongoing transaction. Hold the guard until
    /// the batch is in the log.
    pub async fn begin_append(
        &self,
        transactional_id: &str,
        pid: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<AppendGuard, TxnError> {
        // The request's transactional id must be the one the producer id belongs to.
        let entry = self.entry(transactional_id)?;
        admit(&entry, pid, epoch, topic, partition).await
    }

    /// Admits a TxnOffsetCommit of `transactional_id`'s producer for the group stored in
    /// `__consumer_offsets` partition `partition` (added by AddOffsetsToTxn).
    pub async fn begin_offset_commit(
        &self,
        transactional_id: &str,
        pid: i64,
        epoch: i16,
        partition: i32,
    ) -> Result<AppendGuard, TxnError> {
        let entry = self.entry(transactional_id)?;
        admit(&entry, pid, epoch, OFFSETS_TOPIC, partition).await
    }

    /// EndTxn: commits or aborts the producer's transaction; answered once the markers are
    /// written. A retry of a completed end succeeds.
    pub async fn end_txn(&self, transactional_id: &str, pid: i64, epoch: i16, commit: bool) -> Result<(), TxnError> {
        let (entry, _op) = self.locked_entry(transactional_id).await?;
        let meta = entry.meta();
        let Some(prepared) = meta.prepare_end(pid, epoch, commit, now_ms())? else {
            return Ok(());
        };
        self.store(&entry, prepared.clone()).await?;
        crate::failpoint::hit("txn-before-markers");
        // The outcome is decided once PrepareCommit/PrepareAbort is durable (Kafka answers
        // here): markers that fail now are retried by the maintenance pass, and the
        // producer's next transaction waits on CONCURRENT_TRANSACTIONS until they are in.
        if let Err(e) = self.write_markers_and_complete(&entry, prepared).await {
            tracing::error!(transactional_id, error = %e, "writing transaction markers failed; retrying later");
        }
        Ok(())
    }

    /// The coordinator's abort of `meta`'s open transaction: the epoch is bumped (fencing
    /// the producer), then it ends like an EndTxn abort. Call holding `op`.
    async fn abort(&self, entry: &Arc<Entry>, meta: &TransactionMetadata) -> Result<(), TxnError> {
        let Some(fenced) = meta.fence_and_abort(now_ms()) else {
            return Ok(());
        };
        self.store(entry, fenced.clone()).await?;
        self.write_markers_and_complete(entry, fenced).await
    }

    /// Writes the markers of `prepared` (a durable PrepareCommit/PrepareAbort), then stores
    /// the Complete state. Partitions of deleted topics get no marker (as in Kafka). Call
    /// holding `op`.
    async fn write_markers_and_complete(
        &self,
        entry: &Arc<Entry>,
        prepared: TransactionMetadata,
    ) -> Result<(), TxnError> {
        let commit = prepared.state == TxnState::PrepareCommit;
        {
            let _exclusive = entry.appends.write().await;
            // Every partition gets its marker even if another's fails (one in a failed log
            // dir must not hold back the others' last stable offset); the transaction
            // completes once all have one (the maintenance pass retries).
            if self.cluster().is_some() {
                self.write_markers_in_cluster(entry, &prepared, commit).await?;
            } else {
                let mut failed = None;
                for (topic, partition) in &prepared.partitions {
                    let written = write_marker(
                        &self.log,
                        &self.groups,
                        topic,
                        *partition,
                        prepared.producer_id,
                        prepared.producer_epoch,
                        commit,
                    )
                    .await;
                    if let Err(e) = written {
                        failed.get_or_insert(e);
                    }
                }
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        let Some(done) = prepared.complete(now_ms()) else {
            return Err(TxnError::InvalidTxnState);
        };
        self.store(entry, done).await
    }

    /// DescribeTransactions: the id's current metadata.
    pub fn describe(&self, transactional_id: &str) -> Option<TransactionMetadata> {
        self.entries.get(transactional_id).map(|e| e.meta())
    }

    /// ListTransactions: every id's current metadata (not those of an offline
    /// `__transaction_state` partition, which are not coordinated here).
    pub fn list(&self) -> Vec<TransactionMetadata> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .filter(|e| !self.is_offline(e.key()))
            .map(|e| e.meta())
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    /// One pass of the background work: aborts transactions past their timeout, retries
    /// markers that failed, and forgets ids idle longer than `transactional.id.expiration.ms`.
    pub async fn maintain(&self, expire_ids: bool) {
        let now = now_ms();
        let entries: Vec<Arc<Entry>> = self.entries.iter().map(|e| e.value().clone()).collect();
        for entry in entries {
            let meta = entry.meta();
            let stuck = matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
            if meta.timed_out(now) || stuck {
                let _op = entry.op.lock().await;
                let meta = entry.meta();
                let result = if meta.timed_out(now_ms()) {
                    tracing::info!(transactional_id = %meta.transactional_id, producer_id = meta.producer_id,
                        timeout_ms = meta.timeout_ms, "aborting a transaction that timed out");
                    self.abort(&entry, &meta).await
                } else if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                    self.write_markers_and_complete(&entry, meta.clone()).await
                } else {
                    Ok(())
                };
                if let Err(e) = result {
                    tracing::error!(transactional_id = %meta.transactional_id, error = %e, "ending a transaction failed; retrying later");
                }
            } else if expire_ids && self.idle_expired(&meta, now) {
                self.expire(&entry).await;
            }
        }
    }

    fn idle_expired(&self, meta: &TransactionMetadata, now: i64) -> bool {
        matches!(
            meta.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && now.saturating_sub(meta.last_update_ms) >= self.config.id_expiration_ms
    }

    /// Forgets an idle transactional id: a tombstone, then it leaves the maps.
    async fn expire(&self, entry: &Arc<Entry>) {
        let _op = entry.op.lock().await;
        let meta = entry.meta();
        if !self.idle_expired(&meta, now_ms()) {
            return;
        }
        let id = meta.transactional_id.clone();
        let recs = [(records::key(&id), None::<Bytes>)];
        if let Err(e) = self.append_state(entry.epoch, &id, &recs).await {
            tracing::error!(transactional_id = %id, error = %e, "removing an expired transactional id failed");
            return;
        }
        tracing::info!(transactional_id = %id, "removed an expired transactional id");
        self.entries.remove_if(&id, |_, e| Arc::ptr_eq(e, entry));
        self.by_pid.remove_if(&meta.producer_id, |_, e| Arc::ptr_eq(e, entry));
        let mut dead = meta;
        dead.state = TxnState::Dead;
        *entry.meta.lock().unwrap_or_else(|p| p.into_inner()) = dead;
    }

    /// Compacts `__transaction_state` (until brokk has a log cleaner): for each partition
    /// that has rolled a segment, every live transactional id stored there appends its
    /// current state again (under its lock, so in order with its own writes); then every
    /// record below the partition's previous end is superseded and the sealed segments
    /// ending there are removed. Returns the number of segments removed.
    pub async fn compact_log(&self) -> usize {
        let Some(topic) = self.log.existing() else {
            return 0;
        };
        let n = topic.partitions.len() as i32;
        let mut removed = 0;
        for p in &topic.partitions {
            if p.segment_count() < 2 {
                continue;
            }
            // In a cluster, the leader compacts; followers take its log start.
            if let Some(c) = self.cluster()
                && c.ownership.gate(p.index()).is_none()
            {
                continue;
            }
            let cut = p.log_end_offset();
            // Read the ids after the cut: one whose records lie below it was already there.
            let entries: Vec<Arc<Entry>> = self
                .entries
                .iter()
                .filter(|e| crate::log::internal::partition_for(e.key(), n) == p.index())
                .map(|e| e.value().clone())
                .collect();
            let mut rewritten = true;
            for entry in entries {
                let _op = entry.op.lock().await;
                let meta = entry.meta();
                if meta.state == TxnState::Dead {
                    continue; // expired meanwhile: its tombstone needs no copy
                }
                if let Err(e) = self.store(&entry, meta).await {
                    tracing::warn!(partition = p.index(), error = %e, "__transaction_state compaction skipped");
                    rewritten = false;
                    break;
                }
            }
            if !rewritten {
                continue;
            }
            removed += crate::log::internal::drop_superseded(p, cut).await;
        }
        removed
    }

    /// Runs [`Self::maintain`] every `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    /// (expiring ids and compacting the log every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`) until shutdown.
    pub async fn run_maintenance(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_millis(self.config.abort_interval_ms.max(1));
        let expire_every = Duration::from_millis(self.config.remove_interval_ms.max(1));
        let mut last_expiry = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {
                    let expire = last_expiry.elapsed() >= expire_every;
                    if expire {
                        last_expiry = tokio::time::Instant::now();
                    }
                    self.maintain(expire).await;
                    if expire {
                        self.compact_log().await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Rebuilds every transactional id from `__transaction_state` and finishes the
    /// transactions that were ending when the broker stopped (their markers are written
    /// again; a partition that already has one gets a harmless second). Call before serving,
    /// after the group coordinator loaded.
    pub async fn load(&self) -> Result<usize, TxnError> {
        if self.config.in_cluster {
            // Each partition loads once this broker leads it (see `cluster.rs`).
            return Ok(0);
        }
        let Some(topic) = self.log.existing() else {
            self.abort_hanging_transactions().await;
            return Ok(0);
        };
        let mut latest: HashMap<String, Option<TransactionMetadata>> = HashMap::new();
        for p in &topic.partitions {
            if p.is_offline() {
                // Its transactional ids answer NOT_COORDINATOR (see `is_offline`).
                tracing::error!(
                    partition = p.index(),
                    "__transaction_state partition offline: its transactional ids are not loaded"
                );
                continue;
            }
            let pc = p.clone();
            let items = tokio::task::spawn_blocking(move || read_all(&pc))
                .await
                .map_err(storage)?
                .map_err(storage)?;
            read_states(items, &mut latest);
        }
        let pending = self.install(latest, None);
        for (entry, meta) in pending {
            tracing::info!(transactional_id = %meta.transactional_id, state = meta.state.name(),
                "finishing a transaction that was ending at shutdown");
            let _op = entry.op.lock().await;
            if let Err(e) = self.write_markers_and_complete(&entry, meta).await {
                tracing::error!(error = %e, "finishing a transaction failed; retrying later");
            }
        }
        self.abort_hanging_transactions().await;
        Ok(self.entries.len())
    }

    /// Serves the transactional ids read from the log; returns those whose transaction
    /// was ending (Prepare states), whose markers are to be written again.
    pub(super) fn install(
        &self,
        latest: HashMap<String, Option<TransactionMetadata>>,
        epoch: Option<i32>,
    ) -> Vec<(Arc<Entry>, TransactionMetadata)> {
        let mut pending = vec![];
        for (id, meta) in latest {
            let Some(mut meta) = meta else { continue };
            if meta.state == TxnState::Dead {
                continue;
            }
            if meta.state == TxnState::PrepareEpochFence {
                // Never written by brokk; Kafka's meaning is "abort this open transaction".
                meta.state = TxnState::Ongoing;
            }
            let entry = Entry::new(meta.clone(), epoch);
            self.by_pid.insert(meta.producer_id, entry.clone());
            self.entries.insert(id, entry.clone());
            if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                pending.push((entry, meta));
            }
        }
        pending
    }

    /// Forgets the transactional ids `gone` says are no longer coordinated here.
    pub(super) fn forget_where(&self, gone: impl Fn(&str) -> bool) -> usize {
        let ids: Vec<(String, Arc<Entry>)> = self
            .entries
            .iter()
            .filter(|e| gone(e.key()))
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        for (id, entry) in &ids {
            self.entries.remove_if(id, |_, e| Arc::ptr_eq(e, entry));
            let pid = entry.meta().producer_id;
            self.by_pid.remove_if(&pid, |_, e| Arc::ptr_eq(e, entry));
        }
        ids.len()
    }

    /// Finishes the transactions `pending` (loaded in a Prepare state), each under its lock.
    pub(super) async fn finish_pending(&self, pending: Vec<(Arc<Entry>, TransactionMetadata)>) {
        for (entry, meta) in pending {
            tracing::info!(transactional_id = %meta.transactional_id, state = meta.state.name(),
                "finishing a transaction its previous coordinator was ending");
            let _op = entry.op.lock().await;
            if entry.meta() != meta {
                continue;
            }
            if let Err(e) = self.write_markers_and_complete(&entry, meta).await {
                tracing::error!(error = %e, "finishing a transaction failed; retrying later");
            }
        }
    }

    /// Start-up safety net (Kafka's KIP-664 remedy, applied automatically): a partition
    /// holding an open transaction that no transactional id accounts for (its producer's
    /// transaction is not Ongoing with that partition) would pin its last stable offset
    /// forever, so it gets an abort marker.
    async fn abort_hanging_transactions(&self) {
        // With a __transaction_state partition offline its ids are not loaded: a
        // transaction that looks hanging may be one of theirs (even committed, its markers
        // not yet written), so nothing is aborted until every partition is back.
        if let Some(t) = self.log.existing()
            && t.partitions.iter().any(|p| p.is_offline())
        {
            tracing::warn!("a __transaction_state partition is offline: hanging transactions are not looked for");
            return;
        }
        for topic in self.log.logs().topics() {
            for p in &topic.partitions {
                for (pid, epoch) in p.open_transactions() {
                    let known = self.by_pid.get(&pid).is_some_and(|e| {
                        let m = e.meta();
                        m.producer_id == pid
                            && matches!(
                                m.state,
                                TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
                            )
                            && m.partitions.contains(&(p.topic().to_string(), p.index()))
                    });
                    if known {
                        continue;
                    }
                    tracing::warn!(
                        topic = p.topic(),
                        partition = p.index(),
                        producer_id = pid,
                        "aborting a hanging transaction no transactional id accounts for"
                    );
                    let aborted = write_marker(&self.log, &self.groups, p.topic(), p.index(), pid, epoch, false).await;
                    if let Err(e) = aborted {
                        tracing::error!(topic = p.topic(), partition = p.index(), error = %e, "aborting a hanging transaction failed");
                    }
                }
            }
        }
    }
}

/// Applies one partition's records, in log order: the latest state of each transactional
/// id (`None`: a tombstone).
pub(super) fn read_states(items: Vec<Item>, latest: &mut HashMap<String, Option<TransactionMetadata>>) {
    for item in items {
        let Item::Record { key, value, .. } = item else {
            continue;
        };
        let Some(id) = records::decode_key(&key) else {
            tracing::warn!("skipping an unreadable __transaction_state key");
            continue;
        };
        match value {
            None => {
                latest.insert(id, None);
            }
            Some(v) => match records::decode_value(&id, &v) {
                Some(m) => {
                    latest.insert(id, Some(m));
                }
                None => {
                    tracing::warn!(transactional_id = %id, "skipping an unreadable __transaction_state value")
                }
            },
        }
    }
}

/// Admits a write of `pid`/`epoch` to `topic`-`partition` if it is in the entry's ongoing
/// transaction; the guard keeps the transaction's markers out until it is dropped.
async fn admit(entry: &Arc<Entry>, pid: i64, epoch: i16, topic: &str, partition: i32) -> Result<AppendGuard, TxnError> {
    let guard = entry.appends.clone().read_owned().await;
    let meta = entry.meta.lock().unwrap_or_else(|p| p.into_inner());
    check_producer(&meta, pid, epoch)?;
    match meta.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => Err(TxnError::ConcurrentTransactions),
        TxnState::Ongoing if meta.partitions.contains(&(topic.to_string(), partition)) => {
            drop(meta);
            Ok(AppendGuard { _guard: guard })
        }
        _ => Err(TxnError::InvalidTxnState),
    }
}

/// Checks that `pid`/`epoch` is the id's current producer.
fn check_producer(meta: &TransactionMetadata, pid: i64, epoch: i16) -> Result<(), TxnError> {
    if pid != meta.producer_id {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if epoch != meta.producer_epoch {
        return Err(TxnError::ProducerFenced);
    }
    Ok(())
}

/// Writes one transaction marker to `topic`-`partition` of a single broker (nothing if
/// it no longer exists).
async fn write_marker(
    log: &InternalTopic,
    groups: &GroupCoordinator,
    topic: &str,
    partition: i32,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), TxnError> {
    let marker = super::markers::Marker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: TXN_COORDINATOR_EPOCH,
        commit,
    };
    let written = super::markers::write_local(log.logs(), groups, None, topic, partition, marker)
        .await
        .map_err(|e| match e {
            LeaderWriteError::Log(e) => e,
            e => LogError::Invalid(e.to_string()),
        });
    match written {
        Ok(()) | Err(LogError::PartitionDeleted) => Ok(()),
        Err(LogError::InvalidProducerEpoch(msg)) => {
            // The partition saw a newer epoch of this producer: its transaction there was
            // already ended by a later marker.
            tracing::warn!(topic, partition, producer_id = pid, %msg, "transaction marker not needed");
            Ok(())
        }
        Err(e) => Err(storage(format!("writing the marker to {topic}-{partition}: {e}"))),
    }
}
