//! One partition's change, decided as Kafka's `PartitionChangeBuilder` decides it: the
//! caller sets the targets it wants (ISR, replicas, adding and removing replicas, leader
//! recovery state) and the election allowed, and [`PartitionChange::build`] adds what
//! follows from them, in Kafka's order:
//! 1. a reassignment whose target replicas are all in the target ISR completes (Kafka's
//!    `PartitionReassignmentReplicas.maybeCompleteReassignment`): the removing replicas
//!    leave the replicas and the ISR, adding and removing are cleared;
//! 2. the leader: the current one stays if it is in the target ISR and may lead; else the
//!    first target replica that is; else, only with an unclean election allowed, the first
//!    target replica that may lead, whose ISR is then itself alone and whose leader
//!    recovery state is RECOVERING (acknowledged records may be lost); else no leader;
//! 3. replicas that shrink bump the leader epoch (a change naming the same leader), so the
//!    removed replicas are fenced;
//! 4. an ISR that would be empty is not written (the last member stays, as Kafka without
//!    eligible leader replicas).
//!
//! The result is the PartitionChangeRecord, or none when nothing changes.
//!
//! Owns: the decision for one partition. Must not read or write the image beyond it.

use uuid::Uuid;

use crate::metadata::image::{MIGRATING_DIRECTORY, PartitionRegistration};
use crate::metadata::records::{NO_LEADER, NO_LEADER_CHANGE, PartitionChangeRecord};

/// Which leaders an election may choose (Kafka's `PartitionChangeBuilder.Election`,
/// without PREFERRED: preferred elections are `leaders.rs`').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// An ISR member only.
    Online,
    /// An ISR member, else any replica that may lead.
    Unclean,
}

/// The leader recovery state of a leader elected uncleanly.
pub const RECOVERING: i8 = 1;

/// A change being built of partition `index` of `topic_id`.
pub struct PartitionChange<'a> {
    partition: &'a PartitionRegistration,
    topic_id: Uuid,
    index: i32,
    acceptable: &'a dyn Fn(i32) -> bool,
    election: Election,
    isr: Vec<i32>,
    replicas: Vec<i32>,
    removing: Vec<i32>,
    adding: Vec<i32>,
    recovery: i8,
}

impl<'a> PartitionChange<'a> {
    /// A change of `partition` that targets what it has; `acceptable` says which brokers
    /// may lead (registered, unfenced, not shutting down, as the caller sees them).
    pub fn new(
        partition: &'a PartitionRegistration,
        topic_id: Uuid,
        index: i32,
        acceptable: &'a dyn Fn(i32) -> bool,
    ) -> Self {
        Self {
            partition,
            topic_id,
            index,
            acceptable,
            election: Election::Online,
            isr: partition.isr.clone(),
            replicas: partition.replicas.clone(),
            removing: partition.removing_replicas.clone(),
            adding: partition.adding_replicas.clone(),
            recovery: partition.leader_recovery_state,
        }
    }

    pub fn election(mut self, e: Election) -> Self {
        self.election = e;
        self
    }

    pub fn isr(mut self, isr: Vec<i32>) -> Self {
        self.isr = isr;
        self
    }

    pub fn replicas(mut self, replicas: Vec<i32>) -> Self {
        self.replicas = replicas;
        self
    }

    pub fn removing(mut self, removing: Vec<i32>) -> Self {
        self.removing = removing;
        self
    }

    pub fn adding(mut self, adding: Vec<i32>) -> Self {
        self.adding = adding;
        self
    }

    pub fn recovery(mut self, state: i8) -> Self {
        self.recovery = state;
        self
    }

    /// Step 1 of the module doc.
    fn complete_reassignment(&mut self) {
        if self.removing.is_empty() && self.adding.is_empty() {
            return;
        }
        let kept = |list: &[i32]| -> Vec<i32> { list.iter().copied().filter(|r| !self.removing.contains(r)).collect() };
        let isr = kept(&self.isr);
        let replicas = kept(&self.replicas);
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return;
        }
        self.isr = isr;
        self.replicas = replicas;
        self.removing.clear();
        self.adding.clear();
    }

    /// Step 2: (leader, elected uncleanly).
    fn elect(&self) -> (i32, bool) {
        let valid = |r: i32| self.isr.contains(&r) && (self.acceptable)(r);
        if valid(self.partition.leader) {
            return (self.partition.leader, false);
        }
        if let Some(r) = self.replicas.iter().copied().find(|r| valid(*r)) {
            return (r, false);
        }
        if self.election == Election::Unclean
            && let Some(r) = self.replicas.iter().copied().find(|r| (self.acceptable)(*r))
        {
            return (r, true);
        }
        (NO_LEADER, false)
    }

    /// The record, or none if nothing changes.
    pub fn build(mut self) -> Option<PartitionChangeRecord> {
        let p = self.partition;
        self.complete_reassignment();
        let mut c = PartitionChangeRecord::new(self.topic_id, self.index);
        let (leader, unclean) = self.elect();
        if leader != p.leader {
            c.leader = leader;
            if unclean {
                c.isr = Some(vec![leader]);
                if p.leader_recovery_state != RECOVERING {
                    c.leader_recovery_state = RECOVERING;
                }
            }
        }
        if c.leader == NO_LEADER_CHANGE && !p.replicas.iter().all(|r| self.replicas.contains(r)) {
            c.leader = p.leader;
        }
        if c.isr.is_none() && !self.isr.is_empty() && self.isr != p.isr {
            c.isr = Some(self.isr.clone());
        }
        if !self.replicas.is_empty() && self.replicas != p.replicas {
            let dirs: Vec<Uuid> = self
                .replicas
                .iter()
                .map(|r| {
                    p.replicas
                        .iter()
                        .position(|x| x == r)
                        .and_then(|i| p.directories.get(i).copied())
                        .unwrap_or(MIGRATING_DIRECTORY)
                })
                .collect();
            // All MIGRATING before and after: the image keeps them so by itself.
            if dirs.iter().chain(&p.directories).any(|d| *d != MIGRATING_DIRECTORY) {
                c.directories = Some(dirs);
            }
            c.replicas = Some(self.replicas.clone());
        }
        if self.removing != p.removing_replicas {
            c.removing_replicas = Some(self.removing.clone());
        }
        if self.adding != p.adding_replicas {
            c.adding_replicas = Some(self.adding.clone());
        }
        if self.recovery != p.leader_recovery_state && c.leader_recovery_state == -1 {
            c.leader_recovery_state = self.recovery;
        }
        let unchanged = c == PartitionChangeRecord::new(self.topic_id, self.index);
        (!unchanged).then_some(c)
    }
}

#[cfg(test)]
mod tests;
