//! A broker that is not a controller (`process.roles=broker`): an observer of the metadata
//! quorum, as Kafka's broker-only nodes are. It does not vote; it keeps reading the
//! committed metadata log from the voters' CONTROLLER listeners (`observe.rs`'s
//! FetchMetadata, a long poll) into its own [`MetadataImage`], and learns from every
//! answer which voter leads, so that its registration, heartbeats and forwarded requests
//! reach the active controller.
//!
//! It asks the leader it knows, else the voters in turn; a voter that fails or does not
//! answer in time sends the next request to the next voter. The image lives in memory: a
//! restarted observer starts from the voter's snapshot (Kafka's broker keeps a copy of
//! the log on disk; brokk's metadata is small enough to read again at start, and the
//! controller unfences a broker only once its image holds its own registration).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::EntryPayload;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::frame::{read_response, write_request};
use super::observe::{FETCH_METADATA, FetchRequest, FetchResponse, Fetched};
use super::{ControllerNode, NodeId};
use crate::metadata::MetadataImage;

/// How long a voter may hold a request when nothing is new.
const LONG_POLL_MS: i32 = 500;
/// One exchange's limit (the long poll and a snapshot's transfer included).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The pauses after failed tries, doubling up to the most.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Failed tries in a row before they are logged as a warning.
const WARN_AFTER: u32 = 20;
/// While it follows a leader, how often the observer asks another voter too (Kafka's
/// `controller.quorum.fetch.timeout.ms`, 2 s): a leader cut off from the other voters goes
/// on answering, with nothing new, and openraft does not make it resign; another voter
/// names the leader of a newer epoch.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// A broker-only node's view of the metadata quorum.
pub struct MetadataObserver {
    pub node_id: NodeId,
    voters: BTreeMap<NodeId, ControllerNode>,
    image: watch::Sender<Arc<MetadataImage>>,
    /// One past the last entry applied that is not inside a metadata transaction: what the
    /// broker reports to the controller (the image holds everything below it).
    applied: watch::Sender<i64>,
    /// (leader, epoch) as the answers of the newest epoch name it.
    leader: watch::Sender<(Option<NodeId>, u64)>,
    /// Whether the image has caught up with a voter's high watermark once.
    caught_up: watch::Sender<bool>,
}

impl std::fmt::Debug for MetadataObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataObserver")
            .field("node_id", &self.node_id)
            .field("applied", &self.applied)
            .finish()
    }
}

/// The observer's working state (its task's alone).
struct Follow {
    image: MetadataImage,
    /// The next offset to fetch.
    next: i64,
}

impl MetadataObserver {
    /// Starts following the quorum of `voters` until `stop`.
    pub fn start(node_id: NodeId, voters: BTreeMap<NodeId, ControllerNode>, stop: watch::Receiver<bool>) -> Arc<Self> {
        let me = Arc::new(Self {
            node_id,
            voters,
            image: watch::Sender::new(Arc::new(MetadataImage::default())),
            applied: watch::Sender::new(0),
            leader: watch::Sender::new((None, 0)),
            caught_up: watch::Sender::new(false),
        });
        tokio::spawn(me.clone().run(stop));
        me
    }

    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }

    /// One past the last metadata offset whose change the image holds whole (no metadata
    /// transaction open at it).
    pub fn applied_offset(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Follows [`Self::applied_offset`] (it moves after the image it covers is published).
    pub fn applied(&self) -> watch::Receiver<i64> {
        self.applied.subscribe()
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader.borrow().0
    }

    pub fn epoch(&self) -> u64 {
        self.leader.borrow().1
    }

    pub fn voters(&self) -> &BTreeMap<NodeId, ControllerNode> {
        &self.voters
    }

    /// Waits until the image has caught up with a voter's high watermark once (Kafka's
    /// broker serves nothing before its metadata has caught up).
    pub async fn await_caught_up(&self) {
        let _ = self.caught_up.subscribe().wait_for(|c| *c).await;
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let ids: Vec<NodeId> = self.voters.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let mut turn = 0usize;
        let mut conn: Option<(NodeId, TcpStream)> = None;
        let mut follow = Follow {
            image: MetadataImage::default(),
            next: 0,
        };
        let mut failures = 0u32;
        let mut probed = tokio::time::Instant::now();
        loop {
            let leader = self.leader().filter(|l| self.voters.contains_key(l));
            let probe = leader.is_some() && probed.elapsed() >= PROBE_INTERVAL && ids.len() > 1;
            let target = match leader {
                Some(l) if !probe => l,
                _ => {
                    turn = (turn + 1) % ids.len();
                    if Some(ids[turn]) == leader {
                        turn = (turn + 1) % ids.len();
                    }
                    ids[turn]
                }
            };
            if probe {
                probed = tokio::time::Instant::now();
            }
            // A probe of another voter keeps the leader's connection for the next fetch.
            let stream = match conn.take() {
                Some((id, s)) if id == target => Some(s),
                other => {
                    conn = other;
                    None
                }
            };
            let req = FetchRequest {
                offset: follow.next,
                max_wait_ms: if probe { 0 } else { LONG_POLL_MS },
            };
            let answer = tokio::select! {
                a = tokio::time::timeout(EXCHANGE_TIMEOUT, self.exchange(target, stream, &req)) => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            let failed = match answer {
                Ok(Ok((s, resp))) => {
                    if !probe {
                        conn = Some((target, s));
                    }
                    self.apply(&mut follow, resp).err()
                }
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("voter {target} did not answer in time")),
            };
            let Some(e) = failed else {
                failures = 0;
                continue;
            };
            failures += 1;
            if failures == WARN_AFTER {
                tracing::warn!(voter = target, error = %e, "reading the metadata log keeps failing");
            } else {
                tracing::debug!(voter = target, error = %e, "reading the metadata log failed");
            }
            if !probe {
                conn = None;
            }
            if Some(target) == leader {
                // The next try goes to another voter.
                self.leader.send_modify(|(l, _)| *l = None);
            }
            let pause = RETRY_BACKOFF
                .saturating_mul(1 << failures.min(5))
                .min(MAX_RETRY_BACKOFF);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn exchange(
        &self,
        target: NodeId,
        stream: Option<TcpStream>,
        req: &FetchRequest,
    ) -> Result<(TcpStream, FetchResponse), String> {
        let node = self.voters.get(&target).ok_or("not a voter")?;
        let mut s = match stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect((node.host.as_str(), node.port))
                    .await
                    .map_err(|e| format!("connecting to {}:{}: {e}", node.host, node.port))?;
                let _ = s.set_nodelay(true);
                s
            }
        };
        let client = format!("brokk-observer-{}", self.node_id);
        write_request(&mut s, FETCH_METADATA, 0, 1, &client, &req.encode())
            .await
            .map_err(|e| e.to_string())?;
        let (correlation, body) = read_response(&mut s).await.map_err(|e| e.to_string())?;
        if correlation != 1 {
            return Err("an answer to another request".into());
        }
        Ok((s, FetchResponse::decode(&body)?))
    }

    /// Applies one answer to the working state and publishes what changed.
    fn apply(&self, follow: &mut Follow, resp: FetchResponse) -> Result<(), String> {
        // The leader named by the newest epoch (an old leader cut off from the quorum still
        // names itself, in its older epoch).
        let (_, known) = *self.leader.borrow();
        if resp.epoch > known || (resp.epoch == known && resp.leader.is_some()) {
            self.leader.send_replace((resp.leader, resp.epoch));
        }
        let asked = follow.next;
        match resp.fetched {
            Fetched::Snapshot { end_offset, records } => {
                if end_offset <= asked {
                    return Err(format!("a snapshot ending at {end_offset} for offset {asked}"));
                }
                let mut next = MetadataImage::default();
                for r in records {
                    next.apply(r).map_err(|e| e.to_string())?;
                }
                follow.image = next;
                follow.next = end_offset;
                self.publish(Some(&follow.image), end_offset, None);
            }
            Fetched::Entries(entries) => {
                if !entries.is_empty() {
                    // Applied to a copy: a run that does not apply leaves the image as it was.
                    let mut next = follow.image.clone();
                    let mut at = asked;
                    let mut changed = false;
                    let mut whole = None;
                    for e in entries {
                        if e.log_id.index as i64 != at {
                            return Err(format!("entry {} where {at} was expected", e.log_id.index));
                        }
                        if let EntryPayload::Normal(r) = e.payload {
                            next.apply(r).map_err(|e| format!("offset {at}: {e}"))?;
                            changed = true;
                        }
                        at += 1;
                        if !next.in_transaction() {
                            whole = Some(at);
                        }
                    }
                    if changed {
                        follow.image = next;
                    }
                    follow.next = at;
                    self.publish(changed.then_some(&follow.image), at, whole);
                }
            }
        }
        if follow.next >= resp.high_watermark && !*self.caught_up.borrow() {
            self.caught_up.send_replace(true);
        }
        Ok(())
    }

    /// Publishes the image (when it changed), then the offset it holds whole (`end` after a
    /// snapshot, which keeps an open transaction open: its end follows it; `whole` after
    /// entries): whoever waits for an offset finds the image covering it.
    fn publish(&self, image: Option<&MetadataImage>, end: i64, whole: Option<i64>) {
        if let Some(image) = image {
            self.image.send_replace(Arc::new(image.clone()));
        }
        let reported = match (image, whole) {
            (_, Some(w)) => w,
            (Some(i), None) if !i.in_transaction() => end,
            _ => return,
        };
        self.applied.send_if_modified(|a| {
            let moved = reported > *a;
            *a = (*a).max(reported);
            moved
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::quorum::{Entry, log_id};
    use crate::metadata::MetadataRecord;
    use crate::metadata::records::{BeginTransactionRecord, EndTransactionRecord, TopicRecord};

    fn idle() -> MetadataObserver {
        MetadataObserver {
            node_id: 9,
            voters: BTreeMap::new(),
            image: watch::Sender::new(Arc::new(MetadataImage::default())),
            applied: watch::Sender::new(0),
            leader: watch::Sender::new((None, 0)),
            caught_up: watch::Sender::new(false),
        }
    }

    fn entries(from: u64, records: Vec<MetadataRecord>, hw: i64, leader: u64, epoch: u64) -> FetchResponse {
        FetchResponse {
            leader: Some(leader),
            epoch,
            high_watermark: hw,
            fetched: Fetched::Entries(
                records
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| Entry {
                        log_id: log_id(epoch, from + i as u64),
                        payload: EntryPayload::Normal(r),
                    })
                    .collect(),
            ),
        }
    }

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::Topic(TopicRecord {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4(),
        })
    }

    #[test]
    fn the_reported_offset_never_falls_inside_a_metadata_transaction() {
        let o = idle();
        let mut f = Follow {
            image: MetadataImage::default(),
            next: 0,
        };
        let begin = MetadataRecord::BeginTransaction(BeginTransactionRecord { name: None });
        o.apply(&mut f, entries(0, vec![topic("a"), begin, topic("b")], 4, 1, 1))
            .unwrap();
        // "a" is whole at 1; the transaction opened at 1 is not.
        assert_eq!((f.next, o.applied_offset()), (3, 1));
        assert!(o.image().borrow().topic("b").is_none());
        assert!(!*o.caught_up.borrow());
        o.apply(
            &mut f,
            entries(3, vec![MetadataRecord::EndTransaction(EndTransactionRecord)], 4, 1, 1),
        )
        .unwrap();
        assert_eq!((f.next, o.applied_offset()), (4, 4));
        assert!(o.image().borrow().topic("b").is_some());
        assert!(*o.caught_up.borrow());
        // A gap is refused and changes nothing.
        assert!(o.apply(&mut f, entries(9, vec![topic("c")], 10, 1, 1)).is_err());
        assert_eq!((f.next, o.applied_offset()), (4, 4));
    }

    #[test]
    fn an_older_epoch_does_not_name_the_leader() {
        let o = idle();
        let mut f = Follow {
            image: MetadataImage::default(),
            next: 0,
        };
        o.apply(&mut f, entries(0, vec![], 0, 2, 5)).unwrap();
        assert_eq!((o.leader(), o.epoch()), (Some(2), 5));
        // An old leader cut off from the quorum still names itself, in its older epoch.
        o.apply(&mut f, entries(0, vec![], 0, 1, 4)).unwrap();
        assert_eq!((o.leader(), o.epoch()), (Some(2), 5));
        o.apply(&mut f, entries(0, vec![], 0, 3, 6)).unwrap();
        assert_eq!((o.leader(), o.epoch()), (Some(3), 6));
    }
}
