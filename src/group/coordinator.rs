//! The group coordinator: the registry of group actors, request routing, the durable
//! `__consumer_offsets` writer, start-up load and the offset-expiration pass.
//!
//! Owns: which groups exist and their actors. A group's actor is created on its first
//! JoinGroup (without member id) or its first commit with generation -1, as in Kafka; other
//! requests for an unknown group are answered here without creating one.
//!
//! Committed offsets live in the internal topic `__consumer_offsets` (Kafka's record
//! formats, see [`super::records`]); a group's records go to partition
//! `abs(hash(group)) % partitions` as in Kafka. At start-up every partition is read from
//! its log start and the groups rebuilt (Stable with their members, or Empty); offsets of
//! topics that no longer exist are dropped. The topic is compacted (`cleanup.policy=compact`,
//! as Kafka's): a later record overrides an earlier one of its key, a tombstone removes it,
//! and the log cleaner drops what is overridden; nothing goes by time or size.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::actor::{Actor, Command, OffsetWrite, Summary};
use super::cluster::ClusterLink;
use super::records::{self, OffsetsRecord};
use super::state::{
    CommittedOffset, Group, GroupDescription, JoinRequest, JoinResponse, Limits, Now, StoredGroup, SyncRequest,
    SyncResult,
};
use super::txn_offsets::TxnOffsets;
use super::{GroupError, GroupState, OFFSETS_TOPIC, partition_for};
use crate::log::internal::{InternalTopic, Item, read_all};
use crate::log::manager::{TopicError, TopicLog, append_marker_durably};
use crate::log::{LogError, LogManager};
use crate::replica::leader_write::LeaderWriteError;
use crate::replica::ownership::Standing;

/// Coordinator settings (Kafka's `group.*` and `offsets.*` keys; defaults in `config.rs`).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub limits: Limits,
    pub offsets_topic_partitions: i32,
    pub offsets_topic_segment_bytes: i64,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.replication.factor` as given (a cluster's default is Kafka's, 3).
    pub offsets_topic_replication_factor: Option<i32>,
    /// `offsets.commit.timeout.ms`: how long a write to `__consumer_offsets` waits for
    /// the in-sync replicas (a cluster's).
    pub offsets_commit_timeout_ms: u64,
    /// The broker is in a cluster: its topics are the metadata image's, not (all) in its
    /// own logs, so offsets of topics it does not host are kept at load.
    pub in_cluster: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            limits: Limits {
                min_session_timeout_ms: 6_000,
                max_session_timeout_ms: 1_800_000,
                initial_rebalance_delay_ms: 0,
                max_size: i32::MAX as usize,
                new_member_join_timeout_ms: 300_000,
            },
            offsets_topic_partitions: 50,
            offsets_topic_segment_bytes: 104_857_600,
            offset_metadata_max_bytes: 4096,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_replication_factor: None,
            offsets_commit_timeout_ms: 5_000,
            in_cluster: false,
        }
    }
}

/// Appends records to the group's `__consumer_offsets` partition, creating the topic on
/// first use; answered after the flush policy is satisfied.
#[derive(Debug)]
pub struct OffsetsLog {
    topic: InternalTopic,
    /// In a cluster: the partitions coordinated here, written through replication.
    cluster: std::sync::OnceLock<Arc<ClusterLink>>,
}

fn storage_error(e: TopicError) -> GroupError {
    match e {
        TopicError::Log(LogError::BatchTooLarge { .. }) => GroupError::CommitTooLarge,
        TopicError::Log(LogError::InvalidProducerEpoch(_)) => GroupError::ProducerFenced,
        e => GroupError::Storage(e.to_string()),
    }
}

impl OffsetsLog {
    fn new(logs: Arc<LogManager>, config: &GroupConfig) -> Self {
        let mut overrides = BTreeMap::new();
        // Kafka's settings: the log cleaner keeps the latest commit or group record per key
        // (tombstones remove them), and nothing is deleted by time or size.
        overrides.insert("cleanup.policy".to_string(), "compact".to_string());
        overrides.insert(
            "segment.bytes".to_string(),
            config.offsets_topic_segment_bytes.to_string(),
        );
        OffsetsLog {
            topic: InternalTopic::new(logs, OFFSETS_TOPIC, config.offsets_topic_partitions, overrides),
            cluster: std::sync::OnceLock::new(),
        }
    }

    fn logs(&self) -> &Arc<LogManager> {
        self.topic.logs()
    }

    /// The topic, created with the coordinator's settings if missing.
    pub async fn topic(&self) -> Result<Arc<TopicLog>, GroupError> {
        self.topic.topic().await.map_err(storage_error)
    }

    /// Appends the group's records; returns the batch's base offset.
    /// In a cluster, only while the group's partition is coordinated here at `epoch`.
    pub async fn append(
        &self,
        epoch: Option<i32>,
        group: &str,
        recs: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<i64, GroupError> {
        if let Some(link) = self.cluster.get() {
            return Ok(link.append(self.logs(), epoch, group, &recs, None).await?.base_offset);
        }
        let info = self.topic.append(group, &recs, None).await.map_err(storage_error)?;
        Ok(info.base_offset)
    }

    /// Appends the group's records inside producer `pid`'s transaction at `epoch`.
    pub async fn append_txn(
        &self,
        at: Option<i32>,
        group: &str,
        recs: Vec<(Bytes, Option<Bytes>)>,
        pid: i64,
        epoch: i16,
    ) -> Result<i64, GroupError> {
        if let Some(link) = self.cluster.get() {
            return Ok(link
                .append(self.logs(), at, group, &recs, Some((pid, epoch)))
                .await?
                .base_offset);
        }
        let info = self
            .topic
            .append(group, &recs, Some((pid, epoch)))
            .await
            .map_err(storage_error)?;
        Ok(info.base_offset)
    }
}

/// One partition's committed offset (if any) and whether a transaction has one pending.
pub type Committed = ((String, i32), Option<CommittedOffset>, bool);

/// The coordinator epoch brokk's transaction markers carry (one broker, never re-elected).
pub const TXN_COORDINATOR_EPOCH: i32 = 0;

#[derive(Clone)]
struct Handle {
    tx: mpsc::UnboundedSender<Command>,
    summary: Arc<Mutex<Summary>>,
    actor_id: u64,
}

/// Live groups by id.
#[derive(Default)]
pub struct Registry {
    groups: DashMap<String, Handle>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({} groups)", self.groups.len())
    }
}

impl Registry {
    /// Removes `group` if it is still the actor `actor_id` (a newer one stays).
    pub fn remove(&self, group: &str, actor_id: u64) {
        self.groups.remove_if(group, |_, h| h.actor_id == actor_id);
    }
}

/// The coordinator shared by all handlers.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    log: Arc<OffsetsLog>,
    registry: Arc<Registry>,
    next_actor: AtomicU64,
    clock_base: Instant,
    shutdown: watch::Receiver<bool>,
    /// The actor tasks, awaited at shutdown so no write races the clean-shutdown marker.
    actors: Mutex<tokio::task::JoinSet<()>>,
    /// Producer id → the groups it has transactional offsets pending in (whose pending
    /// offsets its markers settle).
    txn_groups: DashMap<i64, HashSet<String>>,
}

impl GroupCoordinator {
    pub(super) fn link_slot(&self) -> &std::sync::OnceLock<Arc<ClusterLink>> {
        &self.log.cluster
    }

    /// The coordinator's place in a cluster (None on a single broker).
    pub(super) fn link(&self) -> Option<&Arc<ClusterLink>> {
        self.log.cluster.get()
    }

    pub(super) fn log_manager(&self) -> &Arc<LogManager> {
        self.log.logs()
    }

    /// In a cluster, why this broker does not serve `group_id` now, if it does not:
    /// another broker coordinates it (NOT_COORDINATOR) or its partition is loading here
    /// (COORDINATOR_LOAD_IN_PROGRESS).
    fn not_here(&self, group_id: &str) -> Option<GroupError> {
        let link = self.link()?;
        let p = partition_for(group_id, link.ownership.count());
        match link.ownership.standing(p) {
            Standing::Coordinated(_) => None,
            Standing::Loading => Some(GroupError::LoadInProgress),
            Standing::Elsewhere => Some(GroupError::NotCoordinator),
        }
    }

    /// Stops the actors of partition `p`'s groups (`count` partitions): their requests get
    /// NOT_COORDINATOR. Returns how many there were.
    pub(super) fn stop_partition(&self, p: i32, count: i32) -> usize {
        let doomed: Vec<(String, Handle)> = self
            .registry
            .groups
            .iter()
            .filter(|e| partition_for(e.key(), count) == p)
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        for (id, h) in &doomed {
            self.registry.remove(id, h.actor_id);
            let _ = h.tx.send(Command::Resign);
        }
        self.txn_groups.retain(|_, gs| {
            gs.retain(|g| partition_for(g, count) != p);
            !gs.is_empty()
        });
        doomed.len()
    }

    /// Serves `g` (a group rebuilt from the log; in a cluster, from its partition loaded
    /// at leader epoch `epoch`).
    pub(super) fn install(&self, id: String, g: Group, epoch: Option<i32>) {
        self.registry.groups.insert(id, self.spawn(g, epoch));
    }

    /// A coordinator whose actors stop (failing parked requests with NOT_COORDINATOR) when
    /// `shutdown` turns true.
    pub fn new(logs: Arc<LogManager>, config: GroupConfig, shutdown: watch::Receiver<bool>) -> Self {
        GroupCoordinator {
            log: Arc::new(OffsetsLog::new(logs, &config)),
            config,
            registry: Arc::new(Registry::default()),
            next_actor: AtomicU64::new(0),
            clock_base: Instant::now(),
            shutdown,
            actors: Mutex::new(tokio::task::JoinSet::new()),
            txn_groups: DashMap::new(),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn now(&self) -> Now {
        Now {
            mono_ms: self.clock_base.elapsed().as_millis() as u64,
            wall_ms: crate::log::now_ms(),
        }
    }

    /// Waits for every group actor to finish (they stop on the shutdown signal).
    pub async fn stopped(&self) {
        let mut actors = std::mem::take(&mut *self.actors.lock().unwrap_or_else(|p| p.into_inner()));
        while actors.join_next().await.is_some() {}
    }

    /// Makes sure `__consumer_offsets` exists (FindCoordinator does this, as in Kafka). In
    /// a cluster the controller creates it, on FindCoordinator
    /// (`Broker::ensure_internal_topic_in_cluster`): nothing to do here.
    pub async fn ensure_offsets_topic(&self) -> Result<(), GroupError> {
        if self.link().is_some() {
            return Ok(());
        }
        self.log.topic().await.map(|_| ())
    }

    fn spawn(&self, group: Group, epoch: Option<i32>) -> Handle {
        let (tx, rx) = mpsc::unbounded_channel();
        let summary = Arc::new(Mutex::new(Summary {
            state: group.state(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
        }));
        let actor_id = self.next_actor.fetch_add(1, Ordering::Relaxed);
        let last_stored = group.protocol_type().is_some().then(|| group.stored());
        let actor = Actor {
            last_stored,
            group,
            rx,
            log: self.log.clone(),
            registry: self.registry.clone(),
            summary: summary.clone(),
            actor_id,
            clock_base: self.clock_base,
            shutdown: self.shutdown.clone(),
            epoch,
        };
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        while actors.try_join_next().is_some() {}
        actors.spawn(actor.run());
        Handle { tx, summary, actor_id }
    }

    /// The group's actor; created (at leader epoch `epoch` in a cluster) if `create`.
    fn handle(&self, group_id: &str, create: bool, epoch: Option<i32>) -> Option<Handle> {
        if let Some(h) = self.registry.groups.get(group_id) {
            return Some(h.clone());
        }
        if !create {
            return None;
        }
        let entry = self.registry.groups.entry(group_id.to_string()).or_insert_with(|| {
            let g = Group::new(group_id, self.config.limits.clone(), self.now());
            self.spawn(g, epoch)
        });
        Some(entry.clone())
    }

    /// Sends a command built by `make` to the group's actor; `None` if the group does not
    /// exist (and `create` is false). A retiring actor's closed channel means "look again".
    async fn call<T>(
        &self,
        group_id: &str,
        create: bool,
        make: impl Fn(oneshot::Sender<T>) -> Command,
    ) -> Option<Result<T, GroupError>> {
        for _ in 0..3 {
            // While shutting down, groups are not "unknown": clients must look elsewhere.
            if *self.shutdown.borrow() {
                return Some(Err(GroupError::NotCoordinator));
            }
            // The group's __consumer_offsets partition is in a failed log dir.
            if self.is_offline(group_id) {
                return Some(Err(GroupError::NotCoordinator));
            }
            // Another broker of the cluster coordinates it, or it is loading here; a group
            // is created only while its partition is coordinated here (a resignation
            // waits for the check, then stops every actor of the partition).
            let h = match self.link() {
                None => self.handle(group_id, create, None)?,
                Some(link) => {
                    let p = partition_for(group_id, link.ownership.count());
                    let found = link.ownership.with_standing(p, |standing| match standing {
                        Standing::Coordinated(epoch) => Ok(self.handle(group_id, create, Some(epoch))),
                        Standing::Loading => Err(GroupError::LoadInProgress),
                        Standing::Elsewhere => Err(GroupError::NotCoordinator),
                    });
                    match found {
                        Ok(h) => h?,
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            let (tx, rx) = oneshot::channel();
            if h.tx.send(make(tx)).is_err() {
                self.registry.remove(group_id, h.actor_id);
                continue;
            }
            match rx.await {
                Ok(r) => return Some(Ok(r)),
                // A resigned actor drops what it has not run: look again.
                Err(_) if self.link().is_some() => continue,
                Err(_) => return Some(Err(GroupError::CoordinatorNotAvailable)),
            }
        }
        Some(Err(GroupError::CoordinatorNotAvailable))
    }

    fn step<T: Send + 'static>(
        f: impl FnOnce(&mut Group, Now) -> T + Send + Clone + 'static,
    ) -> impl Fn(oneshot::Sender<T>) -> Command {
        move |tx| {
            let f = f.clone();
            Command::Step(Box::new(move |g, now| {
                let _ = tx.send(f(g, now));
            }))
        }
    }

    /// JoinGroup, after the handler validated group id and session timeout.
    pub async fn join(&self, group_id: &str, req: JoinRequest) -> JoinResponse {
        let member = req.member_id.clone();
        if req.session_timeout_ms < self.config.limits.min_session_timeout_ms
            || req.session_timeout_ms > self.config.limits.max_session_timeout_ms
        {
            return JoinResponse::error(GroupError::InvalidSessionTimeout, &member);
        }
        let create = req.member_id.is_empty();
        let r = self
            .call(group_id, create, |tx| {
                let req = req.clone();
                Command::Step(Box::new(move |g, now| g.join(req, now, tx)))
            })
            .await;
        match r {
            None => JoinResponse::error(GroupError::UnknownMemberId, &member),
            Some(Ok(resp)) => resp,
            Some(Err(e)) => JoinResponse::error(e, &member),
        }
    }

    pub async fn sync(&self, group_id: &str, req: SyncRequest) -> SyncResult {
        let r = self
            .call(group_id, false, |tx| {
                let req = req.clone();
                Command::Step(Box::new(move |g, now| g.sync(req, now, tx)))
            })
            .await;
        match r {
            None => Err(GroupError::UnknownMemberId),
            Some(r) => r.and_then(|x| x),
        }
    }

    pub async fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let (m, i) = (member_id.to_string(), instance.map(str::to_string));
        let f = Self::step(move |g, now| g.heartbeat(&m, i.as_deref(), generation, now));
        match self.call(group_id, false, f).await {
            None => Err(GroupError::UnknownMemberId),
            Some(r) => r.and_then(|x| x),
        }
    }

    /// LeaveGroup for a batch of (member id, group.instance.id); one result per member.
    pub async fn leave(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let n = members.len();
        let f = Self::step(move |g, now| {
            if g.state() == GroupState::Dead {
                return Err(GroupError::CoordinatorNotAvailable);
            }
            Ok(members
                .iter()
                .map(|(m, i)| g.leave(m, i.as_deref(), now))
                .collect::<Vec<_>>())
        });
        match self.call(group_id, false, f).await {
            None => Ok(vec![Err(GroupError::UnknownMemberId); n]),
            Some(r) => r.and_then(|x| x),
        }
    }

    /// OffsetCommit: validated by the group, durable before it is answered.
    pub async fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Result<(), GroupError> {
        self.commit_as(group_id, None, member_id, instance, generation_id, offsets)
            .await
            .map_err(|e| match e {
                None => GroupError::GroupIdNotFound,
                Some(e) => e,
            })
    }

    /// Sends a (transactional) commit to the group's actor; `Err(None)` when the group does
    /// not exist. Kafka creates a group only for a commit that does not claim membership.
    async fn commit_as(
        &self,
        group_id: &str,
        producer: Option<(i64, i16)>,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Result<(), Option<GroupError>> {
        let create = generation_id < 0;
        let r = self
            .call(group_id, create, |tx| {
                Command::Write(OffsetWrite::Commit {
                    producer,
                    member_id: member_id.to_string(),
                    group_instance_id: instance.map(str::to_string),
                    generation_id,
                    offsets: offsets.clone(),
                    reply: tx,
                })
            })
            .await;
        match r {
            None => Err(None),
            Some(r) => r.and_then(|x| x).map_err(Some),
        }
    }

    /// Committed offsets: of `partitions`, or all of them (`None`). An unknown group has none.
    /// Each comes with whether an open transaction has an offset pending for the partition.
    pub async fn committed(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<Committed>, GroupError> {
        let asked = partitions.clone();
        let f = Self::step(move |g, _| match &partitions {
            Some(ps) => ps
                .iter()
                .map(|tp| (tp.clone(), g.offsets.get(tp).cloned(), g.txn.is_pending(tp)))
                .collect(),
            None => g
                .offsets
                .iter()
                .map(|(tp, o)| (tp.clone(), Some(o.clone()), g.txn.is_pending(tp)))
                .collect::<Vec<_>>(),
        });
        match self.call(group_id, false, f).await {
            None => Ok(asked
                .unwrap_or_default()
                .into_iter()
                .map(|tp| (tp, None, false))
                .collect()),
            Some(r) => r,
        }
    }

    /// TxnOffsetCommit for producer `pid` at `epoch` (the caller checked that the group's
    /// `__consumer_offsets` partition is in the producer's transaction): durable, pending
    /// until the transaction ends. An unknown group is created only by a commit without a
    /// generation, as for OffsetCommit.
    #[allow(clippy::too_many_arguments)]
    pub async fn txn_commit(
        &self,
        group_id: &str,
        pid: i64,
        epoch: i16,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Result<(), GroupError> {
        let r = self
            .commit_as(
                group_id,
                Some((pid, epoch)),
                member_id,
                instance,
                generation_id,
                offsets,
            )
            .await
            .map_err(|e| e.unwrap_or(GroupError::IllegalGeneration));
        if r.is_ok() {
            self.txn_groups.entry(pid).or_default().insert(group_id.to_string());
        }
        r
    }

    /// `group_id`'s `__consumer_offsets` partition is in a failed log dir: its groups are
    /// not coordinated here until a restart (NOT_COORDINATOR; FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE).
    pub fn is_offline(&self, group_id: &str) -> bool {
        self.log.topic.is_offline(group_id)
    }

    /// The `__consumer_offsets` partition holding `group_id` (by the topic's actual
    /// partition count, which a changed `offsets.topic.num.partitions` does not alter).
    pub fn offsets_partition(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.offsets_partition_count())
    }

    fn offsets_partition_count(&self) -> i32 {
        // In a cluster, the image's count; before the topic exists, the configured one
        // (the count it will be created with), as Kafka's `partitionFor`.
        if let Some(link) = self.link() {
            return match link.ownership.count() {
                0 => self.config.offsets_topic_partitions,
                n => n,
            };
        }
        self.log
            .logs()
            .topic(OFFSETS_TOPIC)
            .map(|t| t.partitions.len() as i32)
            .unwrap_or(self.config.offsets_topic_partitions)
    }

    /// Writes producer `pid`'s transaction marker to `__consumer_offsets` partition
    /// `partition` (from a coordinator at `coordinator_epoch`), then settles the pending
    /// offsets of the groups stored there. Only the groups this producer committed offsets
    /// for are visited. A marker refused for an older producer epoch (a newer epoch's
    /// marker already ended the transaction here) still settles, and then returns its error.
    pub async fn write_txn_marker(
        &self,
        partition: i32,
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<(), LeaderWriteError> {
        // In a cluster, only where the partition is coordinated (led) here, and answered
        // once its in-sync replicas have the marker.
        let written = match self.link() {
            Some(link) => link
                .append_marker(self.log.logs(), partition, (pid, epoch, coordinator_epoch, commit))
                .await
                .map(drop),
            None => match self.log.logs().partition(OFFSETS_TOPIC, partition) {
                Some(p) => append_marker_durably(&p, pid, epoch, coordinator_epoch, commit)
                    .await
                    .map(drop)
                    .map_err(LeaderWriteError::Log),
                None => Err(LeaderWriteError::Log(LogError::PartitionDeleted)),
            },
        };
        let stale = match written {
            Ok(()) => None,
            Err(e @ LeaderWriteError::Log(LogError::InvalidProducerEpoch(_))) => Some(e),
            Err(e) => return Err(e),
        };
        let n = self.offsets_partition_count();
        let groups: Vec<String> = match self.txn_groups.get_mut(&pid) {
            Some(mut gs) => {
                let here: Vec<String> = gs
                    .iter()
                    .filter(|g| partition_for(g, n) == partition)
                    .cloned()
                    .collect();
                gs.retain(|g| partition_for(g, n) != partition);
                here
            }
            None => vec![],
        };
        self.txn_groups.remove_if(&pid, |_, gs| gs.is_empty());
        let handles: Vec<Handle> = groups
            .iter()
            .filter_map(|g| self.registry.groups.get(g).map(|h| h.clone()))
            .collect();
        for h in handles {
            let (tx, rx) = oneshot::channel();
            let step = Command::Step(Box::new(move |g: &mut Group, _| {
                let offsets = &mut g.offsets;
                g.txn.complete(pid, commit, offsets);
                let _ = tx.send(());
            }));
            if h.tx.send(step).is_ok() {
                let _ = rx.await;
            }
        }
        stale.map_or(Ok(()), Err)
    }

    pub async fn describe(&self, group_id: &str) -> Result<Option<GroupDescription>, GroupError> {
        let f = Self::step(|g, _| g.describe());
        match self.call(group_id, false, f).await {
            None => Ok(None),
            Some(r) => r.map(Some),
        }
    }

    /// Every live group: (id, protocol type, state).
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut out: Vec<_> = self
            .registry
            .groups
            .iter()
            .map(|e| {
                let s = e.summary.lock().unwrap_or_else(|p| p.into_inner()).clone();
                (e.key().clone(), s.protocol_type, s.state)
            })
            .filter(|(g, _, s)| *s != GroupState::Dead && !self.is_offline(g) && self.not_here(g).is_none())
            .collect();
        out.sort();
        out
    }

    pub async fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        let r = self
            .call(group_id, false, |tx| {
                Command::Write(OffsetWrite::DeleteGroup { reply: tx })
            })
            .await;
        match r {
            None => Err(GroupError::GroupIdNotFound),
            Some(r) => r.and_then(|x| x),
        }
    }

    /// OffsetDelete: the group checks its state and subscriptions and tombstones the
    /// offsets it may drop, in one step.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<super::state::PartitionResults, GroupError> {
        let r = self
            .call(group_id, false, |tx| {
                Command::Write(OffsetWrite::Delete {
                    partitions: partitions.clone(),
                    reply: tx,
                })
            })
            .await;
        match r {
            None => Err(GroupError::GroupIdNotFound),
            Some(r) => r.and_then(|x| x),
        }
    }

    /// Drops every group's offsets of a deleted topic; returns once they are tombstoned.
    pub async fn topic_deleted(&self, topic: &str) {
        for done in self.broadcast_expire(Some(topic.to_string())) {
            let _ = done.await;
        }
    }

    /// Sends an expiration (or deleted-topic) pass to every group; one receiver per group
    /// resolves when that group is done.
    fn broadcast_expire(&self, deleted_topic: Option<String>) -> Vec<oneshot::Receiver<()>> {
        let handles: Vec<Handle> = self.registry.groups.iter().map(|e| e.value().clone()).collect();
        handles
            .into_iter()
            .filter_map(|h| {
                let (tx, rx) = oneshot::channel();
                let cmd = Command::Write(OffsetWrite::Expire {
                    now_wall_ms: crate::log::now_ms(),
                    retention_ms: self.config.offsets_retention_ms,
                    deleted_topic: deleted_topic.clone(),
                    done: Some(tx),
                });
                h.tx.send(cmd).ok().map(|()| rx)
            })
            .collect()
    }

    /// Compacts `__consumer_offsets` (the equivalent of Kafka's log cleaner for this topic,
    /// until brokk has one): for each partition that has rolled a segment, every group
    /// stored there appends its live state again, in order with its own writes; once all
    /// have, every record below the partition's previous end is superseded, so the sealed
    /// segments ending there are fsynced away. Returns the number of segments removed.
    pub async fn compact_offsets(&self) -> usize {
        let Some(topic) = self.log.logs().topic(OFFSETS_TOPIC) else {
            return 0;
        };
        let n = topic.partitions.len() as i32;
        let mut removed = 0;
        for p in &topic.partitions {
            if p.segment_count() < 2 {
                continue;
            }
            // In a cluster, the leader compacts; followers take its log start.
            if let Some(link) = self.link()
                && link.ownership.gate(p.index()).is_none()
            {
                continue;
            }
            let mut cut = p.log_end_offset();
            // Read the registry after the cut: a group whose records lie below the cut
            // registered before writing them.
            let handles: Vec<Handle> = self
                .registry
                .groups
                .iter()
                .filter(|e| partition_for(e.key(), n) == p.index())
                .map(|e| e.value().clone())
                .collect();
            let mut all_done = true;
            for h in handles {
                let (tx, rx) = oneshot::channel();
                // A retired actor's group is gone: its tombstones need no copy. An actor
                // that dies without answering blocks the compaction.
                if h.tx.send(Command::Write(OffsetWrite::Rewrite { done: tx })).is_ok() {
                    match rx.await {
                        // An open transaction's records stay, with everything after them.
                        Ok(Ok(keep)) => cut = cut.min(keep.unwrap_or(i64::MAX)),
                        _ => all_done = false,
                    }
                }
            }
            if !all_done {
                tracing::warn!(
                    partition = p.index(),
                    "__consumer_offsets compaction skipped: a group could not rewrite its state"
                );
                continue;
            }
            removed += crate::log::internal::drop_superseded(p, cut).await;
        }
        removed
    }

    /// Runs the offset-expiration pass (then compaction) every
    /// `offsets.retention.check.interval.ms` until shutdown.
    pub async fn run_expiration(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_millis(self.config.offsets_retention_check_interval_ms.max(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {
                    for done in self.broadcast_expire(None) {
                        let _ = done.await;
                    }
                    self.compact_offsets().await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Rebuilds every group from `__consumer_offsets` (blocking reads of the log: call
    /// before serving). Offsets of topics that no longer exist are tombstoned. A
    /// transactional offset commit is applied when its commit marker follows it, dropped
    /// on an abort marker, and left pending when its transaction is still open. In a
    /// cluster nothing is loaded here: each partition is, once this broker leads it.
    pub async fn load(&self) -> Result<usize, GroupError> {
        if self.config.in_cluster {
            return Ok(0);
        }
        let Some(topic) = self.log.logs().topic(OFFSETS_TOPIC) else {
            return Ok(0);
        };
        let mut loading: HashMap<String, Loading> = HashMap::new();
        for p in &topic.partitions {
            if p.is_offline() {
                // Its groups answer NOT_COORDINATOR (see `is_offline`), never empty.
                tracing::error!(
                    partition = p.index(),
                    "{OFFSETS_TOPIC} partition offline: its groups are not loaded"
                );
                continue;
            }
            let pc = p.clone();
            let items = tokio::task::spawn_blocking(move || read_all(&pc))
                .await
                .map_err(|e| GroupError::Storage(format!("loading {OFFSETS_TOPIC} failed: {e}")))?
                .map_err(|e| GroupError::Storage(e.to_string()))?;
            read_groups(items, &mut loading);
        }
        let mut loaded = 0;
        for (id, g, orphaned) in self.build_groups(loading) {
            if !orphaned.is_empty() {
                let recs = orphaned
                    .iter()
                    .map(|(t, p)| (records::offset_key(&id, t, *p), None))
                    .collect();
                self.log.append(None, &id, recs).await?;
            }
            self.install(id, g, None);
            loaded += 1;
        }
        Ok(loaded)
    }

    /// The groups read from `__consumer_offsets`, with the offsets they held of topics
    /// that no longer exist (dropped from the group; on a single broker only: a cluster
    /// broker does not host every topic).
    pub(super) fn build_groups(&self, mut loading: HashMap<String, Loading>) -> Vec<Rebuilt> {
        let now = self.now();
        let mut ids: Vec<String> = loading.keys().cloned().collect();
        ids.sort();
        let mut out = vec![];
        for id in ids {
            let Some(l) = loading.remove(&id) else { continue };
            let stored = l.stored.flatten();
            if stored.is_none() && l.offsets.is_empty() && !l.txn.any_pending() {
                continue;
            }
            let mut g = match stored {
                Some(s) => Group::restore(&id, self.config.limits.clone(), s, now),
                None => Group::new(&id, self.config.limits.clone(), now),
            };
            g.txn = l.txn;
            for pid in g.txn.producers() {
                self.txn_groups.entry(pid).or_default().insert(id.clone());
            }
            let mut orphaned = vec![];
            for (tp, o) in l.offsets {
                if self.config.in_cluster || self.log.logs().topic(&tp.0).is_some() {
                    g.offsets.insert(tp, o);
                } else {
                    orphaned.push(tp);
                }
            }
            for (t, _) in &orphaned {
                g.txn.drop_topic(t);
            }
            out.push((id, g, orphaned));
        }
        out
    }
}

/// A group rebuilt from the log: its id, its state, and the partitions of deleted topics
/// it held offsets of.
pub(super) type Rebuilt = (String, Group, Vec<(String, i32)>);

/// Applies one partition's records, in log order, to the groups being rebuilt.
pub(super) fn read_groups(items: Vec<Item>, loading: &mut HashMap<String, Loading>) {
    // Groups of this partition with offsets in each open transaction.
    let mut open: HashMap<i64, Vec<String>> = HashMap::new();
    for item in items {
        let (batch, key, value) = match item {
            Item::Record { batch, key, value } => (batch, key, value),
            Item::Marker(m) => {
                for g in open.remove(&m.producer_id).unwrap_or_default() {
                    if let Some(l) = loading.get_mut(&g) {
                        l.txn.complete(m.producer_id, m.marker == Some(true), &mut l.offsets);
                    }
                }
                continue;
            }
        };
        let Some(rec) = records::decode(&key, value.as_deref()) else {
            tracing::warn!(
                offset = batch.base_offset,
                "skipping an unreadable __consumer_offsets record"
            );
            continue;
        };
        match rec {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let l = loading.entry(group.clone()).or_default();
                let tp = (topic, partition);
                match value {
                    Some(v) if batch.transactional => {
                        l.txn.add_pending(batch.producer_id, tp, v, batch.base_offset);
                        let gs = open.entry(batch.producer_id).or_default();
                        if !gs.contains(&group) {
                            gs.push(group);
                        }
                    }
                    Some(v) => {
                        l.txn.record_commit(tp.clone(), batch.base_offset);
                        l.offsets.insert(tp, v);
                    }
                    None => {
                        l.txn.forget(&tp);
                        l.offsets.remove(&tp);
                    }
                }
            }
            OffsetsRecord::Group { group, value } => {
                loading.entry(group).or_default().stored = Some(value);
            }
        }
    }
}

/// One group's state while `__consumer_offsets` is read.
#[derive(Default)]
pub(super) struct Loading {
    /// The last GroupMetadata record (`Some(None)`: a tombstone).
    stored: Option<Option<StoredGroup>>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
    txn: TxnOffsets,
}
