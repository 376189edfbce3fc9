//! The group coordinator in a cluster: groups move with the leadership of their
//! `__consumer_offsets` partition (Kafka's coordinator election).
//!
//! - The replica manager tells the coordinator which partitions of `__consumer_offsets`
//!   this broker leads, at which leader epoch ([`GroupCoordinator::elect`]). A partition
//!   no longer led is resigned at once: its groups' actors stop (parked and queued requests
//!   get NOT_COORDINATOR) before the partition starts following its new leader. A newly
//!   led one is loaded once the partition has taken its role
//!   ([`GroupCoordinator::load_partitions`]): its log is read to the log end and its groups
//!   rebuilt, as at a single broker's start.
//! - Every write of a coordinated group ([`ClusterLink::append`]) goes to the partition this
//!   broker leads, stamped with its leader epoch, and is answered once the in-sync replicas
//!   hold it (Kafka's coordinators append with acks=all), within `offsets.commit.timeout.ms`.
//!   Kafka's mapping of the append's errors: NOT_LEADER_OR_FOLLOWER becomes NOT_COORDINATOR,
//!   NOT_ENOUGH_REPLICAS and a timeout COORDINATOR_NOT_AVAILABLE.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::coordinator::GroupCoordinator;
use super::ownership::{self, Ownership};
use super::{GroupError, OFFSETS_TOPIC, partition_for};
use crate::log::internal::{encode_batch, read_all_to_log_end};
use crate::log::manager::append_flushing;
use crate::log::partition::{AppendInfo, Origin};
use crate::log::{LogError, LogManager};
use crate::replica::Replication;
use crate::replica::acks::ReplicationWait;

/// The coordinator's place in the cluster (set once, at start).
#[derive(Debug)]
pub struct ClusterLink {
    pub ownership: Ownership,
    pub replication: Arc<Replication>,
    /// `offsets.commit.timeout.ms`: how long a write waits for the in-sync replicas.
    pub commit_timeout: Duration,
}

fn append_error(e: LogError) -> GroupError {
    match e {
        LogError::BatchTooLarge { .. } => GroupError::CommitTooLarge,
        LogError::InvalidProducerEpoch(_) => GroupError::ProducerFenced,
        // KAFKA_STORAGE_ERROR: Kafka's coordinators answer NOT_COORDINATOR.
        LogError::Fenced | LogError::PartitionDeleted => GroupError::NotCoordinator,
        e => GroupError::Storage(e.to_string()),
    }
}

impl ClusterLink {
    /// Appends `records` (key, value or tombstone) for `key`'s group to its partition, led
    /// here, as one batch (transactional for `producer`); answered once the in-sync
    /// replicas hold it.
    pub async fn append(
        &self,
        logs: &LogManager,
        key: &str,
        records: &[(Bytes, Option<Bytes>)],
        producer: Option<(i64, i16)>,
    ) -> Result<AppendInfo, GroupError> {
        let p = partition_for(key, self.ownership.count());
        let partition = logs.partition(OFFSETS_TOPIC, p).ok_or(GroupError::NotCoordinator)?;
        let now = crate::log::now_ms();
        let batch = encode_batch(records, now, producer);
        let origin = if producer.is_some() {
            Origin::Coordinator
        } else {
            Origin::Client
        };
        let (info, flush, state) = {
            // Held until the batch is in the log: a resignation waits for it.
            let Some((epoch, _gate)) = self.ownership.gate(p) else {
                return Err(GroupError::NotCoordinator);
            };
            let state = self.replication.leader(OFFSETS_TOPIC, p);
            match &state {
                Some(s) if s.leader_epoch != epoch => return Err(GroupError::NotCoordinator),
                Some(s) if s.isr().0.len() < s.min_isr() => {
                    // NOT_ENOUGH_REPLICAS before the append.
                    return Err(GroupError::CoordinatorNotAvailable);
                }
                Some(_) => {}
                // One replica: the append commits alone, at the epoch it was loaded at.
                None if partition.is_replicated() || partition.leader_epoch() != epoch => {
                    return Err(GroupError::NotCoordinator);
                }
                None => {}
            }
            let (info, flush) = append_flushing(&partition, &batch, now, origin).map_err(append_error)?;
            (info, flush, state)
        };
        if let Some(f) = flush {
            f.wait().await.map_err(append_error)?;
        }
        if let Some(state) = state {
            let wait = ReplicationWait {
                replication: self.replication.clone(),
                state,
                required_offset: info.last_offset + 1,
                deadline: tokio::time::Instant::now() + self.commit_timeout,
            };
            wait.wait().await.map_err(|(e, _)| match e {
                ResponseError::NotLeaderOrFollower => GroupError::NotCoordinator,
                _ => GroupError::CoordinatorNotAvailable,
            })?;
        }
        Ok(info)
    }
}

impl GroupCoordinator {
    /// Joins the cluster: groups are coordinated only where their partition is led here.
    pub fn join_cluster(&self, replication: Arc<Replication>, commit_timeout: Duration) {
        let _ = self.link_slot().set(Arc::new(ClusterLink {
            ownership: Ownership::default(),
            replication,
            commit_timeout,
        }));
    }

    /// The image says this broker leads `led` (partition, leader epoch) of the
    /// `count`-partition `__consumer_offsets`: partitions led no more are resigned now;
    /// the returned ones are to be loaded ([`Self::load_partitions`]) once the
    /// partitions have taken their roles.
    pub fn elect(&self, count: i32, led: &[(i32, i32)]) -> Vec<(i32, i32)> {
        let Some(link) = self.link() else { return vec![] };
        link.ownership.set_count(count);
        let changes = {
            let mut owned = link.ownership.write();
            ownership::elect(&mut owned, led)
        };
        for p in changes.resigned {
            let stopped = self.stop_partition(p, count);
            tracing::info!(
                partition = p,
                groups = stopped,
                "resigned as the coordinator of {OFFSETS_TOPIC}-{p}"
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

    /// Reads partition `p` to its log end and serves its groups, unless it was resigned
    /// (or elected again at another epoch) meanwhile.
    async fn load_partition(self: Arc<Self>, p: i32, epoch: i32) {
        let Some(link) = self.link().cloned() else { return };
        let started = std::time::Instant::now();
        let read = match self.log_manager().partition(OFFSETS_TOPIC, p) {
            Some(partition) => tokio::task::spawn_blocking(move || read_all_to_log_end(&partition))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
            None => Err("the partition is not hosted here".to_string()),
        };
        let items = match read {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(partition = p, epoch, error = %e, "loading {OFFSETS_TOPIC}-{p} failed: its groups are not coordinated here");
                ownership::forget(&mut link.ownership.write(), p, epoch);
                return;
            }
        };
        let mut loading = HashMap::new();
        super::coordinator::read_groups(items, &mut loading);
        let groups = self.build_groups(loading);
        let n = groups.len();
        let mut owned = link.ownership.write();
        match owned.get_mut(&p) {
            Some(o) if o.epoch == epoch && !o.loaded => {
                // A group created here before an earlier resignation finished is replaced.
                self.stop_partition(p, link.ownership.count());
                for (id, g, _) in groups {
                    self.install(id, g);
                }
                o.loaded = true;
            }
            _ => return,
        }
        drop(owned);
        tracing::info!(
            partition = p,
            epoch,
            groups = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded {OFFSETS_TOPIC}-{p}: coordinating its groups"
        );
    }
}
