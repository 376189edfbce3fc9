//! A partition this broker leads with replicas on other brokers (Kafka's `Partition` on the
//! leader): where each follower's log ends, as its fetches say, the in-sync replica set
//! (ISR) as the controller committed it plus a change this broker has asked for, and the
//! high watermark that follows from them.
//!
//! - A follower fetching at offset `o` holds everything below `o`. It is *caught up* when
//!   `o` reached the leader's log end, or the log end the leader had at its previous fetch
//!   (Kafka's `Replica.updateFetchState`); it has been caught up at that fetch's time.
//! - The high watermark is the least log end among the ISR members, counting an ISR the
//!   leader asked to grow as grown already (Kafka's *maximal ISR*): a produce with
//!   acks=all is answered once the high watermark passes it.
//! - A member not caught up for `replica.lag.time.max.ms` leaves the ISR; a follower whose
//!   log reached the high watermark and the start of the leader's epoch joins it. Either
//!   change is asked of the controller (AlterPartition) and takes effect when it commits;
//!   one change at a time.
//!
//! Must not: write metadata (the ISR task sends what [`LeaderState::isr_change`] says).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::log::Partition;

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// Its log end offset (the offset of its last fetch; -1 before any).
    pub log_end_offset: i64,
    /// When it was last caught up (ms; when this broker became leader for members).
    pub last_caught_up_ms: i64,
    last_fetch_ms: i64,
    last_fetch_leader_log_end: i64,
}

impl FollowerState {
    /// A follower not heard from yet: an ISR member counts as caught up at `now_ms`.
    fn fresh(member: bool, now_ms: i64) -> Self {
        FollowerState {
            log_end_offset: -1,
            last_caught_up_ms: if member { now_ms } else { 0 },
            last_fetch_ms: 0,
            last_fetch_leader_log_end: -1,
        }
    }
}

/// The ISR change asked of the controller and not committed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIsr {
    pub isr: Vec<i32>,
    /// The partition epoch it was asked at.
    pub partition_epoch: i32,
    /// When it was sent (ms): an answer lost is asked again after a while.
    pub sent_ms: i64,
}

#[derive(Debug)]
struct Inner {
    partition_epoch: i32,
    isr: Vec<i32>,
    pending: Option<PendingIsr>,
    followers: BTreeMap<i32, FollowerState>,
}

/// The leader's side of one replicated partition (one leader epoch: a new epoch is a new
/// state).
pub struct LeaderState {
    pub partition: Arc<Partition>,
    pub topic_id: uuid::Uuid,
    pub node_id: i32,
    pub leader_epoch: i32,
    /// The log end offset when this broker became the leader (Kafka's
    /// `leaderEpochStartOffset`): a follower joins the ISR only past it.
    pub epoch_start_offset: i64,
    /// How many replicas the partition has (this one included; a reassignment changes it).
    replica_count: AtomicUsize,
    /// The image says the leader was elected uncleanly and has not reported itself
    /// recovered (leader recovery state RECOVERING).
    recovering: AtomicBool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for LeaderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderState")
            .field("partition", &self.partition)
            .field("leader_epoch", &self.leader_epoch)
            .field("inner", &self.lock())
            .finish()
    }
}

/// What a follower's fetch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchEffect {
    /// The high watermark moved.
    pub high_watermark_moved: bool,
    /// The follower can join the ISR: ask the controller.
    pub may_expand: bool,
}

impl LeaderState {
    /// The state of a partition led from `now_ms` at `leader_epoch`, whose committed ISR
    /// is `isr` (at `partition_epoch`) and replicas `replicas`. Every member counts as
    /// caught up now, as Kafka resets its followers when it becomes the leader.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        partition: Arc<Partition>,
        topic_id: uuid::Uuid,
        node_id: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[i32],
        isr: Vec<i32>,
        now_ms: i64,
    ) -> Self {
        let followers = replicas
            .iter()
            .filter(|r| **r != node_id)
            .map(|r| (*r, FollowerState::fresh(isr.contains(r), now_ms)))
            .collect();
        Self {
            epoch_start_offset: partition.log_end_offset(),
            replica_count: AtomicUsize::new(replicas.len()),
            recovering: AtomicBool::new(false),
            partition,
            topic_id,
            node_id,
            leader_epoch,
            inner: Mutex::new(Inner {
                partition_epoch,
                isr,
                pending: None,
                followers,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The committed ISR and partition epoch.
    pub fn isr(&self) -> (Vec<i32>, i32) {
        let g = self.lock();
        (g.isr.clone(), g.partition_epoch)
    }

    /// Whether `replica` is one of this partition's followers.
    pub fn has_follower(&self, replica: i32) -> bool {
        self.lock().followers.contains_key(&replica)
    }

    /// A fetch from `replica` at `fetch_offset` at `now_ms`, answered from a log ending at
    /// `leader_log_end`. Moves the high watermark when it can.
    pub fn follower_fetched(&self, replica: i32, fetch_offset: i64, leader_log_end: i64, now_ms: i64) -> FetchEffect {
        let mut g = self.lock();
        let Some(f) = g.followers.get_mut(&replica) else {
            return FetchEffect::default();
        };
        if fetch_offset >= leader_log_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= f.last_fetch_leader_log_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_log_end = leader_log_end;
        let hw = self.partition.high_watermark();
        let may_expand = g.pending.is_none()
            && !g.isr.contains(&replica)
            && fetch_offset >= hw
            && fetch_offset >= self.epoch_start_offset;
        let moved = self.advance(&g);
        FetchEffect {
            high_watermark_moved: moved,
            may_expand,
        }
    }

    /// The least log end over the maximal ISR (the leader's own included).
    fn high_watermark_candidate(&self, g: &Inner) -> i64 {
        let mut hw = self.partition.log_end_offset();
        let pending = g.pending.as_ref().map(|p| p.isr.as_slice()).unwrap_or(&[]);
        for (id, f) in &g.followers {
            if g.isr.contains(id) || pending.contains(id) {
                hw = hw.min(f.log_end_offset.max(0));
            }
        }
        hw
    }

    /// With no follower in the maximal ISR and enough members, every append is committed at
    /// once: the partition's own appends move the high watermark (as an unreplicated
    /// one's), whoever appends (produce, transaction markers).
    fn sync_alone(&self, g: &Inner) {
        let pending_others = g
            .pending
            .as_ref()
            .is_some_and(|p| p.isr.iter().any(|r| *r != self.node_id));
        let alone = !pending_others && g.isr.iter().all(|r| *r == self.node_id) && g.isr.len() >= self.min_isr();
        self.partition.set_replicated(!alone);
    }

    /// `min.insync.replicas`, at most the replica count (Kafka's `effectiveMinIsr`).
    pub fn min_isr(&self) -> usize {
        (self.partition.config().min_insync_replicas.max(1) as usize).min(self.replica_count.load(Ordering::Acquire))
    }

    /// The ISR counting a pending change's additions (Kafka's maximal ISR) and its size.
    pub fn maximal_isr_len(&self) -> usize {
        let g = self.lock();
        let extra = g
            .pending
            .as_ref()
            .map_or(0, |p| p.isr.iter().filter(|r| !g.isr.contains(r)).count());
        g.isr.len() + extra
    }

    /// Moves the high watermark to what the maximal ISR holds; not while the committed ISR
    /// is smaller than [`Self::min_isr`] (Kafka 4: nothing is committed then, KIP-966).
    fn advance(&self, g: &Inner) -> bool {
        self.sync_alone(g);
        if g.isr.len() < self.min_isr() {
            return false;
        }
        let hw = self.high_watermark_candidate(g);
        self.partition.advance_high_watermark(hw)
    }

    /// After an append here: with no follower in the ISR, the high watermark is the log end.
    pub fn leader_appended(&self) -> bool {
        let g = self.lock();
        self.advance(&g)
    }

    /// The ISR change to ask for at `now_ms` and the partition epoch to ask it at, if none
    /// is pending (or a pending one went unanswered for `retry_after_ms`): members not
    /// caught up within `max_lag_ms` leave (the leader always stays); failing that,
    /// followers in sync that are `eligible` (registered, unfenced, not shutting down: Kafka's
    /// `isReplicaIsrEligible`) join; failing that, a leader still RECOVERING from an unclean
    /// election asks for its ISR as it is (the request says RECOVERED). The change is
    /// recorded as pending.
    pub fn isr_change(
        &self,
        now_ms: i64,
        max_lag_ms: i64,
        retry_after_ms: i64,
        eligible: impl Fn(i32) -> bool,
    ) -> Option<(Vec<i32>, i32)> {
        let mut g = self.lock();
        if let Some(p) = &mut g.pending {
            if now_ms - p.sent_ms < retry_after_ms {
                return None;
            }
            p.sent_ms = now_ms;
            return Some((p.isr.clone(), p.partition_epoch));
        }
        let leader_end = self.partition.log_end_offset();
        let hw = self.partition.high_watermark();
        // Kafka's `maybeShrinkIsr` first: members not caught up within the lag leave.
        let in_sync = |id: &i32| {
            *id == self.node_id
                || g.followers
                    .get(id)
                    .is_some_and(|f| f.log_end_offset >= leader_end || now_ms - f.last_caught_up_ms <= max_lag_ms)
        };
        let mut isr: Vec<i32> = g.isr.iter().copied().filter(in_sync).collect();
        if !isr.contains(&self.node_id) {
            isr.insert(0, self.node_id);
        }
        if isr == g.isr {
            // Then `maybeExpandIsr`: followers at the high watermark and past this
            // leader's epoch start join.
            for (id, f) in &g.followers {
                if !g.isr.contains(id)
                    && f.log_end_offset >= hw
                    && f.log_end_offset >= self.epoch_start_offset
                    && eligible(*id)
                {
                    isr.push(*id);
                }
            }
            // A leader elected uncleanly reports itself recovered (KIP-704: at once, as
            // Kafka's) with the ISR it has.
            if isr == g.isr && !self.recovering.load(Ordering::Acquire) {
                return None;
            }
        }
        // Replicated before the change is pending: no append commits on this broker alone
        // once a joining follower counts.
        self.partition.set_replicated(true);
        let partition_epoch = g.partition_epoch;
        g.pending = Some(PendingIsr {
            isr: isr.clone(),
            partition_epoch,
            sent_ms: now_ms,
        });
        self.sync_alone(&g);
        Some((isr, partition_epoch))
    }

    /// The controller committed `isr` at `partition_epoch` (its answer, or the image):
    /// it replaces the ISR if newer, and ends a pending change. Moves the high watermark
    /// when a shrink lets it.
    pub fn committed(&self, isr: Vec<i32>, partition_epoch: i32) {
        let mut g = self.lock();
        if partition_epoch < g.partition_epoch {
            return;
        }
        if partition_epoch > g.partition_epoch {
            g.pending = None;
        }
        g.partition_epoch = partition_epoch;
        g.isr = isr;
        self.advance(&g);
    }

    /// The partition's replicas are now `replicas` (a reassignment added or removed some
    /// in this leader epoch): new followers are tracked from `now_ms`, as not caught up
    /// unless in the ISR; removed ones are forgotten.
    pub fn set_replicas(&self, replicas: &[i32], now_ms: i64) {
        let mut g = self.lock();
        g.followers.retain(|id, _| replicas.contains(id));
        for r in replicas.iter().filter(|r| **r != self.node_id) {
            let member = g.isr.contains(r);
            g.followers.entry(*r).or_insert(FollowerState::fresh(member, now_ms));
        }
        self.replica_count.store(replicas.len(), Ordering::Release);
        self.advance(&g);
    }

    /// The image's leader recovery state: RECOVERING (`true`) makes [`Self::isr_change`]
    /// ask for RECOVERED.
    pub fn set_recovering(&self, recovering: bool) {
        self.recovering.store(recovering, Ordering::Release);
    }

    /// The controller refused the pending change, or it should be asked again: drop it.
    pub fn abandon_pending(&self) {
        let mut g = self.lock();
        g.pending = None;
        self.advance(&g);
    }
}

#[cfg(test)]
mod tests;
