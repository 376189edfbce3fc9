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

use super::coordinator::GroupCoordinator;
use super::{GroupError, OFFSETS_TOPIC, partition_for};
use crate::log::internal::{encode_batch, load_to_log_end};
use crate::log::manager::{append_flushing, append_marker_flushing};
use crate::log::partition::group_commit::FlushWait;
use crate::log::partition::{AppendInfo, Origin};
use crate::log::{LogError, LogManager, Partition};
use crate::replica::Replication;
use crate::replica::leader_write::{LeaderWriteError, await_committed, check_leading};
use crate::replica::ownership::{self, Ownership};

/// The coordinator's place in the cluster (set once, at start).
#[derive(Debug)]
pub struct ClusterLink {
    pub ownership: Ownership,
    pub replication: Arc<Replication>,
    /// `offsets.commit.timeout.ms`: how long a write waits for the in-sync replicas.
    pub commit_timeout: Duration,
}

fn write_error(e: LeaderWriteError) -> GroupError {
    match e {
        LeaderWriteError::NotLeader => GroupError::NotCoordinator,
        LeaderWriteError::NotEnoughReplicas
        | LeaderWriteError::NotEnoughReplicasAfterAppend
        | LeaderWriteError::TimedOut => GroupError::CoordinatorNotAvailable,
        LeaderWriteError::Log(LogError::BatchTooLarge { .. }) => GroupError::CommitTooLarge,
        LeaderWriteError::Log(LogError::InvalidProducerEpoch(_)) => GroupError::ProducerFenced,
        // KAFKA_STORAGE_ERROR: Kafka's coordinators answer NOT_COORDINATOR.
        LeaderWriteError::Log(LogError::Fenced | LogError::PartitionDeleted) => GroupError::NotCoordinator,
        LeaderWriteError::Log(e) => GroupError::Storage(e.to_string()),
    }
}

impl ClusterLink {
    /// Appends `records` (key, value or tombstone) for `key`'s group to its partition, led
    /// here, as one batch (transactional for `producer`); answered once the in-sync
    /// replicas hold it.
    pub async fn append(
        &self,
        logs: &LogManager,
        epoch: Option<i32>,
        key: &str,
        records: &[(Bytes, Option<Bytes>)],
        producer: Option<(i64, i16)>,
    ) -> Result<AppendInfo, GroupError> {
        let now = crate::log::now_ms();
        let batch = encode_batch(records, now, producer);
        let origin = if producer.is_some() {
            Origin::Coordinator
        } else {
            Origin::Client
        };
        let p = partition_for(key, self.ownership.count());
        self.write(logs, p, epoch, |partition| {
            append_flushing(partition, &batch, now, origin)
        })
        .await
    }

    /// Writes a transaction marker to partition `p`, led here (the groups' pending
    /// offsets are settled by the caller).
    pub async fn append_marker(
        &self,
        logs: &LogManager,
        p: i32,
        (pid, epoch, coordinator_epoch, commit): (i64, i16, i32, bool),
    ) -> Result<AppendInfo, LeaderWriteError> {
        self.write_raw(logs, p, None, |partition| {
            append_marker_flushing(partition, pid, epoch, coordinator_epoch, commit)
        })
        .await
    }

    async fn write(
        &self,
        logs: &LogManager,
        p: i32,
        epoch: Option<i32>,
        append: impl FnOnce(&Arc<Partition>) -> Result<(AppendInfo, Option<FlushWait>), LogError>,
    ) -> Result<AppendInfo, GroupError> {
        self.write_raw(logs, p, epoch, append).await.map_err(write_error)
    }

    /// `append` to partition `p` while it is coordinated here (at `expected`, when given:
    /// an actor of an earlier election writes nothing), then waits for the ISR.
    async fn write_raw(
        &self,
        logs: &LogManager,
        p: i32,
        expected: Option<i32>,
        append: impl FnOnce(&Arc<Partition>) -> Result<(AppendInfo, Option<FlushWait>), LogError>,
    ) -> Result<AppendInfo, LeaderWriteError> {
        let partition = logs.partition(OFFSETS_TOPIC, p).ok_or(LeaderWriteError::NotLeader)?;
        let (info, flush, state) = {
            // Held until the batch is in the log: a resignation waits for it.
            let Some((epoch, _gate)) = self.ownership.gate(p) else {
                return Err(LeaderWriteError::NotLeader);
            };
            if expected.is_some_and(|e| e != epoch) {
                return Err(LeaderWriteError::NotLeader);
            }
            let state = check_leading(&self.replication, &partition, Some(epoch))?;
            let (info, flush) = append(&partition)?;
            (info, flush, state)
        };
        await_committed(&self.replication, state, &info, flush, self.commit_timeout).await?;
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
        // The actors stop under the lock: no group of a resigned partition is created after.
        let mut owned = link.ownership.write();
        let changes = ownership::elect(&mut owned, led);
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

    /// Whether a partition coordinated here is still loading (ListGroups waits).
    pub fn any_loading(&self) -> bool {
        self.link()
            .is_some_and(|l| l.ownership.all().iter().any(|(_, o)| !o.loaded))
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
        let items = match load_to_log_end(self.log_manager(), OFFSETS_TOPIC, p).await {
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
                    self.install(id, g, Some(epoch));
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
