//! One task per group: it owns the group's [`Group`] state machine, takes commands from a
//! channel in order, and otherwise sleeps until the group's earliest deadline (session,
//! rebalance, initial delay, pending sync). No polling: the only waits are the channel and
//! that one timer.
//!
//! Durable effects happen here, in command order: offset commits are appended to
//! `__consumer_offsets` before they are applied and acknowledged, and membership changes
//! the state machine flags are written after the command that made them.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::coordinator::{OffsetsLog, Registry};
use super::records;
use super::state::{CommittedOffset, Group, Now, PartitionResults, StoredGroup};
use super::{GroupError, GroupState};

/// What ListGroups needs, kept current by the actor so listing never queues behind it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub state: GroupState,
    pub protocol_type: String,
}

/// A synchronous step on the group's state machine.
pub type Step = Box<dyn FnOnce(&mut Group, Now) + Send>;

/// A change to the group's committed offsets, to be made durable first.
#[derive(Debug)]
pub enum OffsetWrite {
    /// OffsetCommit: validated against the member and generation, then appended.
    Commit {
        /// TxnOffsetCommit's producer (id, epoch): the offsets are written inside its
        /// transaction and stay pending until its marker. `None` for OffsetCommit.
        producer: Option<(i64, i16)>,
        member_id: String,
        group_instance_id: Option<String>,
        generation_id: i32,
        offsets: Vec<((String, i32), CommittedOffset)>,
        reply: oneshot::Sender<Result<(), GroupError>>,
    },
    /// OffsetDelete: partitions whose offsets go (the caller checked subscriptions).
    Delete {
        partitions: Vec<(String, i32)>,
        reply: oneshot::Sender<Result<PartitionResults, GroupError>>,
    },
    /// Compaction of `__consumer_offsets`: append the group's whole live state again (its
    /// metadata and every offset) so older records can be dropped; answers whether it did.
    /// Answers `Err(())` if it could not, else the log offset of its oldest record that
    /// must stay (an open transaction's pending offset), if any.
    Rewrite {
        done: oneshot::Sender<Result<Option<i64>, ()>>,
    },
    /// DeleteGroups: the group must be Empty; its offsets and metadata are tombstoned.
    DeleteGroup {
        reply: oneshot::Sender<Result<(), GroupError>>,
    },
    /// The offset-expiration pass, or a deleted topic (`topic` set): drop offsets.
    /// `done` is answered once the tombstones are written.
    Expire {
        now_wall_ms: i64,
        retention_ms: i64,
        deleted_topic: Option<String>,
        done: Option<oneshot::Sender<()>>,
    },
}

/// A command for the actor: a synchronous step on the state machine, an offset write, or
/// (in a cluster) the end of this broker's coordination of the group.
pub enum Command {
    Step(Step),
    Write(OffsetWrite),
    /// The group's `__consumer_offsets` partition is led elsewhere now: stop at once.
    Resign,
}

/// The running actor's context.
pub struct Actor {
    pub group: Group,
    pub rx: mpsc::UnboundedReceiver<Command>,
    pub log: Arc<OffsetsLog>,
    pub registry: Arc<Registry>,
    pub summary: Arc<Mutex<Summary>>,
    pub actor_id: u64,
    pub clock_base: Instant,
    pub shutdown: watch::Receiver<bool>,
    /// The membership last written to `__consumer_offsets` (what compaction copies: the
    /// in-memory state may be mid-rebalance).
    pub last_stored: Option<StoredGroup>,
    /// In a cluster, the leader epoch of the group's partition this actor was created at:
    /// it writes only while the partition is coordinated here at that epoch.
    pub epoch: Option<i32>,
}

impl Actor {
    fn now(&self) -> Now {
        Now {
            mono_ms: self.clock_base.elapsed().as_millis() as u64,
            wall_ms: crate::log::now_ms(),
        }
    }

    /// Runs until the group is deleted or expires, or the broker shuts down.
    pub async fn run(mut self) {
        loop {
            if *self.shutdown.borrow() {
                return self.stop().await;
            }
            let deadline = self
                .group
                .next_deadline()
                .map(|ms| self.clock_base + std::time::Duration::from_millis(ms));
            tokio::select! {
                // Commands first: a resignation is never passed by a timer's write.
                biased;
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Resign) => return self.resign(),
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let now = self.now();
                    self.group.tick(now);
                }
                // A dropped sender (the broker handle is gone) also means stop.
                changed = self.shutdown.changed() => {
                    if changed.is_err() {
                        return self.stop().await;
                    }
                    continue;
                }
            }
            self.after_step().await;
            if self.group.state() == GroupState::Dead {
                break;
            }
        }
        self.retire().await;
    }

    async fn handle(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Step(f) => f(&mut self.group, now),
            Command::Write(w) => self.write(w, now).await,
            Command::Resign => {}
        }
    }

    /// Persists flagged membership changes and publishes the summary.
    async fn after_step(&mut self) {
        if self.group.take_metadata_dirty() && self.group.state() != GroupState::Dead {
            let stored = self.group.stored();
            let recs = vec![(records::group_key(&self.group.id), Some(records::group_value(&stored)))];
            match self.log.append(self.epoch, &self.group.id, recs).await {
                Ok(_) => self.last_stored = Some(stored),
                Err(e) => tracing::error!(group = %self.group.id, error = %e, "storing group metadata failed"),
            }
        }
        let mut s = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        s.state = self.group.state();
        s.protocol_type = self.group.protocol_type().unwrap_or_default().to_string();
    }

    async fn write(&mut self, w: OffsetWrite, now: Now) {
        let gid = self.group.id.clone();
        match w {
            OffsetWrite::Commit {
                producer,
                member_id,
                group_instance_id,
                generation_id,
                offsets,
                reply,
            } => {
                let valid = self.group.validate_commit(
                    &member_id,
                    group_instance_id.as_deref(),
                    generation_id,
                    producer.is_some(),
                );
                if let Err(e) = valid {
                    let _ = reply.send(Err(e));
                    return;
                }
                let recs = offsets
                    .iter()
                    .map(|((t, p), o)| (records::offset_key(&gid, t, *p), Some(records::offset_value(o))))
                    .collect();
                let written = match producer {
                    Some((pid, epoch)) => self.log.append_txn(self.epoch, &gid, recs, pid, epoch).await,
                    None => self.log.append(self.epoch, &gid, recs).await,
                };
                if let Ok(at) = written {
                    for (tp, o) in offsets {
                        match producer {
                            Some((pid, _)) => self.group.txn.add_pending(pid, tp, o, at),
                            None => {
                                self.group.txn.record_commit(tp.clone(), at);
                                self.group.apply_commit(&member_id, tp, o, now);
                            }
                        }
                    }
                }
                let _ = reply.send(written.map(|_| ()));
            }
            OffsetWrite::Delete { partitions, reply } => {
                let checked = self.group.check_offset_delete(&partitions);
                let result = match checked {
                    Ok(results) => {
                        let doomed: Vec<(String, i32)> = results
                            .iter()
                            .filter(|(tp, r)| r.is_ok() && self.group.offsets.contains_key(tp))
                            .map(|(tp, _)| tp.clone())
                            .collect();
                        self.tombstone_offsets(&doomed).await.map(|()| results)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            OffsetWrite::Rewrite { done } => {
                // Records of an open transaction must stay until its marker: the caller
                // compacts no further than the oldest one.
                let keep = self.group.txn.first_pending_offset();
                let _ = done.send(self.rewrite().await.map(|()| keep).map_err(|_| ()));
            }
            OffsetWrite::DeleteGroup { reply } => {
                // Tombstones first: the group is Dead only once they are durable.
                let result = match self.group.check_deletable() {
                    Ok(()) => self.tombstone_group().await.map(|()| self.group.mark_dead(now)),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            OffsetWrite::Expire {
                now_wall_ms,
                retention_ms,
                deleted_topic,
                done: _done,
            } => {
                let gone: Vec<(String, i32)> = match &deleted_topic {
                    Some(t) => {
                        let mut gone: Vec<_> = self.group.offsets.keys().filter(|(x, _)| x == t).cloned().collect();
                        gone.extend(self.group.txn.pending_partitions().into_iter().filter(|(x, _)| x == t));
                        gone.sort();
                        gone.dedup();
                        gone
                    }
                    None => self.group.expired_offsets(now_wall_ms, retention_ms),
                };
                if !gone.is_empty() {
                    tracing::info!(group = %gid, offsets = gone.len(), "removing expired or orphaned offsets");
                }
                if let Err(e) = self.tombstone_offsets(&gone).await {
                    tracing::error!(group = %gid, error = %e, "removing offsets failed");
                    return;
                }
                if deleted_topic.is_none() && self.group.is_removable() {
                    tracing::info!(group = %gid, "removing empty group with no offsets");
                    match self.tombstone_group().await {
                        Ok(()) => self.group.mark_dead(now),
                        Err(e) => tracing::error!(group = %gid, error = %e, "removing the group failed"),
                    }
                }
            }
        }
    }

    /// Appends the group's live state (the membership last stored, then every offset) in
    /// batches well under `max.message.bytes`.
    async fn rewrite(&mut self) -> Result<(), GroupError> {
        const BATCH_BYTES: usize = 256 << 10;
        let gid = self.group.id.clone();
        let mut recs: Vec<(Bytes, Option<Bytes>)> = vec![];
        if let Some(stored) = &self.last_stored {
            recs.push((records::group_key(&gid), Some(records::group_value(stored))));
        }
        recs.extend(
            self.group
                .offsets
                .iter()
                .map(|((t, p), o)| (records::offset_key(&gid, t, *p), Some(records::offset_value(o)))),
        );
        let mut batch = vec![];
        let mut size = 0;
        for r in recs {
            let len = r.0.len() + r.1.as_ref().map_or(0, |v| v.len()) + 32;
            if !batch.is_empty() && size + len > BATCH_BYTES {
                self.log.append(self.epoch, &gid, std::mem::take(&mut batch)).await?;
                size = 0;
            }
            size += len;
            batch.push(r);
        }
        if !batch.is_empty() {
            self.log.append(self.epoch, &gid, batch).await?;
        }
        Ok(())
    }

    async fn tombstone_offsets(&mut self, tps: &[(String, i32)]) -> Result<(), GroupError> {
        if tps.is_empty() {
            return Ok(());
        }
        let gid = self.group.id.clone();
        let recs = tps
            .iter()
            .map(|(t, p)| (records::offset_key(&gid, t, *p), None))
            .collect();
        self.log.append(self.epoch, &gid, recs).await?;
        for tp in tps {
            self.group.offsets.remove(tp);
            self.group.txn.forget(tp);
        }
        Ok(())
    }

    /// Writes tombstones for every offset and the group metadata of a Dead group.
    async fn tombstone_group(&mut self) -> Result<(), GroupError> {
        let gid = self.group.id.clone();
        let mut tps: Vec<(String, i32)> = self.group.offsets.keys().cloned().collect();
        tps.extend(self.group.txn.pending_partitions());
        tps.sort();
        tps.dedup();
        let mut recs: Vec<(Bytes, Option<Bytes>)> = tps
            .iter()
            .map(|(t, p)| (records::offset_key(&gid, t, *p), None))
            .collect();
        recs.push((records::group_key(&gid), None));
        self.log.append(self.epoch, &gid, recs).await?;
        self.group.offsets.clear();
        for tp in &tps {
            self.group.txn.forget(tp);
        }
        Ok(())
    }

    /// Broker shutdown: parked and queued requests get NOT_COORDINATOR (clients look for the
    /// coordinator again); the group stays as stored.
    async fn stop(mut self) {
        self.rx.close();
        self.group.fail_parked(GroupError::NotCoordinator);
        let now = self.now();
        while let Some(cmd) = self.rx.recv().await {
            match cmd {
                Command::Step(f) => {
                    self.group.mark_dead(now);
                    f(&mut self.group, now)
                }
                Command::Write(w) => reject(w, GroupError::NotCoordinator),
                Command::Resign => {}
            }
        }
    }

    /// This broker resigned as the group's coordinator (the coordinator already took it
    /// out of the registry): parked requests get NOT_COORDINATOR, queued writes too, and
    /// queued steps are dropped unrun, so their callers look for the coordinator again.
    fn resign(mut self) {
        self.rx.close();
        self.group.fail_parked(GroupError::NotCoordinator);
        while let Ok(cmd) = self.rx.try_recv() {
            if let Command::Write(w) = cmd {
                reject(w, GroupError::NotCoordinator);
            }
        }
        let mut s = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        s.state = GroupState::Dead;
    }

    /// Leaves the registry, then answers whatever is still queued as a Dead group does
    /// (clients retry and find a fresh group).
    async fn retire(mut self) {
        self.registry.remove(&self.group.id, self.actor_id);
        self.rx.close();
        let now = self.now();
        self.group.mark_dead(now);
        while let Some(cmd) = self.rx.recv().await {
            match cmd {
                Command::Step(f) => f(&mut self.group, now),
                Command::Write(w) => reject(w, GroupError::CoordinatorNotAvailable),
                Command::Resign => {}
            }
        }
        let mut s = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        s.state = GroupState::Dead;
    }
}

fn reject(w: OffsetWrite, e: GroupError) {
    match w {
        OffsetWrite::Commit { reply, .. } | OffsetWrite::DeleteGroup { reply } => {
            let _ = reply.send(Err(e));
        }
        OffsetWrite::Delete { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        OffsetWrite::Expire { .. } => {}
        OffsetWrite::Rewrite { done } => {
            let _ = done.send(Err(()));
        }
    }
}
