//! In a cluster, which partitions of a coordinator's internal topic (`__consumer_offsets`,
//! `__transaction_state`) this broker coordinates (Kafka's coordinators' `onElection` /
//! `onResignation`): the keys (group ids, transactional ids) of a partition are coordinated
//! by that partition's leader. When the metadata image makes this broker the leader of
//! partition `p` at leader epoch `e`, the partition is *loading* (its keys' requests get
//! COORDINATOR_LOAD_IN_PROGRESS) until its log has been read, then *loaded*; when the
//! image gives the leadership to another broker, the partition is resigned (its keys'
//! requests get NOT_COORDINATOR and the clients look for the new coordinator).
//!
//! Owns: that map, and the gate that makes a coordinator's append and a resignation
//! exclusive: an append happens only while its partition is owned at the epoch the append
//! was checked against, and a resignation returns only once no such append is running,
//! so a partition that turns follower never takes a write of its former coordinator.
//!
//! Must not: read or write the log (the coordinator does), decide leadership (the image
//! does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One owned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    /// The leader epoch it was elected at.
    pub epoch: i32,
    /// Its log has been read and its groups are served.
    pub loaded: bool,
}

/// Where a key's requests stand on this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its partition is loaded here (at this leader epoch).
    Coordinated(i32),
    /// Its partition is being loaded here.
    Loading,
    /// Another broker (or none) coordinates it.
    Elsewhere,
}

/// The owned partitions of one internal topic and its partition count.
#[derive(Debug, Default)]
pub struct Ownership {
    owned: RwLock<HashMap<i32, Owned>>,
    /// The topic's partition count in the image (0 before the topic exists).
    count: AtomicI32,
}

impl Ownership {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<i32, Owned>> {
        self.owned.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Exclusive access: elections, resignations and installing loaded groups.
    pub fn write(&self) -> RwLockWriteGuard<'_, HashMap<i32, Owned>> {
        self.owned.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic's partition count as the image has it (0: no topic yet).
    pub fn count(&self) -> i32 {
        self.count.load(Ordering::Acquire)
    }

    pub fn set_count(&self, n: i32) {
        self.count.store(n, Ordering::Release);
    }

    /// Partition `p`'s ownership, if owned.
    pub fn get(&self, p: i32) -> Option<Owned> {
        self.read().get(&p).copied()
    }

    /// Every owned partition.
    pub fn all(&self) -> Vec<(i32, Owned)> {
        let mut v: Vec<(i32, Owned)> = self.read().iter().map(|(p, o)| (*p, *o)).collect();
        v.sort_by_key(|(p, _)| *p);
        v
    }

    /// Where the requests for partition `p`'s keys stand.
    pub fn standing(&self, p: i32) -> Standing {
        match self.get(p) {
            Some(Owned { loaded: true, epoch }) => Standing::Coordinated(epoch),
            Some(Owned { loaded: false, .. }) => Standing::Loading,
            None => Standing::Elsewhere,
        }
    }

    /// Runs `f` with partition `p`'s standing, holding it: no election or resignation
    /// happens meanwhile.
    pub fn with_standing<T>(&self, p: i32, f: impl FnOnce(Standing) -> T) -> T {
        let g = self.read();
        let standing = match g.get(&p) {
            Some(Owned { loaded: true, epoch }) => Standing::Coordinated(*epoch),
            Some(_) => Standing::Loading,
            None => Standing::Elsewhere,
        };
        f(standing)
    }

    /// Holds partition `p` while a write to it runs, if it is loaded here: a resignation
    /// waits for the guard. Returns the epoch it is owned at with the guard.
    pub fn gate(&self, p: i32) -> Option<(i32, RwLockReadGuard<'_, HashMap<i32, Owned>>)> {
        let g = self.read();
        match g.get(&p) {
            Some(o) if o.loaded => Some((o.epoch, g)),
            _ => None,
        }
    }
}

/// What an election of the partitions led at the image's epochs changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Partitions to load, with the epoch they are now led at.
    pub load: Vec<(i32, i32)>,
    /// Partitions resigned (led no more, or led at a newer epoch and loaded again).
    pub resigned: Vec<i32>,
}

/// Updates `owned` so that exactly `led` (partition, leader epoch) are owned: a partition
/// led at a newer epoch than it was loaded at is resigned and loaded again (another leader
/// may have written to it in between).
pub fn elect(owned: &mut HashMap<i32, Owned>, led: &[(i32, i32)]) -> Changes {
    let mut changes = Changes::default();
    let now: HashMap<i32, i32> = led.iter().copied().collect();
    let mut gone: Vec<i32> = owned
        .iter()
        .filter(|(p, o)| now.get(p).is_none_or(|e| *e != o.epoch))
        .map(|(p, _)| *p)
        .collect();
    gone.sort_unstable();
    for p in &gone {
        owned.remove(p);
    }
    changes.resigned = gone;
    for (p, epoch) in led {
        if !owned.contains_key(p) {
            owned.insert(
                *p,
                Owned {
                    epoch: *epoch,
                    loaded: false,
                },
            );
            changes.load.push((*p, *epoch));
        }
    }
    changes.load.sort_unstable();
    changes
}

/// Drops partition `p` if it is still owned from the election at `epoch` (its load failed).
pub fn forget(owned: &mut HashMap<i32, Owned>, p: i32, epoch: i32) {
    if owned.get(&p).is_some_and(|o| o.epoch == epoch) {
        owned.remove(&p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_loads_new_partitions_and_resigns_lost_ones() {
        let mut owned = HashMap::new();
        let c = elect(&mut owned, &[(0, 3), (2, 1)]);
        assert_eq!(c.load, vec![(0, 3), (2, 1)]);
        assert!(c.resigned.is_empty());
        owned.get_mut(&0).unwrap().loaded = true;
        // Same epochs: nothing changes, loaded stays loaded.
        let c = elect(&mut owned, &[(0, 3), (2, 1)]);
        assert_eq!(c, Changes::default());
        assert!(owned[&0].loaded);
        // Partition 2 is led elsewhere now, partition 0 at a newer epoch.
        let c = elect(&mut owned, &[(0, 5)]);
        assert_eq!(c.resigned, vec![0, 2]);
        assert_eq!(c.load, vec![(0, 5)]);
        assert_eq!(
            owned.get(&0),
            Some(&Owned {
                epoch: 5,
                loaded: false
            })
        );
        assert!(!owned.contains_key(&2));
    }

    #[test]
    fn standing_and_gate_follow_the_load() {
        let o = Ownership::default();
        assert_eq!(o.standing(1), Standing::Elsewhere);
        elect(&mut o.write(), &[(1, 7)]);
        assert_eq!(o.standing(1), Standing::Loading);
        assert!(o.gate(1).is_none(), "no write before the partition is loaded");
        o.write().get_mut(&1).unwrap().loaded = true;
        assert_eq!(o.standing(1), Standing::Coordinated(7));
        assert_eq!(o.gate(1).map(|(e, _)| e), Some(7));
    }
}
