//! One controller's membership of the quorum: its Raft node over the metadata log, the
//! CONTROLLER listener serving its peers, and what the broker needs from it (proposing a
//! record, following the image, knowing the leader).
//!
//! The voters are static, as Kafka's `controller.quorum.voters`: a node whose log, vote and
//! snapshots are all empty initializes the quorum with them (every voter does the same,
//! which openraft allows: the same membership entry at index 0 on each), and from then on
//! the log holds the membership. Timeouts follow Kafka's keys: an election starts after
//! `controller.quorum.election.timeout.ms` to twice that without a leader's word; the
//! leader's heartbeats come three times per timeout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::log_store::MetadataLogStore;
use super::network::QuorumNetwork;
use super::state_machine::MetadataStateMachine;
use super::{ControllerNode, NodeId, Quorum, server};
use crate::log::{LogConfig, LogError, LogManager};
use crate::metadata::{MetadataImage, MetadataRecord};

/// Entries between snapshots (Kafka snapshots every 20 MiB of metadata records,
/// `metadata.log.max.record.bytes.between.snapshots`: about this many of its small records).
const ENTRIES_BETWEEN_SNAPSHOTS: u64 = 100_000;

/// What a controller needs to join the quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// `node.id`.
    pub node_id: NodeId,
    /// `controller.quorum.voters`: every voter's controller listener.
    pub voters: BTreeMap<NodeId, ControllerNode>,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
}

/// Why a proposal was not committed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// This controller does not lead the quorum (Kafka's NOT_CONTROLLER); the leader, if
    /// known.
    #[error("not the active controller (leader: {0:?})")]
    NotLeader(Option<NodeId>),
    #[error("the quorum failed: {0}")]
    Failed(String),
    /// Not committed within [`PROPOSE_TIMEOUT`] (no majority answers).
    #[error("not committed in time")]
    TimedOut,
}

/// How long a proposal may wait to be committed (a leader cut off from its majority keeps
/// trying; the caller answers REQUEST_TIMED_OUT and the client retries).
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// A running member of the quorum.
pub struct QuorumNode {
    pub node_id: NodeId,
    raft: Raft<Quorum>,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// One past the last entry applied outside a metadata transaction.
    whole: watch::Receiver<i64>,
    stop: watch::Sender<bool>,
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    voters: BTreeMap<NodeId, ControllerNode>,
    apis: server::ControllerApis,
}

impl std::fmt::Debug for QuorumNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumNode")
            .field("node_id", &self.node_id)
            .field("voters", &self.voters)
            .finish()
    }
}

/// The quorum as one node sees it (DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub leader: Option<NodeId>,
    pub epoch: u64,
    pub is_leader: bool,
    /// One past the last committed entry.
    pub high_watermark: i64,
    /// Each voter's log end offset as the leader knows it (-1 unknown); on a follower,
    /// only its own.
    pub voters: BTreeMap<NodeId, i64>,
}

impl QuorumNode {
    /// Opens the metadata log of `logs`, starts the Raft node and serves `listener` (the
    /// CONTROLLER listener) for the other voters.
    pub async fn start(cfg: QuorumConfig, logs: &LogManager, listener: TcpListener) -> Result<Self, LogError> {
        let fail = |e: &dyn std::fmt::Display| LogError::Invalid(format!("the metadata quorum: {e}"));
        let log = logs.open_metadata_log(LogConfig::default())?;
        let mut store = MetadataLogStore::open(log)?;
        let mut sm = MetadataStateMachine::open(store.dir())?;
        let image = sm.subscribe();
        let observed_log = store.clone();
        let applied_images = sm.subscribe_applied();
        let whole = sm.subscribe_whole();
        let state = store.get_log_state().await.map_err(|e| fail(&e))?;
        let voted = store.read_vote().await.map_err(|e| fail(&e))?;
        let (applied, _) = sm.applied_state().await.map_err(|e| fail(&e))?;
        let fresh = state.last_log_id.is_none() && voted.is_none() && applied.is_none();
        let timeout = cfg.election_timeout_ms.max(20);
        let config = openraft::Config {
            cluster_name: "brokk".into(),
            election_timeout_min: timeout,
            election_timeout_max: timeout * 2,
            // openraft bounds each append-entries call (a follower's fsync included) by
            // the heartbeat interval: a third of the timeout leaves room for a slow disk.
            heartbeat_interval: timeout / 3,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(ENTRIES_BETWEEN_SNAPSHOTS),
            ..Default::default()
        }
        .validate()
        .map_err(|e| fail(&e))?;
        let network = QuorumNetwork { node_id: cfg.node_id };
        let raft = Raft::new(cfg.node_id, Arc::new(config), network, store, sm)
            .await
            .map_err(|e| fail(&e))?;
        if fresh {
            match raft.initialize(cfg.voters.clone()).await {
                Ok(()) => {
                    tracing::info!(node_id = cfg.node_id, voters = ?cfg.voters.keys().collect::<Vec<_>>(), "initialized the metadata quorum")
                }
                // Another start got there first (a vote or an entry arrived meanwhile).
                Err(RaftError::APIError(e)) => {
                    tracing::info!(error = %e, "the metadata quorum was already initialized")
                }
                Err(e) => return Err(fail(&e)),
            }
        }
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(super::backoff::run(
            raft.clone(),
            Duration::from_millis(timeout * 2),
            stop_rx.clone(),
        ));
        let apis = server::ControllerApis::default();
        let observers = super::observe::ObserverSource {
            raft: raft.clone(),
            log: observed_log,
            images: applied_images,
        };
        let server = tokio::spawn(server::serve(
            listener,
            raft.clone(),
            cfg.node_id,
            cfg.voters.clone(),
            apis.clone(),
            observers,
            stop_rx,
        ));
        Ok(Self {
            node_id: cfg.node_id,
            raft,
            image,
            whole,
            stop,
            server: std::sync::Mutex::new(Some(server)),
            voters: cfg.voters,
            apis,
        })
    }

    /// Serves the controller APIs (BrokerRegistration, BrokerHeartbeat) on the CONTROLLER
    /// listener with `controller` (once; later calls are ignored).
    pub fn serve_controller(&self, controller: Arc<crate::controller::active::Controller>) {
        let _ = self.apis.set(controller);
    }

    /// Appends `record` to the metadata log through the leader (this node) and waits until
    /// it is committed and applied here. Returns its offset.
    pub async fn propose(&self, record: MetadataRecord) -> Result<i64, ProposeError> {
        let written = tokio::time::timeout(PROPOSE_TIMEOUT, self.raft.client_write(record))
            .await
            .map_err(|_| ProposeError::TimedOut)?;
        match written {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(ProposeError::NotLeader(f.leader_id)),
            Err(e) => Err(ProposeError::Failed(e.to_string())),
        }
    }

    /// Appends `records` so that they take effect together: one record as it is, several
    /// inside a metadata transaction (BeginTransactionRecord ... EndTransactionRecord, as
    /// Kafka's controller writes what does not fit one batch), submitted in order without
    /// waiting for each commit. Returns the offset of the last. A transaction cut short by
    /// a change of leader stays open in the log until the next active controller aborts it
    /// ([`Self::abort_dangling_transaction`]); readers never see half of it.
    pub async fn propose_all(&self, mut records: Vec<MetadataRecord>, name: &str) -> Result<i64, ProposeError> {
        use crate::metadata::records::{BeginTransactionRecord, EndTransactionRecord};
        match records.len() {
            0 => return Err(ProposeError::Failed("nothing to propose".into())),
            1 => return self.propose(records.remove(0)).await,
            _ => {}
        }
        let begin = MetadataRecord::BeginTransaction(BeginTransactionRecord {
            name: Some(name.to_string()),
        });
        let mut pending = Vec::with_capacity(records.len() + 2);
        for r in std::iter::once(begin)
            .chain(records)
            .chain(std::iter::once(MetadataRecord::EndTransaction(EndTransactionRecord)))
        {
            let rx = self
                .raft
                .client_write_ff(r)
                .await
                .map_err(|e| ProposeError::Failed(e.to_string()))?;
            pending.push(rx);
        }
        let mut last = -1;
        let deadline = tokio::time::Instant::now() + PROPOSE_TIMEOUT;
        for rx in pending {
            let answer = tokio::time::timeout_at(deadline, rx)
                .await
                .map_err(|_| ProposeError::TimedOut)?;
            match answer {
                Ok(Ok(r)) => last = r.data,
                Ok(Err(ClientWriteError::ForwardToLeader(f))) => return Err(ProposeError::NotLeader(f.leader_id)),
                Ok(Err(e)) => return Err(ProposeError::Failed(e.to_string())),
                Err(_) => return Err(ProposeError::Failed("the quorum stopped".into())),
            }
        }
        Ok(last)
    }

    /// Aborts the metadata transaction a previous leader left open (Kafka's new active
    /// controller does the same). The caller must be the only proposer (the controller's
    /// lock), so an open transaction is never one still being written.
    pub async fn abort_dangling_transaction(&self) -> Result<(), ProposeError> {
        if !self.image.borrow().in_transaction() {
            return Ok(());
        }
        tracing::warn!("aborting the metadata transaction the previous active controller left open");
        let abort = crate::metadata::records::AbortTransactionRecord {
            reason: Some("controller failover".into()),
        };
        self.propose(MetadataRecord::AbortTransaction(abort)).await.map(drop)
    }

    /// Waits (at most `timeout`) until this node has applied every entry below `end`.
    pub async fn await_applied(&self, end: i64, timeout: Duration) -> bool {
        if end <= 0 {
            return true;
        }
        let want = (end - 1) as u64;
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.last_applied.is_some_and(|l| l.index >= want), "applied")
            .await
            .is_ok()
    }

    /// One past the last metadata offset whose change this node's image holds whole (no
    /// metadata transaction open at it): what its broker reports to the controller.
    pub fn applied_offset(&self) -> i64 {
        *self.whole.borrow()
    }

    /// One past the last offset in this node's metadata log.
    pub fn log_end_offset(&self) -> i64 {
        self.raft.metrics().borrow().last_log_index.map_or(0, |i| i as i64 + 1)
    }

    /// The leader as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The quorum's epoch (term) as this node knows it.
    pub fn epoch(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Follows the metadata image (every committed change).
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Waits up to `timeout` for this node to know a leader that `accept` takes.
    pub async fn await_leader(
        &self,
        timeout: Duration,
        accept: impl Fn(NodeId) -> bool + Send + Sync,
    ) -> Option<NodeId> {
        let m = self
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some_and(&accept), "a leader")
            .await
            .ok()?;
        m.current_leader
    }

    /// The voters' controller listeners.
    pub fn voters(&self) -> &BTreeMap<NodeId, ControllerNode> {
        &self.voters
    }

    /// The quorum's state as this node knows it.
    pub fn status(&self) -> QuorumStatus {
        status_of(&self.raft, self.node_id)
    }

    /// Stops serving and the Raft node (what a killed controller does, minus the crash).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let _ = self.raft.shutdown().await;
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(s) = server {
            let _ = s.await;
        }
    }
}

/// The quorum's state as node `node_id`'s Raft sees it.
pub fn status_of(raft: &Raft<Quorum>, node_id: NodeId) -> QuorumStatus {
    let m = raft.metrics().borrow().clone();
    let next = |id: Option<openraft::LogId<NodeId>>| id.map_or(0, |l| l.index as i64 + 1);
    let is_leader = m.current_leader == Some(node_id);
    let mut voters: BTreeMap<NodeId, i64> = m.membership_config.membership().voter_ids().map(|v| (v, -1)).collect();
    if let Some(r) = m.replication.as_ref().filter(|_| is_leader) {
        for (id, matched) in r.iter() {
            // Learners are replicated to but are not voters; a voter not yet heard of is -1.
            if let Some(leo) = voters.get_mut(id) {
                *leo = matched.map_or(-1, |l| l.index as i64 + 1);
            }
        }
    }
    voters.insert(node_id, m.last_log_index.map_or(0, |i| i as i64 + 1));
    QuorumStatus {
        leader: m.current_leader,
        epoch: m.current_term,
        is_leader,
        high_watermark: next(m.last_applied),
        voters,
    }
}
