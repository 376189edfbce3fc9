//! The local logs follow the metadata image.
//!
//! On every image change (and once at start) the replica manager compares the topics the
//! image assigns to this broker with the local ones:
//! - a topic of the image with partitions whose replicas name this broker, and no local
//!   log of that id, is created here (its hosted partitions only, the image's id and
//!   configs); a local one of the same name but another id (a deleted namesake) goes first;
//! - a local topic the image assigned (its topic file lists hosted partitions) whose id the
//!   image no longer has is deleted.
//!
//! Each hosted partition then takes its role (Kafka's `makeLeader` / `makeFollower`):
//! - led here: it leads at the image's leader epoch; with replicas elsewhere, a
//!   [`LeaderState`] at that epoch tracks its followers (a new epoch is a new state; a new
//!   partition epoch of the same leader updates its ISR);
//! - led elsewhere: it fetches from that leader (no leader: it waits). The fetchers are
//!   told first, so no fetched batch lands in a partition that has begun to lead.
//!
//! The coordinators' internal topics are topics of the image like any other; their
//! coordinators follow the leadership of their partitions ([`GroupCoordinator::elect`] and
//! `TransactionCoordinator::elect` resign the partitions led no more before their fetchers
//! start, and the newly led ones load once they lead). A local internal topic that
//! predates the cluster is replaced by the image's; a single broker's own other topics
//! (written before the cluster was configured) are left alone. A topic the image grows
//! (CreatePartitions) grows here with the new partitions this broker hosts; a partition
//! whose replicas come to name this broker (a reassignment) is created here empty and
//! fetches, and one whose replicas no longer name it is deleted here (the whole local
//! topic once none is left). Config changes (a topic's ConfigRecords) are applied to its
//! local logs.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::fetcher::{FetcherManager, Followed, PartitionKey};
use super::{LeaderState, Replication};
use crate::group::GroupCoordinator;
use crate::group::OFFSETS_TOPIC;
use crate::log::cleaner::LogCleaner;
use crate::log::internal::is_internal;
use crate::log::{LogManager, now_ms};
use crate::metadata::MetadataImage;
use crate::metadata::image::{BROKER_RESOURCE, TOPIC_RESOURCE, TopicImage};
use crate::txn::TransactionCoordinator;
use crate::txn::coordinator::TRANSACTION_STATE_TOPIC;

/// Keeps the local logs as the image assigns them.
#[derive(Debug)]
pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    /// Told of deleted topics, as DeleteTopics tells them on a single broker.
    cleaner: Arc<LogCleaner>,
    groups: Arc<GroupCoordinator>,
    txns: Arc<TransactionCoordinator>,
    replication: Arc<Replication>,
    fetchers: FetcherManager,
}

/// What the image asks of one topic here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create (name, id, partition count, hosted partitions, config overrides).
    Create {
        name: String,
        id: uuid::Uuid,
        count: i32,
        hosted: Vec<i32>,
        overrides: BTreeMap<String, String>,
    },
    /// Delete the local topic of this name: the image deleted it (or replaced it by a
    /// namesake).
    Delete { name: String },
    /// Delete the local topic of this name: it lives on, but none of its replicas is here
    /// any more (moved away by reassignments).
    Unhost { name: String },
}

/// The partitions of `t` whose replicas name `node`.
fn hosted(t: &TopicImage, node: i32) -> Vec<i32> {
    t.partitions
        .iter()
        .filter(|(_, p)| p.replicas.contains(&node))
        .map(|(i, _)| *i)
        .collect()
}

/// What to do so that the local topics (name, id, assigned by the image) match `image`.
pub fn plan(image: &MetadataImage, node: i32, local: &[(String, uuid::Uuid, bool)]) -> Vec<Action> {
    let mut out = vec![];
    for (name, id, managed) in local {
        if !managed {
            continue;
        }
        match image.topic(name).filter(|t| t.id == *id) {
            // Deleted, or replaced by a namesake.
            None => out.push(Action::Delete { name: name.clone() }),
            // Every replica here was moved away (AlterPartitionReassignments).
            Some(t) if hosted(t, node).is_empty() => out.push(Action::Unhost { name: name.clone() }),
            Some(_) => {}
        }
    }
    for t in image.topics.values() {
        let here = hosted(t, node);
        if here.is_empty() || local.iter().any(|(_, id, _)| *id == t.id) {
            continue;
        }
        if let Some((name, _, managed)) = local.iter().find(|(n, _, _)| *n == t.name)
            && !managed
        {
            if !is_internal(name) {
                tracing::warn!(topic = %t.name, "a local topic of this name predates the cluster; the cluster's topic is not hosted here until it is deleted");
                continue;
            }
            // This broker's own coordinator state from before it was in the cluster (or
            // from a version that kept it per broker): the cluster's topic replaces it.
            tracing::warn!(
                topic = %name,
                "a local internal topic predates the cluster's: it is deleted, and the offsets or transaction states it held with it"
            );
            out.push(Action::Delete { name: name.clone() });
        }
        out.push(Action::Create {
            name: t.name.clone(),
            id: t.id,
            count: t.partitions.len() as i32,
            hosted: here,
            overrides: image
                .configs
                .get(&(TOPIC_RESOURCE, t.name.clone()))
                .cloned()
                .unwrap_or_default(),
        });
    }
    out
}

/// The image's topics whose assignment here changed from their local logs' (name, id,
/// managed, partition count, hosted partitions): grown by CreatePartitions, or with
/// replicas moved to or from this broker by a reassignment. Each is (name, partition
/// count, the partitions this broker hosts now); a topic hosted here no more is
/// [`plan`]'s to delete.
pub fn assignment_changes(
    image: &MetadataImage,
    node: i32,
    local: &[(String, uuid::Uuid, bool, i32, Vec<i32>)],
) -> Vec<(String, i32, Vec<i32>)> {
    let mut out = vec![];
    for (name, id, managed, count, here) in local {
        let Some(t) = image.topics.get(id).filter(|t| *managed && t.name == *name) else {
            continue;
        };
        let n = t.partitions.len() as i32;
        let wanted = hosted(t, node);
        if !wanted.is_empty() && (n > *count || wanted != *here) {
            out.push((name.clone(), n, wanted));
        }
    }
    out
}

impl ReplicaManager {
    pub fn new(
        node_id: i32,
        logs: Arc<LogManager>,
        cleaner: Arc<LogCleaner>,
        groups: Arc<GroupCoordinator>,
        txns: Arc<TransactionCoordinator>,
        replication: Arc<Replication>,
        fetchers: FetcherManager,
    ) -> Self {
        Self {
            node_id,
            logs,
            cleaner,
            groups,
            txns,
            replication,
            fetchers,
        }
    }

    /// Follows `image` until `shutdown`, starting once the controller has unfenced this
    /// broker (`lifecycle` gives (fenced, may shut down)): it unfences a broker only after
    /// its image holds everything up to its registration, so no topic is missing from the
    /// image then merely because the metadata log is still being replayed (a topic that
    /// would otherwise be deleted here).
    pub async fn run(
        self,
        mut image: watch::Receiver<Arc<MetadataImage>>,
        mut lifecycle: watch::Receiver<(bool, bool)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tokio::select! {
            unfenced = lifecycle.wait_for(|(fenced, _)| !fenced) => if unfenced.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        loop {
            let current = image.borrow_and_update().clone();
            self.reconcile(&current).await;
            tokio::select! {
                changed = image.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        self.fetchers.stop_all();
    }

    /// Applies [`plan`] and [`assignment_changes`] (file work on a blocking thread): what
    /// is created or grows first, then the roles, then what is hosted here no more, once
    /// its fetchers have stopped (Kafka's `stopPartitions` before the log's deletion).
    pub async fn reconcile(&self, image: &MetadataImage) {
        let local: Vec<(String, uuid::Uuid, bool)> = self
            .logs
            .topics()
            .iter()
            .map(|t| (t.name.to_string(), t.id, t.partitions.is_managed()))
            .collect();
        let actions = plan(image, self.node_id, &local);
        let assigned: Vec<(String, uuid::Uuid, bool, i32, Vec<i32>)> = self
            .logs
            .topics()
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.id,
                    t.partitions.is_managed(),
                    t.partitions.len() as i32,
                    t.partitions.indexes(),
                )
            })
            .collect();
        let changed = assignment_changes(image, self.node_id, &assigned);
        self.follow_configs(image).await;
        self.follow_broker_configs(image).await;
        // Growth and new replicas; removed replicas stay until their fetchers stop.
        let additions: Vec<(String, i32, Vec<i32>)> = changed
            .iter()
            .map(|(name, count, hosted)| {
                let here = assigned.iter().find(|a| a.0 == *name).map_or(&[][..], |a| &a.4[..]);
                let mut keep: Vec<i32> = hosted.iter().chain(here).copied().collect();
                keep.sort_unstable();
                keep.dedup();
                (name.clone(), *count, keep)
            })
            .collect();
        let (now, later): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(|a| !matches!(a, Action::Unhost { .. }));
        let deleted: Vec<String> = now
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        self.file_work(now, additions).await;
        for name in deleted {
            self.cleaner.forget_topic(&name);
            self.groups.topic_deleted(&name).await;
        }
        self.take_roles(image);
        // Replicas moved away (a reassignment): their data goes, the topic stays.
        let removals: Vec<(String, i32, Vec<i32>)> = changed
            .into_iter()
            .filter(|(name, _, hosted)| {
                assigned
                    .iter()
                    .find(|a| a.0 == *name)
                    .is_some_and(|a| a.4.iter().any(|p| !hosted.contains(p)))
            })
            .collect();
        let forget: Vec<(String, Vec<i32>)> = removals
            .iter()
            .map(|(name, _, hosted)| {
                let here = assigned.iter().find(|a| a.0 == *name).map_or(&[][..], |a| &a.4[..]);
                (
                    name.clone(),
                    here.iter().copied().filter(|p| !hosted.contains(p)).collect(),
                )
            })
            .collect();
        let unhosted: Vec<String> = later
            .iter()
            .filter_map(|a| match a {
                Action::Unhost { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        self.file_work(later, removals).await;
        // Once the data is gone, so that no cleaning round writes the entries back.
        for (name, gone) in forget {
            self.cleaner.forget_partitions(&name, &gone);
        }
        for name in unhosted {
            self.cleaner.forget_topic(&name);
        }
    }

    /// Runs `actions` then `assignments` (name, count, hosted) on a blocking thread.
    async fn file_work(&self, actions: Vec<Action>, assignments: Vec<(String, i32, Vec<i32>)>) {
        if actions.is_empty() && assignments.is_empty() {
            return;
        }
        let logs = self.logs.clone();
        let done = tokio::task::spawn_blocking(move || {
            for a in actions {
                let result = match &a {
                    Action::Delete { name } | Action::Unhost { name } => logs.delete_topic(name).map(drop),
                    Action::Create {
                        name,
                        id,
                        count,
                        hosted,
                        overrides,
                    } => logs
                        .create_topic_as(name, *id, *count, Some(hosted), overrides.clone())
                        .map(drop),
                };
                if let Err(e) = result {
                    tracing::error!(action = ?a, error = %e, "the local logs could not follow the metadata image");
                }
            }
            for (name, count, hosted) in assignments {
                if let Err(e) = logs.follow_assignment(&name, count, &hosted) {
                    tracing::error!(topic = %name, count, error = %e, "the local log could not follow the metadata image's assignment");
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "the replica manager's task failed");
        }
    }

    /// Applies the image's dynamic broker configs (the cluster default and this broker's)
    /// where this broker's differ: kafka-configs on any broker reaches every one.
    async fn follow_broker_configs(&self, image: &MetadataImage) {
        use crate::log::manager::broker_defaults::DynamicDefaults;
        let level = |name: String| image.configs.get(&(BROKER_RESOURCE, name)).cloned().unwrap_or_default();
        let wanted = DynamicDefaults {
            cluster: level(String::new()),
            broker: level(self.node_id.to_string()),
        };
        let have = self.logs.dynamic_defaults();
        if have == wanted {
            return;
        }
        let logs = self.logs.clone();
        let done = tokio::task::spawn_blocking(move || {
            if have.cluster != wanted.cluster {
                logs.alter_dynamic_defaults(false, false, |_| Ok(wanted.cluster.clone()))?;
            }
            if have.broker != wanted.broker {
                logs.alter_dynamic_defaults(true, false, |_| Ok(wanted.broker.clone()))?;
            }
            Ok::<_, crate::log::manager::TopicError>(())
        })
        .await;
        match done {
            Ok(Ok(())) => self.cleaner.reconfigured(),
            Ok(Err(e)) => tracing::error!(error = %e, "the dynamic broker configs could not follow the metadata image"),
            Err(e) => tracing::error!(error = %e, "the replica manager's task failed"),
        }
    }

    /// Topics whose configs the image changed (IncrementalAlterConfigs through the
    /// controller) take them: persisted and installed as a single broker's change is, and
    /// a retention change applied at once.
    async fn follow_configs(&self, image: &MetadataImage) {
        let changed: Vec<(String, BTreeMap<String, String>)> = self
            .logs
            .topics()
            .iter()
            .filter(|t| t.partitions.is_managed())
            .filter_map(|t| {
                let it = image.topics.get(&t.id).filter(|it| *it.name == *t.name)?;
                let wanted = image
                    .configs
                    .get(&(TOPIC_RESOURCE, it.name.clone()))
                    .cloned()
                    .unwrap_or_default();
                (t.overrides() != wanted).then(|| (t.name.to_string(), wanted))
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        let logs = self.logs.clone();
        let done = tokio::task::spawn_blocking(move || {
            for (name, wanted) in changed {
                match logs.alter_topic_config(&name, false, |_| Ok(wanted)) {
                    Ok(_) => {
                        if let Some(t) = logs.topic(&name) {
                            for p in &t.partitions {
                                if let Err(e) = p.apply_retention(now_ms()) {
                                    tracing::error!(partition = ?p, error = %e, "retention failed");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(topic = %name, error = %e, "the topic's configs could not follow the metadata image")
                    }
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "the replica manager's task failed");
        }
    }

    /// Every hosted partition takes the role `image` gives it (see the module doc).
    fn take_roles(&self, image: &MetadataImage) {
        // Groups and transactional ids whose partition is led no more stop before it
        // follows its new leader.
        let led = |name: &str| -> (i32, Vec<(i32, i32)>) {
            image.topic(name).map_or((0, vec![]), |t| {
                let led = t
                    .partitions
                    .iter()
                    .filter(|(_, p)| p.leader == self.node_id)
                    .map(|(i, p)| (*i, p.leader_epoch))
                    .collect();
                (t.partitions.len() as i32, led)
            })
        };
        let (n, offsets) = led(OFFSETS_TOPIC);
        let groups_to_load = self.groups.elect(n, &offsets);
        let (n, states) = led(TRANSACTION_STATE_TOPIC);
        let txns_to_load = self.txns.elect(n, &states);
        let mut followed: BTreeMap<PartitionKey, (i32, Followed)> = BTreeMap::new();
        let mut led = vec![];
        for t in image.topics.values() {
            let Some(local) = self.logs.topic(&t.name).filter(|l| l.id == t.id) else {
                continue;
            };
            for (index, p) in &t.partitions {
                let Some(partition) = local.partitions.by_index(*index) else {
                    continue;
                };
                if p.leader == self.node_id {
                    led.push((t, *index, p, partition.clone()));
                    continue;
                }
                partition.not_leading();
                if p.leader >= 0 && p.replicas.contains(&self.node_id) {
                    partition.set_replicated(true);
                    let f = Followed {
                        partition: partition.clone(),
                        topic_id: t.id,
                        leader_epoch: p.leader_epoch,
                    };
                    followed.insert((t.id, *index), (p.leader, f));
                }
            }
        }
        // Fetchers first: nothing fetched lands in a partition once it leads.
        self.fetchers.assign(followed);
        let now = now_ms();
        let mut leading = std::collections::HashSet::new();
        for (t, index, p, partition) in led {
            if partition.leader_epoch() != p.leader_epoch
                && let Err(e) = partition.become_leader_at(p.leader_epoch)
            {
                tracing::error!(topic = %t.name, partition = index, error = %e, "becoming the leader failed");
                continue;
            }
            if p.replicas.len() <= 1 {
                // A lone replica (a reassignment may have just made it one): no leader
                // state, appends commit at once.
                partition.set_replicated(false);
                continue;
            }
            leading.insert((t.name.clone(), index));
            let state = match self.replication.leader(&t.name, index) {
                Some(s) if s.leader_epoch == p.leader_epoch && Arc::ptr_eq(&s.partition, &partition) => {
                    s.committed(p.isr.clone(), p.partition_epoch);
                    s.set_replicas(&p.replicas, now);
                    s
                }
                _ => {
                    // The state decides from here on whether appends alone commit.
                    partition.set_replicated(true);
                    let s = Arc::new(LeaderState::new(
                        partition.clone(),
                        t.id,
                        self.node_id,
                        p.leader_epoch,
                        p.partition_epoch,
                        &p.replicas,
                        p.isr.clone(),
                        now,
                    ));
                    self.replication.set_leader(&t.name, index, s.clone());
                    // Produces waiting on a previous state look again: they wait on if this
                    // log led all along (a new epoch of the same leadership), else answer
                    // NOT_LEADER_OR_FOLLOWER (`acks.rs`).
                    partition.wake_waiters();
                    s
                }
            };
            state.set_recovering(p.leader_recovery_state == crate::controller::change::RECOVERING);
            state.leader_appended();
        }
        // Partitions led no more: their waiting produces learn it.
        self.replication.retain(|topic, index, s| {
            let keep = leading.contains(&(topic.to_string(), index));
            if !keep {
                s.partition.wake_waiters();
            }
            keep
        });
        // Newly led partitions of the internal topics lead now: their groups and
        // transactional ids load.
        self.groups.load_partitions(groups_to_load);
        self.txns.load_partitions(txns_to_load);
    }
}

#[cfg(test)]
mod tests;
