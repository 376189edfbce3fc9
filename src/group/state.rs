//! The pure state machine of one classic consumer group, as Kafka's `ClassicGroup` and the
//! classic paths of `GroupMetadataManager`: Empty → PreparingRebalance → CompletingRebalance
//! → Stable (→ Dead when deleted or expired).
//!
//! Owns: members, generations, the selected protocol, assignments, committed offsets, and
//! every deadline (session, new-member join, rebalance, initial delay, pending sync). Time
//! is an argument ([`Now`]); there is no clock, task or I/O here, so the unit tests drive
//! it directly. Parked JoinGroup/SyncGroup requests are oneshot senders this machine
//! completes. Writes the actor must make durable are flagged (`take_metadata_dirty`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{GroupError, GroupState};

/// The present: a monotonic clock for deadlines and the wall clock for stored timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono_ms: u64,
    pub wall_ms: i64,
}

/// Broker-wide group limits (Kafka's `group.*` settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: u64,
    pub max_size: usize,
    /// How long a new member may wait in its first join (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: u64,
}

/// One protocol a member supports, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request, translated.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// v4+: a first join without a member id gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// v9+: the client understands `skip_assignment` (KIP-814).
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup. On error only `member_id` (and `error`) are meaningful.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinResponse {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    pub fn error(e: GroupError, member_id: &str) -> Self {
        JoinResponse {
            error: Some(e),
            generation_id: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

/// A SyncGroup request, translated.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

pub type SyncResult = Result<SyncResponse, GroupError>;

/// One result per partition.
pub type PartitionResults = Vec<((String, i32), Result<(), GroupError>)>;

/// A committed offset and what came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set by OffsetCommit v2-v4 `retention_time_ms` (Kafka's expire timestamp).
    pub expire_timestamp_ms: Option<i64>,
}

/// A member as stored in `__consumer_offsets` (only the selected protocol's metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's membership as stored in `__consumer_offsets` (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<StoredMember>,
}

/// One member in DescribeGroups.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group in DescribeGroups.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResponse>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    supports_skip_assignment: bool,
    is_new: bool,
    /// Monotonic deadline of the session (or of the new-member join timeout).
    expires_at: u64,
}

impl Member {
    fn metadata_for(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|x| x.name == p))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
    /// Kafka's `shouldKeepAlive`: a parked request keeps a member (a new one only within
    /// the new-member join timeout).
    fn kept_alive(&self, now: u64) -> bool {
        if self.join_waiter.is_some() {
            !self.is_new || now < self.expires_at
        } else {
            self.sync_waiter.is_some() || now < self.expires_at
        }
    }
}

/// Which deadline the join phase waits on.
#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    /// `group.initial.rebalance.delay.ms` on a group that was Empty; `remaining` is what is
    /// left of the rebalance timeout for extensions while new members keep arriving.
    InitialDelay { at: u64, remaining: u64 },
    /// The rebalance timeout.
    Rebalance { at: u64 },
}

/// One classic group.
#[derive(Debug)]
pub struct Group {
    pub(crate) id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    static_members: HashMap<String, String>,
    /// KIP-394 members told MEMBER_ID_REQUIRED, with their expiry.
    pending_members: HashMap<String, u64>,
    pending_sync: BTreeSet<String>,
    pending_sync_deadline: Option<u64>,
    join_timer: Option<JoinTimer>,
    new_member_added: bool,
    state_timestamp_ms: i64,
    pub(crate) offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// TxnOffsetCommits waiting for their transaction's marker.
    pub(crate) txn: super::txn_offsets::TxnOffsets,
    metadata_dirty: bool,
    limits: Limits,
}

fn send<T>(tx: Option<oneshot::Sender<T>>, v: T) {
    if let Some(tx) = tx {
        let _ = tx.send(v);
    }
}

impl Group {
    pub fn new(id: &str, limits: Limits, now: Now) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: BTreeSet::new(),
            pending_sync_deadline: None,
            join_timer: None,
            new_member_added: false,
            state_timestamp_ms: now.wall_ms,
            offsets: BTreeMap::new(),
            txn: Default::default(),
            metadata_dirty: false,
            limits,
        }
    }

    /// Rebuilds a group from its stored metadata: Stable with its members (their sessions
    /// start now), or Empty.
    pub fn restore(id: &str, limits: Limits, stored: StoredGroup, now: Now) -> Self {
        let mut g = Group::new(id, limits, now);
        g.generation_id = stored.generation_id;
        g.protocol_type = Some(stored.protocol_type).filter(|t| !t.is_empty());
        g.protocol_name = stored.protocol_name.clone();
        g.state_timestamp_ms = stored.state_timestamp_ms;
        for m in stored.members {
            if let Some(i) = &m.group_instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
            let member = Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: vec![Protocol {
                    name: stored.protocol_name.clone().unwrap_or_default(),
                    metadata: m.subscription,
                }],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                supports_skip_assignment: false,
                is_new: false,
                expires_at: now.mono_ms + m.session_timeout_ms.max(0) as u64,
            };
            g.members.insert(m.member_id, member);
        }
        if !g.members.is_empty() {
            g.state = GroupState::Stable;
            g.leader = stored
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
        }
        g
    }

    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }
    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    /// Whether the group's membership changed in a way `__consumer_offsets` must record;
    /// clears the flag.
    pub fn take_metadata_dirty(&mut self) -> bool {
        std::mem::take(&mut self.metadata_dirty)
    }

    /// The membership as stored in `__consumer_offsets`.
    pub fn stored(&self) -> StoredGroup {
        let protocol = self.protocol_name.as_deref();
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata_for(protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    fn transition(&mut self, to: GroupState, now: Now) {
        self.state = to;
        self.state_timestamp_ms = now.wall_ms;
    }

    fn rebalance_timeout(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty type and protocol
    /// list; otherwise the type must match and one protocol must be supported by all.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == p.name))
            })
    }

    /// Kafka's `selectProtocol`: among protocols every member supports, each member votes
    /// for its most preferred; most votes wins (ties go to the leader's preference order).
    fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&str> = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())?
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == *name))
            })
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(v) = m.protocols.iter().find(|p| candidates.contains(&p.name.as_str())) {
                *votes.entry(v.name.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates
            .into_iter()
            .find(|c| votes.get(c) == Some(&best))
            .map(str::to_string)
    }

    /// Kafka's member id: `group.instance.id` (or client id) + "-" + a UUID, with the prefix
    /// cut on a character boundary so the id stays a valid Kafka string (< 32 KiB).
    fn new_member_id(req: &JoinRequest) -> String {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let mut end = prefix.len().min(30_000);
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}-{}", &prefix[..end], uuid::Uuid::new_v4())
    }

    /// Kafka's static-member check: a request naming a `group.instance.id` must carry the
    /// member id currently registered for it.
    fn check_static(&self, member_id: &str, instance: Option<&str>) -> Result<(), GroupError> {
        match instance.map(|i| self.static_members.get(i)) {
            Some(Some(current)) if current != member_id => Err(GroupError::FencedInstanceId),
            Some(None) => Err(GroupError::UnknownMemberId),
            _ => Ok(()),
        }
    }

    // ---------------------------------------------------------------- JoinGroup

    /// Handles a JoinGroup; the answer goes to `reply`, now or when the join phase ends.
    pub fn join(&mut self, req: JoinRequest, now: Now, reply: oneshot::Sender<JoinResponse>) {
        if !self.accepts_joining_member(&req.member_id) {
            // Kafka's acceptJoiningMember: a member over the limit is dropped, even one that
            // had not rejoined yet.
            self.pending_members.remove(&req.member_id);
            if self.members.contains_key(&req.member_id) {
                self.remove_member_and_update_group(&req.member_id.clone(), now);
            }
            return send(Some(reply), JoinResponse::error(GroupError::GroupMaxSizeReached, ""));
        }
        if self.state == GroupState::Dead {
            return send(
                Some(reply),
                JoinResponse::error(GroupError::CoordinatorNotAvailable, &req.member_id),
            );
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return send(
                Some(reply),
                JoinResponse::error(GroupError::InconsistentGroupProtocol, &req.member_id),
            );
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, now, reply);
        } else {
            self.join_existing_member(req, now, reply);
        }
    }

    /// Kafka's `acceptJoiningMember` (group.max.size).
    fn accepts_joining_member(&self, member_id: &str) -> bool {
        let max = self.limits.max_size;
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                let awaiting = self.members.values().filter(|m| m.join_waiter.is_some()).count();
                self.members.get(member_id).is_some_and(|m| m.join_waiter.is_some()) || awaiting < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    fn join_new_member(&mut self, req: JoinRequest, now: Now, reply: oneshot::Sender<JoinResponse>) {
        let new_id = Self::new_member_id(&req);
        if let Some(instance) = req.group_instance_id.clone()
            && let Some(old_id) = self.static_members.get(&instance).cloned()
        {
            return self.replace_static_member(&old_id, new_id, req, now, reply);
        }
        if req.group_instance_id.is_none() && req.require_known_member_id {
            let session = req.session_timeout_ms.max(0) as u64;
            self.pending_members.insert(new_id.clone(), now.mono_ms + session);
            return send(Some(reply), JoinResponse::error(GroupError::MemberIdRequired, &new_id));
        }
        self.add_member_and_rebalance(new_id, req, now, reply);
    }

    fn join_existing_member(&mut self, req: JoinRequest, now: Now, reply: oneshot::Sender<JoinResponse>) {
        let id = req.member_id.clone();
        if self.pending_members.remove(&id).is_some() {
            return self.add_member_and_rebalance(id, req, now, reply);
        }
        if let Err(e) = self.check_static(&id, req.group_instance_id.as_deref()) {
            return send(Some(reply), JoinResponse::error(e, &id));
        }
        if !self.members.contains_key(&id) {
            return send(Some(reply), JoinResponse::error(GroupError::UnknownMemberId, &id));
        }
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(&id, req, now, reply),
            GroupState::CompletingRebalance => {
                if self.members[&id].protocols == req.protocols {
                    // The member lost its JoinGroup response: send it again.
                    let resp = self.current_join_response(&id, false);
                    send(Some(reply), resp);
                } else {
                    self.update_member_and_rebalance(&id, req, now, reply)
                }
            }
            GroupState::Stable => {
                let is_leader = self.leader.as_deref() == Some(id.as_str());
                if is_leader || self.members[&id].protocols != req.protocols {
                    self.update_member_and_rebalance(&id, req, now, reply)
                } else {
                    self.touch(&id, now);
                    let resp = self.current_join_response(&id, false);
                    send(Some(reply), resp);
                }
            }
            GroupState::Empty | GroupState::Dead => {
                send(Some(reply), JoinResponse::error(GroupError::UnknownMemberId, &id))
            }
        }
    }

    /// The current generation as `member_id` sees it; the leader gets every member.
    fn current_join_response(&self, member_id: &str, skip_assignment: bool) -> JoinResponse {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment,
            member_id: member_id.to_string(),
            members: if is_leader { self.member_list() } else { vec![] },
        }
    }

    fn member_list(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
    }

    /// KIP-345: a known `group.instance.id` joins with no member id. The old member is
    /// fenced and the new id takes its place (and its assignment).
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now: Now,
        reply: oneshot::Sender<JoinResponse>,
    ) {
        let Some(mut m) = self.members.remove(old_id) else {
            return send(Some(reply), JoinResponse::error(GroupError::UnknownMemberId, ""));
        };
        send(
            m.join_waiter.take(),
            JoinResponse::error(GroupError::FencedInstanceId, old_id),
        );
        send(m.sync_waiter.take(), Err(GroupError::FencedInstanceId));
        let old_protocols = std::mem::replace(&mut m.protocols, req.protocols.clone());
        m.is_new = false;
        m.member_id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.supports_skip_assignment = req.supports_skip_assignment;
        self.members.insert(new_id.clone(), m);
        if let Some(i) = &req.group_instance_id {
            self.static_members.insert(i.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        match self.state {
            GroupState::Stable => {
                if self.select_protocol() == self.protocol_name {
                    // No rebalance: the member gets the current generation back. Since
                    // KIP-814 (v9) a leader is sent the members with skip_assignment; older
                    // clients are told the old leader id, so they act as followers and
                    // SyncGroup returns the assignment they had.
                    let _ = old_protocols;
                    self.touch(&new_id, now);
                    self.metadata_dirty = true;
                    let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                    let resp = if req.supports_skip_assignment {
                        self.current_join_response(&new_id, is_leader)
                    } else {
                        JoinResponse {
                            leader: if is_leader {
                                old_id.to_string()
                            } else {
                                self.leader.clone().unwrap_or_default()
                            },
                            members: vec![],
                            ..self.current_join_response(&new_id, false)
                        }
                    };
                    send(Some(reply), resp);
                } else {
                    self.park_join(&new_id, reply);
                    self.prepare_rebalance(now);
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be assigning to the old id: rebalance again.
                self.park_join(&new_id, reply);
                self.prepare_rebalance(now);
            }
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
                self.park_join(&new_id, reply);
                if self.state == GroupState::Empty {
                    self.prepare_rebalance(now);
                } else {
                    self.try_complete_join(now);
                }
            }
        }
    }

    /// Parks `reply` as the member's pending JoinGroup answer.
    fn park_join(&mut self, id: &str, reply: oneshot::Sender<JoinResponse>) {
        match self.members.get_mut(id) {
            Some(m) => send(
                m.join_waiter.replace(reply),
                JoinResponse::error(GroupError::RebalanceInProgress, id),
            ),
            None => send(Some(reply), JoinResponse::error(GroupError::UnknownMemberId, id)),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now: Now,
        reply: oneshot::Sender<JoinResponse>,
    ) {
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(reply),
            sync_waiter: None,
            supports_skip_assignment: req.supports_skip_assignment,
            is_new: true,
            expires_at: now.mono_ms + self.limits.new_member_join_timeout_ms,
        };
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type);
        }
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        if let Some(i) = req.group_instance_id {
            self.static_members.insert(i, member_id.clone());
        }
        self.members.insert(member_id, member);
        if matches!(self.join_timer, Some(JoinTimer::InitialDelay { .. })) {
            self.new_member_added = true;
        }
        self.maybe_prepare_rebalance(now);
        self.try_complete_join(now);
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: JoinRequest,
        now: Now,
        reply: oneshot::Sender<JoinResponse>,
    ) {
        if let Some(m) = self.members.get_mut(id) {
            m.protocols = req.protocols;
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.supports_skip_assignment = req.supports_skip_assignment;
            // A retried join replaces the parked one; the old connection is waiting in vain.
            send(
                m.join_waiter.replace(reply),
                JoinResponse::error(GroupError::RebalanceInProgress, id),
            );
        }
        self.maybe_prepare_rebalance(now);
        self.try_complete_join(now);
    }

    fn maybe_prepare_rebalance(&mut self, now: Now) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    fn prepare_rebalance(&mut self, now: Now) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    // The released member gets a full session to rejoin.
                    m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
                    let _ = tx.send(Err(GroupError::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        self.pending_sync_deadline = None;
        let timeout = self.rebalance_timeout();
        let initial = self.state == GroupState::Empty;
        self.join_timer = Some(if initial {
            let delay = self.limits.initial_rebalance_delay_ms;
            JoinTimer::InitialDelay {
                at: now.mono_ms + delay,
                remaining: timeout.saturating_sub(delay),
            }
        } else {
            JoinTimer::Rebalance {
                at: now.mono_ms + timeout,
            }
        });
        self.transition(GroupState::PreparingRebalance, now);
        if !initial {
            // Everyone may already be waiting (or nobody is left).
            self.try_complete_join(now);
        }
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    fn try_complete_join(&mut self, now: Now) {
        if self.state == GroupState::PreparingRebalance
            && matches!(self.join_timer, Some(JoinTimer::Rebalance { .. }))
            && self.all_members_joined()
        {
            self.complete_join(now);
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, bumps the
    /// generation, selects the protocol and answers every parked JoinGroup.
    fn complete_join(&mut self, now: Now) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, GroupError::UnknownMemberId);
        }
        self.join_timer = None;
        self.new_member_added = false;
        let joined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_some())
            .map(|m| m.member_id.clone())
            .collect();
        if joined.is_empty() && !self.members.is_empty() {
            // Only static members that have not rejoined: wait another rebalance timeout
            // (their sessions expire meanwhile if they are gone).
            // (At least a second apart, whatever rebalance timeout the client asked for.)
            self.join_timer = Some(JoinTimer::Rebalance {
                at: now.mono_ms + self.rebalance_timeout().max(1_000),
            });
            return;
        }
        if !self.leader.as_ref().is_some_and(|l| joined.contains(l)) {
            self.leader = joined.first().cloned();
        }
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now);
            self.metadata_dirty = true;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        let leader = self.leader.clone();
        for id in &joined {
            let is_leader = leader.as_deref() == Some(id.as_str());
            let resp = JoinResponse {
                members: if is_leader { self.member_list() } else { vec![] },
                ..self.current_join_response(id, false)
            };
            let Some(m) = self.members.get_mut(id) else { continue };
            m.is_new = false;
            m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
            send(m.join_waiter.take(), resp);
        }
        // Every member's session restarts, including static members that have not rejoined.
        for m in self.members.values_mut() {
            m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.pending_sync_deadline = Some(now.mono_ms + self.rebalance_timeout());
    }

    /// Removes a member, answering its parked requests with `err`; no state change.
    fn remove_member(&mut self, id: &str, err: GroupError) {
        let Some(mut m) = self.members.remove(id) else { return };
        send(m.join_waiter.take(), JoinResponse::error(err.clone(), id));
        send(m.sync_waiter.take(), Err(err));
        if let Some(i) = &m.group_instance_id
            && self.static_members.get(i).map(String::as_str) == Some(id)
        {
            self.static_members.remove(i);
        }
        self.pending_sync.remove(id);
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    /// Removes a member and moves the group on: a rebalance, or completing the current one.
    fn remove_member_and_update_group(&mut self, id: &str, now: Now) {
        self.remove_member(id, GroupError::UnknownMemberId);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            // Kafka completes the join here even during the initial delay.
            GroupState::PreparingRebalance => {
                if self.all_members_joined() {
                    self.complete_join(now);
                }
            }
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now),
        }
    }

    fn touch(&mut self, id: &str, now: Now) {
        if let Some(m) = self.members.get_mut(id) {
            m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
        }
    }

    // ---------------------------------------------------------------- SyncGroup

    /// Handles a SyncGroup; followers park until the leader's assignment arrives.
    pub fn sync(&mut self, req: SyncRequest, now: Now, reply: oneshot::Sender<SyncResult>) {
        let id = req.member_id.clone();
        let checked = self.check_member(&id, req.group_instance_id.as_deref(), req.generation_id);
        if let Err(e) = checked {
            return send(Some(reply), Err(e));
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref())
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != self.protocol_name.as_ref())
        {
            return send(Some(reply), Err(GroupError::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => send(Some(reply), Err(GroupError::UnknownMemberId)),
            GroupState::PreparingRebalance => send(Some(reply), Err(GroupError::RebalanceInProgress)),
            GroupState::CompletingRebalance => {
                self.synced(&id);
                let Some(m) = self.members.get_mut(&id) else {
                    return send(Some(reply), Err(GroupError::UnknownMemberId));
                };
                m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
                send(m.sync_waiter.replace(reply), Err(GroupError::RebalanceInProgress));
                if self.leader.as_deref() == Some(id.as_str()) {
                    let given: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now);
                    self.metadata_dirty = true;
                    let (pt, pn) = (self.protocol_type.clone(), self.protocol_name.clone());
                    for m in self.members.values_mut() {
                        if let Some(tx) = m.sync_waiter.take() {
                            m.expires_at = now.mono_ms + m.session_timeout_ms.max(0) as u64;
                            let _ = tx.send(Ok(SyncResponse {
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            }));
                        }
                    }
                }
            }
            GroupState::Stable => {
                self.synced(&id);
                self.touch(&id, now);
                let resp = SyncResponse {
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: self.members[&id].assignment.clone(),
                };
                send(Some(reply), Ok(resp));
            }
        }
    }

    fn synced(&mut self, id: &str) {
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            self.pending_sync_deadline = None;
        }
    }

    /// The checks SyncGroup, Heartbeat and OffsetCommit share, in Kafka's order.
    fn check_member(&self, id: &str, instance: Option<&str>, generation: i32) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.check_static(id, instance)?;
        if !self.members.contains_key(id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- Heartbeat, LeaveGroup

    pub fn heartbeat(&mut self, id: &str, instance: Option<&str>, generation: i32, now: Now) -> Result<(), GroupError> {
        self.check_member(id, instance, generation)?;
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.touch(id, now);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                self.touch(id, now);
                Err(GroupError::RebalanceInProgress)
            }
        }
    }

    /// Handles one member of a LeaveGroup (by member id, or by instance id alone).
    pub fn leave(&mut self, id: &str, instance: Option<&str>, now: Now) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let id = if id.is_empty() {
            match instance.and_then(|i| self.static_members.get(i)) {
                Some(current) => current.clone(),
                None => return Err(GroupError::UnknownMemberId),
            }
        } else {
            if self.pending_members.remove(id).is_some() {
                self.try_complete_join(now);
                return Ok(());
            }
            self.check_static(id, instance)?;
            id.to_string()
        };
        if !self.members.contains_key(&id) {
            return Err(GroupError::UnknownMemberId);
        }
        self.remove_member_and_update_group(&id, now);
        Ok(())
    }

    // ---------------------------------------------------------------- deadlines

    /// The earliest deadline this group waits on, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let sessions = self.members.values().filter_map(|m| {
            // Members with a parked request are kept alive; a new member's join timeout runs.
            if m.join_waiter.is_some() && !m.is_new || m.sync_waiter.is_some() {
                None
            } else {
                Some(m.expires_at)
            }
        });
        let join = self.join_timer.map(|t| match t {
            JoinTimer::InitialDelay { at, .. } | JoinTimer::Rebalance { at } => at,
        });
        sessions
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(self.pending_sync_deadline)
            .min()
    }

    /// Fires every deadline that has passed.
    pub fn tick(&mut self, now: Now) {
        let t = now.mono_ms;
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, at)| **at <= t)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending_members.remove(&id);
            self.try_complete_join(now);
        }
        match self.join_timer {
            Some(JoinTimer::InitialDelay { at, remaining }) if at <= t => {
                if self.new_member_added && remaining > 0 {
                    self.new_member_added = false;
                    let delay = self.limits.initial_rebalance_delay_ms.min(remaining);
                    self.join_timer = Some(JoinTimer::InitialDelay {
                        at: t + delay,
                        remaining: remaining - delay,
                    });
                } else {
                    self.complete_join(now);
                }
            }
            Some(JoinTimer::Rebalance { at }) if at <= t => self.complete_join(now),
            _ => {}
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.kept_alive(t))
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member_and_update_group(&id, now);
        }
        if let Some(at) = self.pending_sync_deadline
            && at <= t
        {
            self.pending_sync_deadline = None;
            if matches!(self.state, GroupState::CompletingRebalance | GroupState::Stable) {
                let laggards: Vec<String> = std::mem::take(&mut self.pending_sync).into_iter().collect();
                for id in &laggards {
                    tracing::info!(group = %self.id, member = %id, "member did not sync in time");
                    self.remove_member(id, GroupError::UnknownMemberId);
                }
                if !laggards.is_empty() {
                    self.prepare_rebalance(now);
                }
            }
        }
    }

    // ---------------------------------------------------------------- offsets

    /// Kafka's classic `validateOffsetCommit`: may this member commit in this generation?
    /// A `transactional` commit (TxnOffsetCommit) without member id or generation is
    /// accepted into a group with members, and a rebalance does not block it.
    pub fn validate_commit(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        transactional: bool,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(()); // a group that only stores offsets (assign()-style consumers)
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            self.check_static(member_id, instance)?;
            if !self.members.contains_key(member_id) {
                return Err(GroupError::UnknownMemberId);
            }
            if generation != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        } else if !transactional {
            // An anonymous commit into a group with members.
            return Err(GroupError::UnknownMemberId);
        }
        if !transactional && self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Records a durable commit; a commit by a member also counts as a sign of life.
    pub fn apply_commit(&mut self, member_id: &str, tp: (String, i32), o: CommittedOffset, now: Now) {
        self.offsets.insert(tp, o);
        if matches!(self.state, GroupState::Stable | GroupState::PreparingRebalance) {
            self.touch(member_id, now);
        }
    }

    pub fn committed(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(&(topic.to_string(), partition))
    }

    /// Topics the members subscribe to, when the group uses the consumer protocol and
    /// every subscription parses (Kafka's `subscribedTopics`).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for m in self.members.values() {
            all.extend(super::subscription::topics(&m.metadata_for(Some(protocol)))?);
        }
        Some(all)
    }

    /// Offsets due to expire at `now_wall` with `offsets.retention.ms` (Kafka's
    /// `offsetExpirationCondition`, KIP-211): a simple group's (no protocol) by commit time;
    /// an Empty group's by the time it became Empty; a Stable consumer group's offsets of
    /// topics it no longer subscribes to by commit time; otherwise none. An explicit expire
    /// timestamp (OffsetCommit v2-v4 retention) wins where a condition applies.
    pub fn expired_offsets(&self, now_wall: i64, retention_ms: i64) -> Vec<(String, i32)> {
        enum Base {
            Commit,
            StateChange,
        }
        let (base, skip) = match (self.protocol_type.as_deref(), self.state) {
            (None, _) => (Base::Commit, BTreeSet::new()),
            (Some(_), GroupState::Empty) => (Base::StateChange, BTreeSet::new()),
            (Some("consumer"), GroupState::Stable) => match self.subscribed_topics() {
                Some(s) => (Base::Commit, s),
                None => return vec![],
            },
            _ => return vec![],
        };
        self.offsets
            .iter()
            .filter(|((topic, p), o)| {
                // An offset a transaction is about to replace is not expired under it.
                if skip.contains(topic) || self.txn.is_pending(&(topic.clone(), *p)) {
                    return false;
                }
                if let Some(at) = o.expire_timestamp_ms {
                    return now_wall >= at;
                }
                let from = match base {
                    Base::StateChange if self.state_timestamp_ms >= 0 => self.state_timestamp_ms,
                    _ => o.commit_timestamp_ms,
                };
                now_wall - from >= retention_ms
            })
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Whether the group is Empty with no offsets left (Kafka then removes it).
    pub fn is_removable(&self) -> bool {
        self.state == GroupState::Empty
            && self.offsets.is_empty()
            && self.pending_members.is_empty()
            && !self.txn.any_pending()
    }

    /// DeleteGroups' check: only an Empty group may go.
    pub fn check_deletable(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Empty => Ok(()),
            GroupState::Dead => Err(GroupError::GroupIdNotFound),
            _ => Err(GroupError::NonEmptyGroup),
        }
    }

    /// OffsetDelete's checks (Kafka's `validateOffsetDelete` and `isSubscribedToTopic`):
    /// a group with members must use the consumer protocol, and offsets of topics it
    /// subscribes to stay (an unreadable subscription counts as subscribed to everything).
    pub fn check_offset_delete(&self, partitions: &[(String, i32)]) -> Result<PartitionResults, GroupError> {
        match self.state {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => {}
            _ if self.protocol_type.as_deref() != Some("consumer") => return Err(GroupError::NonEmptyGroup),
            _ => {}
        }
        let subscribed = (self.state != GroupState::Empty).then(|| self.subscribed_topics());
        Ok(partitions
            .iter()
            .map(|tp| {
                let protected = match &subscribed {
                    None => false,
                    Some(None) => true,
                    Some(Some(topics)) => topics.contains(&tp.0),
                };
                let r = if protected {
                    Err(GroupError::GroupSubscribedToTopic)
                } else {
                    Ok(())
                };
                (tp.clone(), r)
            })
            .collect())
    }

    /// Marks the group Dead (it was removed), failing every parked request.
    pub fn mark_dead(&mut self, now: Now) {
        self.fail_parked(GroupError::CoordinatorNotAvailable);
        self.transition(GroupState::Dead, now);
    }

    /// Answers every parked JoinGroup and SyncGroup with `e`.
    pub fn fail_parked(&mut self, e: GroupError) {
        for m in self.members.values_mut() {
            send(m.join_waiter.take(), JoinResponse::error(e.clone(), &m.member_id));
            send(m.sync_waiter.take(), Err(e.clone()));
        }
    }

    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.as_deref();
        GroupDescription {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name: if stable {
                protocol.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(protocol) } else { Bytes::new() },
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
