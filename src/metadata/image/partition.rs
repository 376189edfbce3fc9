//! A partition's registration in the metadata image and how a PartitionChangeRecord
//! changes it (Kafka's `PartitionRegistration.merge`).

use uuid::Uuid;

use super::super::records::{NO_LEADER_CHANGE, PartitionChangeRecord, PartitionRecord};

/// Where a replica's log directory is not known (Kafka's `DirectoryId.MIGRATING`).
pub const MIGRATING_DIRECTORY: Uuid = Uuid::nil();

/// One partition as the controller registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    pub replicas: Vec<i32>,
    /// Each replica's log directory, in replica order.
    pub directories: Vec<Uuid>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// -1: no leader.
    pub leader: i32,
    /// 0 recovered, 1 recovering from an unclean election.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    /// Raised by every change of the partition.
    pub partition_epoch: i32,
    pub eligible_leader_replicas: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

/// Empty or all-MIGRATING directories read as MIGRATING for each replica (as Kafka).
fn directories_for(replicas: &[i32], dirs: Vec<Uuid>) -> Vec<Uuid> {
    if dirs.iter().all(|d| *d == MIGRATING_DIRECTORY) {
        vec![MIGRATING_DIRECTORY; replicas.len()]
    } else {
        dirs
    }
}

impl From<PartitionRecord> for PartitionRegistration {
    fn from(r: PartitionRecord) -> Self {
        PartitionRegistration {
            directories: directories_for(&r.replicas, r.directories),
            replicas: r.replicas,
            isr: r.isr,
            removing_replicas: r.removing_replicas,
            adding_replicas: r.adding_replicas,
            leader: r.leader,
            leader_recovery_state: r.leader_recovery_state,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            eligible_leader_replicas: r.eligible_leader_replicas.unwrap_or_default(),
            last_known_elr: r.last_known_elr.unwrap_or_default(),
        }
    }
}

impl PartitionRegistration {
    /// Applies a change: what it names replaces the old value; a new leader (even the same
    /// one, or none) raises the leader epoch; every change raises the partition epoch.
    pub fn merge(&mut self, c: &PartitionChangeRecord) {
        if let Some(r) = &c.replicas {
            self.replicas = r.clone();
        }
        if let Some(d) = &c.directories {
            self.directories = d.clone();
        }
        if c.replicas.is_some() || c.directories.is_some() {
            self.directories = directories_for(&self.replicas, std::mem::take(&mut self.directories));
        }
        for (field, change) in [
            (&mut self.isr, &c.isr),
            (&mut self.removing_replicas, &c.removing_replicas),
            (&mut self.adding_replicas, &c.adding_replicas),
            (&mut self.eligible_leader_replicas, &c.eligible_leader_replicas),
            (&mut self.last_known_elr, &c.last_known_elr),
        ] {
            if let Some(v) = change {
                field.clone_from(v);
            }
        }
        if c.leader != NO_LEADER_CHANGE {
            self.leader = c.leader;
            self.leader_epoch += 1;
        }
        if c.leader_recovery_state != -1 {
            self.leader_recovery_state = c.leader_recovery_state;
        }
        self.partition_epoch += 1;
    }

    /// Kafka's invariants of a registration: a log directory per replica, a known leader
    /// recovery state.
    pub fn check(&self) -> Result<(), String> {
        if self.directories.len() != self.replicas.len() {
            return Err(format!(
                "{} log directories for {} replicas",
                self.directories.len(),
                self.replicas.len()
            ));
        }
        if !(0..=1).contains(&self.leader_recovery_state) {
            return Err(format!("leader recovery state {}", self.leader_recovery_state));
        }
        Ok(())
    }

    /// The record that registers this partition whole (a snapshot's form).
    pub fn to_record(&self, topic_id: Uuid, partition_id: i32) -> PartitionRecord {
        PartitionRecord {
            partition_id,
            topic_id,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            removing_replicas: self.removing_replicas.clone(),
            adding_replicas: self.adding_replicas.clone(),
            leader: self.leader,
            leader_recovery_state: self.leader_recovery_state,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            directories: self.directories.clone(),
            eligible_leader_replicas: (!self.eligible_leader_replicas.is_empty())
                .then(|| self.eligible_leader_replicas.clone()),
            last_known_elr: (!self.last_known_elr.is_empty()).then(|| self.last_known_elr.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> PartitionRegistration {
        PartitionRegistration::from(PartitionRecord::new(Uuid::from_u64_pair(7, 7), 0, vec![1, 2, 3]))
    }

    #[test]
    fn a_new_leader_raises_both_epochs_an_isr_change_only_the_partition_epoch() {
        let mut p = registered();
        assert_eq!(p.directories, vec![MIGRATING_DIRECTORY; 3]);
        let mut c = PartitionChangeRecord::new(Uuid::from_u64_pair(7, 7), 0);
        c.isr = Some(vec![1, 2]);
        p.merge(&c);
        assert_eq!(
            (p.isr.clone(), p.leader, p.leader_epoch, p.partition_epoch),
            (vec![1, 2], 1, 0, 1)
        );
        let mut c = PartitionChangeRecord::new(Uuid::from_u64_pair(7, 7), 0);
        c.leader = 2;
        p.merge(&c);
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
        // The same leader again still raises the leader epoch (the controller's bump).
        p.merge(&c);
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 2, 3));
        let mut c = PartitionChangeRecord::new(Uuid::from_u64_pair(7, 7), 0);
        c.leader = -1;
        c.leader_recovery_state = 1;
        p.merge(&c);
        assert_eq!((p.leader, p.leader_epoch, p.leader_recovery_state), (-1, 3, 1));
        // A change that names nothing still raises the partition epoch.
        p.merge(&PartitionChangeRecord::new(Uuid::from_u64_pair(7, 7), 0));
        assert_eq!((p.leader_epoch, p.partition_epoch), (3, 5));
    }

    #[test]
    fn an_empty_list_sets_empty_and_a_null_keeps() {
        let mut p = registered();
        let mut c = PartitionChangeRecord::new(Uuid::nil(), 0);
        c.eligible_leader_replicas = Some(vec![3]);
        p.merge(&c);
        assert_eq!(p.eligible_leader_replicas, vec![3]);
        let mut c = PartitionChangeRecord::new(Uuid::nil(), 0);
        c.replicas = Some(vec![1, 2, 3, 4]);
        c.adding_replicas = Some(vec![4]);
        p.merge(&c);
        assert_eq!(p.eligible_leader_replicas, vec![3]);
        assert_eq!(p.directories.len(), 4);
        let mut c = PartitionChangeRecord::new(Uuid::nil(), 0);
        c.eligible_leader_replicas = Some(vec![]);
        p.merge(&c);
        assert!(p.eligible_leader_replicas.is_empty());
        let back = PartitionRegistration::from(p.to_record(Uuid::nil(), 0));
        assert_eq!(back, p);
    }
}
