//! Followers copy their leaders' logs (Kafka's `ReplicaFetcherThread`): one task per
//! leader broker fetches every partition this broker follows from it, over one connection
//! to the leader's PLAINTEXT listener, with Kafka's own Fetch (v15, `replica_state` naming
//! this broker) as any client's.
//!
//! Each partition fetches from its log end offset with the epoch of its last batch
//! (`last_fetched_epoch`); the leader answers with batches (appended as the leader wrote
//! them, then the high watermark it announced), or with a *diverging epoch* when this log
//! holds a tail the leader does not (cut at the end of that epoch here or there, whichever
//! comes first, and fetched again), or OFFSET_OUT_OF_RANGE (the leader's log is shorter:
//! cut to its end; or starts later: emptied to start at its log start, both asked with
//! ListOffsets). A leader that no longer leads at that epoch delays the partition until
//! the metadata image says who does (`replica.fetch.backoff.ms`).
//!
//! Must not: decide leadership (the image does) nor touch a partition it no longer follows
//! (the partition map's lock is held while a response is applied, and the replica manager
//! takes it to move a partition elsewhere).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::controller::quorum::frame::{read_response, write_request};
use crate::log::record::batch::iter_batches;
use crate::log::{Partition, now_ms};
use crate::metadata::MetadataImage;

/// Fetch's API key and the version followers send.
const FETCH: i16 = 1;
const FETCH_VERSION: i16 = 15;
/// ListOffsets' API key and version.
const LIST_OFFSETS: i16 = 2;
const LIST_OFFSETS_VERSION: i16 = 7;

/// Kafka's replica fetcher defaults.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The inter-broker listener's name: leaders are fetched from on their endpoint of it.
    pub listener: String,
    /// `replica.fetch.wait.max.ms`.
    pub max_wait_ms: i32,
    /// `replica.fetch.max.bytes` (per partition).
    pub partition_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub backoff: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            listener: crate::config::listeners::DEFAULT_INTER_BROKER.to_string(),
            max_wait_ms: 500,
            partition_max_bytes: 1024 * 1024,
            response_max_bytes: 10 * 1024 * 1024,
            backoff: Duration::from_millis(1000),
        }
    }
}

/// A partition this broker follows.
#[derive(Debug, Clone)]
pub struct Followed {
    pub partition: Arc<Partition>,
    pub topic_id: uuid::Uuid,
    /// The leader's epoch in the image.
    pub leader_epoch: i32,
}

/// (topic id, partition index).
pub type PartitionKey = (uuid::Uuid, i32);

#[derive(Debug)]
struct FetchState {
    followed: Followed,
    /// Not fetched before this (after an error).
    delayed_until: Option<Instant>,
}

type PartitionMap = Arc<Mutex<BTreeMap<PartitionKey, FetchState>>>;

#[derive(Debug)]
struct Fetcher {
    partitions: PartitionMap,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
}

/// The fetcher tasks, one per leader.
#[derive(Debug)]
pub struct FetcherManager {
    node_id: i32,
    settings: FetchSettings,
    image: watch::Receiver<Arc<MetadataImage>>,
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FetcherManager {
    pub fn new(node_id: i32, settings: FetchSettings, image: watch::Receiver<Arc<MetadataImage>>) -> Self {
        Self {
            node_id,
            settings,
            image,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    /// Follows exactly `wanted` (partition → (leader, what to follow)) from now on: a
    /// partition that left a leader's task is not touched by it again once this returns.
    pub fn assign(&self, wanted: BTreeMap<PartitionKey, (i32, Followed)>) {
        let mut by_leader: HashMap<i32, BTreeMap<PartitionKey, Followed>> = HashMap::new();
        for (key, (leader, f)) in wanted {
            by_leader.entry(leader).or_default().insert(key, f);
        }
        let mut fetchers = lock(&self.fetchers);
        fetchers.retain(|leader, f| {
            let keep = by_leader.contains_key(leader);
            if !keep {
                // Taking the map's lock waits for a response being applied.
                lock(&f.partitions).clear();
                let _ = f.stop.send(true);
            }
            keep
        });
        for (leader, parts) in by_leader {
            let f = fetchers.entry(leader).or_insert_with(|| self.spawn(leader));
            let mut map = lock(&f.partitions);
            map.retain(|k, _| parts.contains_key(k));
            for (key, followed) in parts {
                match map.get_mut(&key) {
                    Some(s)
                        if s.followed.leader_epoch == followed.leader_epoch
                            && Arc::ptr_eq(&s.followed.partition, &followed.partition) => {}
                    Some(s) => {
                        s.followed = followed;
                        s.delayed_until = None;
                    }
                    None => {
                        map.insert(
                            key,
                            FetchState {
                                followed,
                                delayed_until: None,
                            },
                        );
                    }
                }
            }
            drop(map);
            f.wake.notify_one();
        }
    }

    /// Stops every fetcher.
    pub fn stop_all(&self) {
        self.assign(BTreeMap::new());
    }

    fn spawn(&self, leader: i32) -> Fetcher {
        let partitions: PartitionMap = Arc::default();
        let wake = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let task = FetcherTask {
            node_id: self.node_id,
            leader,
            settings: self.settings.clone(),
            image: self.image.clone(),
            partitions: partitions.clone(),
            wake: wake.clone(),
            stop: stop_rx,
            conn: None,
            correlation: 0,
        };
        tokio::spawn(task.run());
        Fetcher { partitions, wake, stop }
    }
}

/// One leader's fetcher.
struct FetcherTask {
    node_id: i32,
    leader: i32,
    settings: FetchSettings,
    image: watch::Receiver<Arc<MetadataImage>>,
    partitions: PartitionMap,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    conn: Option<TcpStream>,
    correlation: i32,
}

/// What a partition's answer asks of the fetcher beyond the log.
enum Next {
    Fine,
    /// Back off this partition.
    Delay,
    /// Ask the leader where its log starts and ends.
    OutOfRange,
}

impl FetcherTask {
    async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                return;
            }
            let request = self.build();
            let Some((request, asked)) = request else {
                // Nothing to fetch now: wait for a change or the first delay to pass.
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.backoff) => {}
                    _ = self.stop.changed() => {}
                }
                continue;
            };
            let mut stop = self.stop.clone();
            let answer = tokio::select! {
                a = self.exchange::<FetchResponse>(FETCH, FETCH_VERSION, &request) => a,
                _ = stop.changed() => return,
            };
            match answer {
                Ok(resp) => {
                    // Appends, and a truncation's copy and fsyncs, on a blocking thread.
                    let (map, leader, backoff) = (self.partitions.clone(), self.leader, self.settings.backoff);
                    let out_of_range = tokio::task::spawn_blocking(move || apply(&map, leader, backoff, resp, &asked))
                        .await
                        .unwrap_or_default();
                    for key in out_of_range {
                        self.reset_out_of_range(key).await;
                    }
                }
                Err(e) => {
                    tracing::debug!(leader = self.leader, partitions = asked.len(), error = %e, "fetching from the leader failed");
                    self.conn = None;
                    tokio::select! {
                        _ = tokio::time::sleep(self.settings.backoff) => {}
                        _ = self.stop.changed() => return,
                    }
                }
            }
        }
    }

    /// The Fetch for every partition not delayed, and the leader epoch each was asked at.
    fn build(&self) -> Option<(FetchRequest, BTreeMap<PartitionKey, i32>)> {
        let now = Instant::now();
        let map = lock(&self.partitions);
        let mut topics: BTreeMap<uuid::Uuid, Vec<FetchPartition>> = BTreeMap::new();
        let mut asked = BTreeMap::new();
        for ((topic_id, index), s) in map.iter() {
            if s.delayed_until.is_some_and(|d| d > now) {
                continue;
            }
            let p = &s.followed.partition;
            let mut fp = FetchPartition::default();
            fp.partition = *index;
            fp.current_leader_epoch = s.followed.leader_epoch;
            fp.fetch_offset = p.log_end_offset();
            fp.last_fetched_epoch = p.latest_epoch();
            fp.log_start_offset = p.log_start_offset();
            fp.partition_max_bytes = self.settings.partition_max_bytes;
            topics.entry(*topic_id).or_default().push(fp);
            asked.insert((*topic_id, *index), s.followed.leader_epoch);
        }
        if asked.is_empty() {
            return None;
        }
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.replica_state = ReplicaState::default()
            .with_replica_id(BrokerId(self.node_id))
            .with_replica_epoch(-1);
        req.max_wait_ms = self.settings.max_wait_ms;
        req.min_bytes = 1;
        req.max_bytes = self.settings.response_max_bytes;
        req.isolation_level = 0;
        req.session_id = 0;
        req.session_epoch = -1;
        req.topics = topics
            .into_iter()
            .map(|(id, partitions)| FetchTopic::default().with_topic_id(id).with_partitions(partitions))
            .collect();
        Some((req, asked))
    }

    /// Asks the leader where the partition's log starts and ends, and cuts this log to fit.
    async fn reset_out_of_range(&mut self, key: PartitionKey) {
        let Some(followed) = lock(&self.partitions).get(&key).map(|s| s.followed.clone()) else {
            return;
        };
        let offsets = self.leader_offsets(&key, &followed).await;
        let mut map = lock(&self.partitions);
        let Some(s) = map.get_mut(&key) else { return };
        let p = &s.followed.partition;
        let result = match offsets {
            Ok((_, end)) if p.log_end_offset() > end => p.truncate_to(end).map(drop),
            Ok((start, _)) if p.log_end_offset() < start => p.truncate_fully_and_start_at(start),
            // In range by the leader's offsets, so the leader does not know the epoch of
            // this log's last batch (older than its log): nothing here can be trusted,
            // the log starts over at the leader's log start.
            Ok((start, _)) => p.truncate_fully_and_start_at(start),
            Err(e) => {
                tracing::debug!(partition = ?p, error = %e, "asking the leader for its offsets failed");
                s.delayed_until = Some(Instant::now() + self.settings.backoff);
                return;
            }
        };
        if let Err(e) = result {
            tracing::error!(partition = ?p, error = %e, "cutting the follower's log failed");
            s.delayed_until = Some(Instant::now() + self.settings.backoff);
        }
    }

    /// The leader's (log start, log end) of a partition.
    async fn leader_offsets(&mut self, key: &PartitionKey, followed: &Followed) -> Result<(i64, i64), String> {
        let name = self
            .image
            .borrow()
            .topics
            .get(&key.0)
            .map(|t| t.name.clone())
            .ok_or("the topic left the image")?;
        let mut out = [0i64; 2];
        for (i, timestamp) in [-2i64, -1].into_iter().enumerate() {
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(self.node_id);
            req.topics = vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(key.1)
                            .with_current_leader_epoch(followed.leader_epoch)
                            .with_timestamp(timestamp),
                    ]),
            ];
            let resp: ListOffsetsResponse = self.exchange(LIST_OFFSETS, LIST_OFFSETS_VERSION, &req).await?;
            let p = resp
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .ok_or("an empty ListOffsets answer")?;
            if p.error_code != 0 {
                return Err(format!("ListOffsets error {}", p.error_code));
            }
            out[i] = p.offset;
        }
        Ok((out[0], out[1]))
    }

    /// One request and its answer over the connection to the leader (opened if needed).
    async fn exchange<R: Decodable>(&mut self, key: i16, version: i16, req: &impl Encodable) -> Result<R, String> {
        let mut body = BytesMut::new();
        req.encode(&mut body, version).map_err(|e| e.to_string())?;
        if self.conn.is_none() {
            let addr = {
                let image = self.image.borrow();
                let b = image.brokers.get(&self.leader).ok_or("the leader is not registered")?;
                let e = b
                    .endpoint(&self.settings.listener)
                    .ok_or_else(|| format!("the leader has no {} endpoint", self.settings.listener))?;
                format!("{}:{}", e.host, e.port)
            };
            let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr))
                .await
                .map_err(|_| format!("connecting to {addr} timed out"))?
                .map_err(|e| format!("connecting to {addr}: {e}"))?;
            let _ = s.set_nodelay(true);
            self.conn = Some(s);
        }
        self.correlation = self.correlation.wrapping_add(1);
        let correlation = self.correlation;
        let client_id = format!("brokk-replica-fetcher-{}", self.node_id);
        let stream = self.conn.as_mut().ok_or("no connection")?;
        // The leader answers within max_wait; a dead one is noticed within a bound.
        let wait = Duration::from_millis(self.settings.max_wait_ms.max(0) as u64) + Duration::from_secs(30);
        let answer = tokio::time::timeout(wait, async {
            write_request(stream, key, version, correlation, &client_id, &body).await?;
            read_response(stream).await
        })
        .await;
        let answer = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                self.conn = None;
                return Err(e.to_string());
            }
            Err(_) => {
                self.conn = None;
                return Err("the leader did not answer in time".into());
            }
        };
        if answer.0 != correlation {
            self.conn = None;
            return Err("the leader answered another request".into());
        }
        R::decode(&mut Bytes::from(answer.1), version).map_err(|e| e.to_string())
    }
}

/// Applies a Fetch answer; returns the partitions whose fetch offset was out of range.
fn apply(
    partitions: &PartitionMap,
    leader: i32,
    backoff: Duration,
    resp: FetchResponse,
    asked: &BTreeMap<PartitionKey, i32>,
) -> Vec<PartitionKey> {
    let mut out_of_range = vec![];
    let mut map = lock(partitions);
    if resp.error_code != 0 {
        tracing::debug!(leader, error = resp.error_code, "the leader refused the fetch");
        for s in map.values_mut() {
            s.delayed_until = Some(Instant::now() + backoff);
        }
        return out_of_range;
    }
    for t in resp.responses {
        for d in t.partitions {
            let key = (t.topic_id, d.partition_index);
            let Some(s) = map.get_mut(&key) else { continue };
            // An answer for an epoch the partition no longer follows is dropped.
            if asked.get(&key) != Some(&s.followed.leader_epoch) {
                continue;
            }
            match apply_partition(&s.followed.partition, d) {
                Next::Fine => {}
                Next::Delay => s.delayed_until = Some(Instant::now() + backoff),
                Next::OutOfRange => out_of_range.push(key),
            }
        }
    }
    out_of_range
}

/// Applies one partition's answer to its log.
fn apply_partition(p: &Partition, d: kafka_protocol::messages::fetch_response::PartitionData) -> Next {
    match ResponseError::try_from_code(d.error_code) {
        None => {}
        Some(ResponseError::OffsetOutOfRange) => return Next::OutOfRange,
        Some(e) => {
            tracing::debug!(partition = ?p, error = ?e, "the leader refused the partition's fetch");
            return Next::Delay;
        }
    }
    if d.diverging_epoch.epoch >= 0 {
        // Kafka's truncation on a diverging epoch (`getOffsetTruncationState`): where
        // this log also has the leader's epoch, at the lower of the two ends; where it
        // only has an older one, at that one's end (the next fetch checks again); where
        // it has none, at the leader's end.
        let (epoch, end) = p.end_offset_for_epoch(d.diverging_epoch.epoch);
        let leo = p.log_end_offset();
        let cut = if epoch < 0 || end < 0 {
            d.diverging_epoch.end_offset.min(leo)
        } else if epoch == d.diverging_epoch.epoch {
            end.min(d.diverging_epoch.end_offset).min(leo)
        } else {
            end.min(leo)
        };
        if let Err(e) = p.truncate_to(cut.max(0)) {
            tracing::error!(partition = ?p, error = %e, "truncating a divergent tail failed");
            return Next::Delay;
        }
        return Next::Fine;
    }
    if let Some(records) = d.records.filter(|r| !r.is_empty()) {
        let now = now_ms();
        for (at, h) in iter_batches(&records) {
            let end = at + h.len();
            if end > records.len() {
                break;
            }
            let leo = p.log_end_offset();
            if h.last_offset() < leo {
                continue;
            }
            if h.base_offset() < leo {
                // A batch holding the log end: only an empty log that starts inside it (at
                // the leader's log start) takes it, starting at its base offset instead
                // (Kafka's handling of `UnexpectedAppendOffsetException`).
                if leo != p.log_start_offset() || p.truncate_fully_and_start_at(h.base_offset()).is_err() {
                    tracing::error!(partition = ?p, base_offset = h.base_offset(), log_end_offset = leo, "a fetched batch overlaps this log's end");
                    return Next::Delay;
                }
            }
            if let Err(e) = p.append_as_follower(&records[at..end], now) {
                tracing::error!(partition = ?p, error = %e, "appending the leader's batch failed");
                return Next::Delay;
            }
        }
    }
    if d.log_start_offset > p.log_start_offset() {
        p.set_high_watermark(d.high_watermark);
        if let Err(e) = p.delete_records(d.log_start_offset.min(p.log_end_offset())) {
            tracing::debug!(partition = ?p, error = %e, "following the leader's log start failed");
        }
    }
    p.set_high_watermark(d.high_watermark);
    Next::Fine
}
