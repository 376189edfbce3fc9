//! The transaction coordinator in a cluster: transactional ids move with the leadership
//! of their `__transaction_state` partition, and markers go to the partitions' leaders.
//!
//! - Election and resignation as the group coordinator's (`group/cluster.rs`): a
//!   partition led here is loaded to its log end (COORDINATOR_LOAD_IN_PROGRESS meanwhile),
//!   its transactions that were ending are finished (their markers written again), and
//!   its open ones go on (or time out) here; a partition led elsewhere now is forgotten
//!   (NOT_COORDINATOR). The coordinator epoch the markers carry is the partition's leader
//!   epoch, so a deposed coordinator's markers are fenced (TRANSACTION_COORDINATOR_FENCED).
//! - State records are written to the partition led here and answered once its in-sync
//!   replicas hold them (`transaction.state.log.min.isr`), within `request.timeout.ms`.
//! - Markers (Kafka's `TransactionMarkerChannelManager`): a partition led here is written
//!   directly; the others get WriteTxnMarkers at their leader, one request per leader,
//!   retried while leaders move; a partition whose topic is gone needs none.
//! - A transactional produce (or TxnOffsetCommit) to a partition led here, for an id
//!   coordinated elsewhere, is verified with that coordinator (AddPartitionsToTxn v4,
//!   `verify_only`, Kafka's `AddPartitionsToTxnManager`) unless the partition already holds
//!   the producer's open transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProducerId, TopicName, TransactionalId,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;

use super::coordinator::{Entry, TRANSACTION_STATE_TOPIC, TransactionCoordinator, read_states};
use super::markers::{MARKER_TIMEOUT, Marker, write_local};
use super::peers::Peers;
use super::state::{TransactionMetadata, TxnError};
use crate::log::internal::{encode_batch, load_to_log_end, partition_for};
use crate::log::manager::append_flushing;
use crate::log::partition::Origin;
use crate::log::{LogError, LogManager, Partition};
use crate::metadata::MetadataImage;
use crate::replica::Replication;
use crate::replica::leader_write::{LeaderWriteError, await_committed, check_leading};
use crate::replica::ownership::{self, Ownership, Standing};

/// How long a state record waits for the in-sync replicas (Kafka's `request.timeout.ms`).
const STATE_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Markers not written yet are tried again this often, for at most `MARKERS_TIMEOUT`
/// (Kafka's `request.timeout.ms`), before the maintenance pass takes over.
const MARKER_RETRY: Duration = Duration::from_millis(200);
const MARKERS_TIMEOUT: Duration = Duration::from_secs(30);

/// The coordinator's place in the cluster (set once, at start).
#[derive(Debug)]
pub struct TxnClusterLink {
    pub node_id: i32,
    pub ownership: Ownership,
    pub replication: Arc<Replication>,
    pub peers: Peers,
}

fn state_write_error(e: LeaderWriteError) -> TxnError {
    match e {
        // Kafka: NOT_LEADER_OR_FOLLOWER and KAFKA_STORAGE_ERROR become NOT_COORDINATOR.
        LeaderWriteError::NotLeader | LeaderWriteError::Log(LogError::Fenced | LogError::PartitionDeleted) => {
            TxnError::NotCoordinator
        }
        // NOT_ENOUGH_REPLICAS(_AFTER_APPEND) and REQUEST_TIMED_OUT: COORDINATOR_NOT_AVAILABLE.
        e => TxnError::Storage(e.to_string()),
    }
}

impl TxnClusterLink {
    /// Appends `recs` to `id`'s partition, coordinated (led) here; answered once its
    /// in-sync replicas hold them.
    pub async fn append_state(
        &self,
        logs: &LogManager,
        expected: Option<i32>,
        id: &str,
        recs: &[(Bytes, Option<Bytes>)],
    ) -> Result<(), TxnError> {
        let p = partition_for(id, self.ownership.count());
        let partition = logs
            .partition(TRANSACTION_STATE_TOPIC, p)
            .ok_or(TxnError::NotCoordinator)?;
        let now = crate::log::now_ms();
        let batch = encode_batch(recs, now, None);
        let (info, flush, state) = {
            let Some((epoch, _gate)) = self.ownership.gate(p) else {
                return Err(TxnError::NotCoordinator);
            };
            // An entry of an earlier election of this partition writes nothing.
            if expected.is_some_and(|e| e != epoch) {
                return Err(TxnError::NotCoordinator);
            }
            let state = check_leading(&self.replication, &partition, Some(epoch)).map_err(state_write_error)?;
            let (info, flush) = append_flushing(&partition, &batch, now, Origin::Client)
                .map_err(|e| state_write_error(LeaderWriteError::Log(e)))?;
            (info, flush, state)
        };
        await_committed(&self.replication, state, &info, flush, STATE_WRITE_TIMEOUT)
            .await
            .map_err(state_write_error)
    }

    /// Where the requests for `id` stand here.
    fn standing(&self, id: &str) -> Standing {
        self.ownership.standing(partition_for(id, self.ownership.count()))
    }
}

impl TransactionCoordinator {
    /// Joins the cluster: transactional ids are coordinated only where their partition is
    /// led here.
    pub fn join_cluster(
        &self,
        node_id: i32,
        listener: String,
        replication: Arc<Replication>,
        image: watch::Receiver<Arc<MetadataImage>>,
    ) {
        let _ = self.cluster_slot().set(Arc::new(TxnClusterLink {
            node_id,
            ownership: Ownership::default(),
            replication,
            peers: Peers::new(node_id, listener, image),
        }));
    }

    /// In a cluster, why `id` is not served here now, if it is not.
    pub(super) fn not_here(&self, id: &str) -> Option<TxnError> {
        match self.cluster()?.standing(id) {
            Standing::Coordinated(_) => None,
            Standing::Loading => Some(TxnError::LoadInProgress),
            Standing::Elsewhere => Some(TxnError::NotCoordinator),
        }
    }

    /// In a cluster, why `id` is not described here (NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS), if it is not.
    pub fn standing_error(&self, id: &str) -> Option<TxnError> {
        self.not_here(id)
    }

    /// In a cluster, the leader epoch `id`'s partition is coordinated here at (an entry
    /// created now belongs to that election).
    pub(super) fn election_of(&self, id: &str) -> Option<i32> {
        match self.cluster()?.standing(id) {
            Standing::Coordinated(epoch) => Some(epoch),
            _ => None,
        }
    }

    /// As [`crate::group::GroupCoordinator::elect`], for `__transaction_state`.
    pub fn elect(&self, count: i32, led: &[(i32, i32)]) -> Vec<(i32, i32)> {
        let Some(c) = self.cluster() else { return vec![] };
        c.ownership.set_count(count);
        let changes = ownership::elect(&mut c.ownership.write(), led);
        for p in changes.resigned {
            let n = self.forget_where(|id| partition_for(id, count) == p);
            tracing::info!(
                partition = p,
                transactional_ids = n,
                "resigned as the coordinator of {TRANSACTION_STATE_TOPIC}-{p}"
            );
        }
        changes.load
    }

    /// Loads each (partition, epoch) in the background.
    pub fn load_partitions(self: &Arc<Self>, to_load: Vec<(i32, i32)>) {
        for (p, epoch) in to_load {
            let me = self.clone();
            tokio::spawn(async move { me.load_partition(p, epoch).await });
        }
    }

    async fn load_partition(self: Arc<Self>, p: i32, epoch: i32) {
        let Some(c) = self.cluster().cloned() else { return };
        let started = std::time::Instant::now();
        let items = match load_to_log_end(self.logs(), TRANSACTION_STATE_TOPIC, p).await {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(partition = p, epoch, error = %e, "loading {TRANSACTION_STATE_TOPIC}-{p} failed: its transactional ids are not coordinated here");
                ownership::forget(&mut c.ownership.write(), p, epoch);
                return;
            }
        };
        let mut latest = HashMap::new();
        read_states(items, &mut latest);
        let n = latest.len();
        let pending = {
            let mut owned = c.ownership.write();
            match owned.get_mut(&p) {
                Some(o) if o.epoch == epoch && !o.loaded => {
                    let count = c.ownership.count();
                    self.forget_where(|id| partition_for(id, count) == p);
                    let pending = self.install(latest, Some(epoch));
                    o.loaded = true;
                    pending
                }
                _ => return,
            }
        };
        tracing::info!(
            partition = p,
            epoch,
            transactional_ids = n,
            ending = pending.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded {TRANSACTION_STATE_TOPIC}-{p}: coordinating its transactional ids"
        );
        self.finish_pending(pending).await;
    }

    /// Writes `prepared`'s markers to every partition of its transaction, wherever each
    /// is led (see the module doc). Call holding the id's locks.
    pub(super) async fn write_markers_in_cluster(
        &self,
        entry: &Entry,
        prepared: &TransactionMetadata,
        commit: bool,
    ) -> Result<(), TxnError> {
        let c = self.cluster().ok_or(TxnError::NotCoordinator)?.clone();
        // The coordinator epoch is the election the entry belongs to.
        let Some(election) = entry.epoch else {
            return Err(TxnError::NotCoordinator);
        };
        let marker = Marker {
            producer_id: prepared.producer_id,
            producer_epoch: prepared.producer_epoch,
            coordinator_epoch: election,
            commit,
        };
        let deadline = tokio::time::Instant::now() + MARKERS_TIMEOUT;
        let mut pending: BTreeSet<(String, i32)> = prepared.partitions.clone();
        let mut last_error = String::new();
        for attempt in 0.. {
            if attempt > 0 {
                if tokio::time::Instant::now() + MARKER_RETRY >= deadline {
                    break;
                }
                tokio::time::sleep(MARKER_RETRY).await;
            }
            // A resigned coordinator stops: the new one finishes the transaction.
            if self.election_of(&prepared.transactional_id) != Some(election) {
                return Err(TxnError::NotCoordinator);
            }
            let image = c.peers.image();
            let mut here = vec![];
            let mut elsewhere: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            pending.retain(|(t, p)| {
                // A deleted topic's partitions need no marker (Kafka drops them).
                let Some(leader) = image.topic(t).map(|ti| ti.partitions.get(p).map_or(-1, |x| x.leader)) else {
                    return false;
                };
                if leader == c.node_id {
                    here.push((t.clone(), *p));
                } else if leader >= 0 {
                    elsewhere.entry(leader).or_default().push((t.clone(), *p));
                }
                true
            });
            for (t, p) in here {
                let written = write_local(self.logs(), self.groups(), Some(&c.replication), &t, p, marker).await;
                match written {
                    // A newer epoch of the producer ended its transaction there already.
                    Ok(()) | Err(LeaderWriteError::Log(LogError::InvalidProducerEpoch(_))) => {
                        pending.remove(&(t, p));
                    }
                    Err(LeaderWriteError::Log(LogError::CoordinatorFenced(m))) => {
                        tracing::warn!(topic = %t, partition = p, %m, "a newer transaction coordinator wrote to the partition");
                        return Err(TxnError::NotCoordinator);
                    }
                    Err(e) => last_error = format!("{t}-{p}: {e}"),
                }
            }
            let mut sends = tokio::task::JoinSet::new();
            for (leader, tps) in elsewhere {
                sends.spawn(send_markers(c.clone(), leader, marker, tps));
            }
            while let Some(sent) = sends.join_next().await {
                let Ok((leader, answer)) = sent else { continue };
                let resp = match answer {
                    Ok(r) => r,
                    Err(e) => {
                        last_error = format!("broker {leader}: {e}");
                        continue;
                    }
                };
                for m in resp.markers {
                    for t in m.topics {
                        for p in t.partitions {
                            let tp = (t.name.0.to_string(), p.partition_index);
                            match ResponseError::try_from_code(p.error_code) {
                                None | Some(ResponseError::InvalidProducerEpoch) => {
                                    pending.remove(&tp);
                                }
                                Some(ResponseError::TransactionCoordinatorFenced) => {
                                    return Err(TxnError::NotCoordinator);
                                }
                                Some(e) => last_error = format!("{}-{} at broker {leader}: {e:?}", tp.0, tp.1),
                            }
                        }
                    }
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(TxnError::Storage(format!(
            "markers not written to {} partition(s): {last_error}",
            pending.len()
        )))
    }

    /// In a cluster, a transactional write by `pid`/`epoch` of `id` to `p` (led here)
    /// whose coordinator is another broker: verified there unless `p` already holds the
    /// producer's open transaction. `Ok(false)`: the id is coordinated here (verify
    /// locally).
    pub async fn verify_elsewhere(&self, id: &str, pid: i64, epoch: i16, p: &Partition) -> Result<bool, TxnError> {
        let Some(c) = self.cluster() else { return Ok(false) };
        match c.standing(id) {
            Standing::Coordinated(_) => return Ok(false),
            Standing::Loading => return Err(TxnError::LoadInProgress),
            Standing::Elsewhere => {}
        }
        if p.open_transactions().contains(&(pid, epoch)) {
            return Ok(true);
        }
        let image = c.peers.image();
        let t = image.topic(TRANSACTION_STATE_TOPIC).ok_or(TxnError::NotCoordinator)?;
        let coordinator = t
            .partitions
            .get(&partition_for(id, t.partitions.len() as i32))
            .map_or(-1, |x| x.leader);
        if coordinator < 0 || coordinator == c.node_id {
            return Err(TxnError::NotCoordinator);
        }
        let topic = AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_string(p.topic().to_string())))
            .with_partitions(vec![p.index()]);
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(id.to_string())))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(true)
            .with_topics(vec![topic]);
        let req = AddPartitionsToTxnRequest::default().with_transactions(vec![txn]);
        let resp: AddPartitionsToTxnResponse = c
            .peers
            .exchange(
                coordinator,
                ApiKey::AddPartitionsToTxn as i16,
                4,
                &req,
                MARKER_TIMEOUT,
            )
            .await
            .map_err(|e| {
                tracing::debug!(transactional_id = id, coordinator, error = %e, "verifying a transactional write failed");
                TxnError::NotCoordinator
            })?;
        let code = match resp.error_code {
            0 => resp
                .results_by_transaction
                .iter()
                .flat_map(|r| r.topic_results.iter())
                .flat_map(|t| t.results_by_partition.iter())
                .map(|r| r.partition_error_code)
                .find(|c| *c != 0)
                .unwrap_or(0),
            e => e,
        };
        match ResponseError::try_from_code(code) {
            None => Ok(true),
            Some(ResponseError::TransactionAbortable | ResponseError::InvalidTxnState) => {
                Err(TxnError::InvalidTxnState)
            }
            Some(ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced) => Err(TxnError::ProducerFenced),
            Some(ResponseError::InvalidProducerIdMapping) => Err(TxnError::InvalidProducerIdMapping),
            Some(ResponseError::ConcurrentTransactions) => Err(TxnError::ConcurrentTransactions),
            Some(_) => Err(TxnError::NotCoordinator),
        }
    }
}

/// One WriteTxnMarkers (v1) to `leader` for `tps`.
async fn send_markers(
    c: Arc<TxnClusterLink>,
    leader: i32,
    m: Marker,
    tps: Vec<(String, i32)>,
) -> (i32, Result<WriteTxnMarkersResponse, String>) {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t).or_default().push(p);
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(t)))
                .with_partition_indexes(ps)
        })
        .collect();
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(m.producer_id))
        .with_producer_epoch(m.producer_epoch)
        .with_transaction_result(m.commit)
        .with_coordinator_epoch(m.coordinator_epoch)
        .with_topics(topics);
    let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let answer = c
        .peers
        .exchange(
            leader,
            ApiKey::WriteTxnMarkers as i16,
            1,
            &req,
            MARKER_TIMEOUT + Duration::from_secs(5),
        )
        .await;
    (leader, answer)
}
