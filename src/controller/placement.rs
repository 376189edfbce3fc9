//! Where a new partition's replicas go: Kafka's striped placement (its controller's
//! `StripedReplicaPlacer`), with its goals and constraints:
//! - constraints: no broker twice in one partition; the first replica (the preferred
//!   leader) on an unfenced broker;
//! - goals, in order: replicas spread over racks, then over brokers (successive partitions
//!   start at successive racks and brokers, so leaders spread evenly), unfenced brokers
//!   before fenced ones.
//!
//! Racks (brokers without `broker.rack` form one rack of their own) are visited round-robin
//! from a start that moves by one per partition; inside a rack brokers are taken
//! round-robin too, unfenced first. Each partition is a new round: a rack gives each of its
//! brokers at most once per partition, and the first pass over the racks skips the
//! leader's rack, so a partition's replicas are on `min(replication factor, racks)`
//! distinct racks. The starting points are random (seeded by the caller); after as many
//! partitions as there are unfenced brokers, the orders are shuffled so that the same
//! replica sets do not repeat. Errors are Kafka's INVALID_REPLICATION_FACTOR messages.

use std::collections::BTreeMap;

/// A broker that may hold replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced: registered, but missing heartbeats (or shutting down).
    pub fenced: bool,
}

/// Why no placement exists (Kafka's INVALID_REPLICATION_FACTOR, with its messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidReplicationFactor(pub String);

/// One of a rack's two broker lists, walked round-robin, once per partition at most.
#[derive(Debug, Default)]
struct Ring {
    brokers: Vec<i32>,
    /// Where this round started.
    start: usize,
    /// Brokers given this round.
    taken: usize,
    /// The partition (round) the counters belong to.
    round: usize,
}

impl Ring {
    fn next(&mut self, round: usize) -> Option<i32> {
        if self.brokers.is_empty() {
            return None;
        }
        if self.round != round {
            // A new partition: the next round starts one broker further.
            self.round = round;
            self.taken = 0;
            self.start = (self.start + 1) % self.brokers.len();
        }
        if self.taken == self.brokers.len() {
            return None;
        }
        let b = self.brokers[(self.start + self.taken) % self.brokers.len()];
        self.taken += 1;
        Some(b)
    }
}

#[derive(Debug, Default)]
struct Rack {
    unfenced: Ring,
    fenced: Ring,
}

impl Rack {
    fn next(&mut self, round: usize) -> Option<i32> {
        self.unfenced.next(round).or_else(|| self.fenced.next(round))
    }
}

/// The brokers new replicas may go to: registered and not shutting down (fenced ones
/// only when the unfenced are too few).
pub fn usable(image: &crate::metadata::MetadataImage) -> Vec<UsableBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.in_controlled_shutdown)
        .map(|b| UsableBroker {
            id: b.id,
            rack: b.rack.clone(),
            fenced: b.fenced,
        })
        .collect()
}

/// Places the replicas of `partitions` new partitions with `replication_factor` replicas
/// each (the first of each list is its preferred leader).
pub fn place(
    brokers: &[UsableBroker],
    partitions: usize,
    replication_factor: i32,
    seed: u64,
) -> Result<Vec<Vec<i32>>, InvalidReplicationFactor> {
    if replication_factor <= 0 {
        return Err(InvalidReplicationFactor(format!(
            "Invalid replication factor {replication_factor}: the replication factor must be positive."
        )));
    }
    let unfenced = brokers.iter().filter(|b| !b.fenced).count();
    if unfenced == 0 {
        return Err(InvalidReplicationFactor("All brokers are currently fenced.".into()));
    }
    if replication_factor as usize > brokers.len() {
        return Err(InvalidReplicationFactor(format!(
            "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        )));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut by_rack: BTreeMap<Option<String>, Rack> = BTreeMap::new();
    for b in brokers {
        let rack = by_rack.entry(b.rack.clone()).or_default();
        let ring = if b.fenced { &mut rack.fenced } else { &mut rack.unfenced };
        ring.brokers.push(b.id);
    }
    let mut names: Vec<Option<String>> = by_rack.keys().cloned().collect();
    let mut racks: Vec<Rack> = std::mem::take(&mut by_rack).into_values().collect();
    for r in &mut racks {
        for ring in [&mut r.unfenced, &mut r.fenced] {
            ring.brokers.sort_unstable();
            if !ring.brokers.is_empty() {
                ring.start = rng.usize(..ring.brokers.len());
            }
            // Round 0 is never a partition's: the first partition starts a new round.
            ring.round = usize::MAX;
        }
    }
    let mut offset = rng.usize(..racks.len());
    let rf = replication_factor as usize;
    let mut out = Vec::with_capacity(partitions);
    let mut since_shuffle = 0;
    for round in 0..partitions {
        if since_shuffle == unfenced && unfenced > 1 {
            // Every unfenced broker has led once: mix the orders before repeating them.
            let mut order: Vec<usize> = (0..racks.len()).collect();
            rng.shuffle(&mut order);
            let mut taken: Vec<Option<Rack>> = racks.drain(..).map(Some).collect();
            let old_names = std::mem::take(&mut names);
            for i in order {
                racks.push(taken[i].take().unwrap_or_default());
                names.push(old_names[i].clone());
            }
            for r in &mut racks {
                rng.shuffle(&mut r.unfenced.brokers);
                rng.shuffle(&mut r.fenced.brokers);
            }
            since_shuffle = 0;
        }
        offset %= racks.len();
        // The leader: the first unfenced broker from the starting rack on.
        let mut leader_rack = offset;
        let leader = loop {
            if let Some(b) = racks[leader_rack].unfenced.next(round) {
                break b;
            }
            leader_rack = (leader_rack + 1) % racks.len();
        };
        let mut replicas = Vec::with_capacity(rf);
        replicas.push(leader);
        // The others: racks round-robin from the start, the leader's rack skipped once.
        let mut skip = Some(leader_rack);
        let mut at = offset;
        while replicas.len() < rf {
            let this = at;
            at = (at + 1) % racks.len();
            if skip == Some(this) {
                skip = None;
                continue;
            }
            if let Some(b) = racks[this].next(round) {
                replicas.push(b);
            }
        }
        out.push(replicas);
        offset += 1;
        since_shuffle += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use proptest::prelude::*;

    use super::*;

    fn broker(id: i32, rack: Option<&str>, fenced: bool) -> UsableBroker {
        UsableBroker {
            id,
            rack: rack.map(str::to_string),
            fenced,
        }
    }

    fn leaders(p: &[Vec<i32>]) -> HashMap<i32, usize> {
        let mut m = HashMap::new();
        for r in p {
            *m.entry(r[0]).or_default() += 1;
        }
        m
    }

    #[test]
    fn three_brokers_lead_evenly_and_never_share_a_partition() {
        let brokers: Vec<_> = (1..=3).map(|id| broker(id, None, false)).collect();
        for seed in 0..20 {
            let p = place(&brokers, 6, 3, seed).unwrap();
            assert!(p.iter().all(|r| r.iter().collect::<BTreeSet<_>>().len() == 3), "{p:?}");
            assert!(leaders(&p).values().all(|n| *n == 2), "seed {seed}: {p:?}");
        }
    }

    #[test]
    fn replicas_spread_over_racks() {
        let brokers = vec![
            broker(1, Some("a"), false),
            broker(2, Some("a"), false),
            broker(3, Some("b"), false),
            broker(4, Some("b"), false),
            broker(5, Some("c"), false),
            broker(6, Some("c"), false),
        ];
        let rack = |id: i32| brokers.iter().find(|b| b.id == id).unwrap().rack.clone();
        let p = place(&brokers, 12, 3, 7).unwrap();
        for r in &p {
            let racks: BTreeSet<_> = r.iter().map(|id| rack(*id)).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
        }
        assert!(leaders(&p).values().all(|n| *n == 2), "{p:?}");
    }

    #[test]
    fn a_fenced_broker_never_leads_and_is_used_last() {
        let brokers = vec![broker(1, None, false), broker(2, None, true), broker(3, None, false)];
        for seed in 0..20 {
            let two = place(&brokers, 10, 2, seed).unwrap();
            assert!(two.iter().all(|r| !r.contains(&2)), "seed {seed}: {two:?}");
            let three = place(&brokers, 10, 3, seed).unwrap();
            assert!(
                three.iter().all(|r| r[0] != 2 && r.contains(&2)),
                "seed {seed}: {three:?}"
            );
        }
    }

    #[test]
    fn impossible_placements_fail_as_kafka() {
        let brokers = vec![broker(1, None, false), broker(2, None, true)];
        let err = |rf| place(&brokers, 1, rf, 0).unwrap_err().0;
        assert_eq!(
            err(0),
            "Invalid replication factor 0: the replication factor must be positive."
        );
        assert_eq!(
            err(3),
            "The target replication factor of 3 cannot be reached because only 2 broker(s) are registered."
        );
        let fenced = vec![broker(1, None, true)];
        assert_eq!(
            place(&fenced, 1, 1, 0).unwrap_err().0,
            "All brokers are currently fenced."
        );
    }

    proptest! {
        #[test]
        fn every_placement_keeps_the_constraints(
            shape in proptest::collection::vec((0u8..4, any::<bool>()), 1..12),
            partitions in 1usize..40,
            rf_pick in 1usize..12,
            seed in any::<u64>(),
        ) {
            let brokers: Vec<UsableBroker> = shape
                .iter()
                .enumerate()
                .map(|(i, (rack, fenced))| broker(i as i32, Some(["a", "b", "c", "d"][*rack as usize]), *fenced))
                .collect();
            prop_assume!(brokers.iter().any(|b| !b.fenced));
            let rf = rf_pick.min(brokers.len());
            let p = place(&brokers, partitions, rf as i32, seed).unwrap();
            let racks: BTreeSet<_> = brokers.iter().map(|b| b.rack.clone()).collect();
            prop_assert_eq!(p.len(), partitions);
            for r in &p {
                prop_assert_eq!(r.len(), rf);
                prop_assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), rf);
                prop_assert!(!brokers[r[0] as usize].fenced);
                let spread: BTreeSet<_> = r.iter().map(|id| brokers[*id as usize].rack.clone()).collect();
                prop_assert_eq!(spread.len(), rf.min(racks.len()));
            }
        }
    }
}
