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
use std::sync::atomic::{AtomicU64, Ordering};
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
/// One exchange's limit (the long poll included).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a voter failed, before the next is asked.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// A broker-only node's view of the metadata quorum.
pub struct MetadataObserver {
    pub node_id: NodeId,
    voters: BTreeMap<NodeId, ControllerNode>,
    image: watch::Sender<Arc<MetadataImage>>,
    /// One past the last entry applied.
    applied: watch::Sender<i64>,
    /// The leader as the last answer named it.
    leader: watch::Sender<Option<NodeId>>,
    epoch: AtomicU64,
}

impl std::fmt::Debug for MetadataObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataObserver")
            .field("node_id", &self.node_id)
            .field("applied", &self.applied)
            .finish()
    }
}

impl MetadataObserver {
    /// Starts following the quorum of `voters` until `stop`.
    pub fn start(node_id: NodeId, voters: BTreeMap<NodeId, ControllerNode>, stop: watch::Receiver<bool>) -> Arc<Self> {
        let me = Arc::new(Self {
            node_id,
            voters,
            image: watch::Sender::new(Arc::new(MetadataImage::default())),
            applied: watch::Sender::new(0),
            leader: watch::Sender::new(None),
            epoch: AtomicU64::new(0),
        });
        tokio::spawn(me.clone().run(stop));
        me
    }

    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }

    /// One past the last metadata offset applied to the image.
    pub fn applied_offset(&self) -> i64 {
        *self.applied.borrow()
    }

    pub fn leader(&self) -> Option<NodeId> {
        *self.leader.borrow()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn voters(&self) -> &BTreeMap<NodeId, ControllerNode> {
        &self.voters
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let ids: Vec<NodeId> = self.voters.keys().copied().collect();
        let mut turn = 0usize;
        let mut conn: Option<(NodeId, TcpStream)> = None;
        let mut image = (*self.image.borrow().clone()).clone();
        loop {
            let target = match self.leader() {
                Some(l) if self.voters.contains_key(&l) => l,
                _ => {
                    turn = (turn + 1) % ids.len().max(1);
                    match ids.get(turn) {
                        Some(id) => *id,
                        None => return,
                    }
                }
            };
            let stream = match conn.take() {
                Some((id, s)) if id == target => Some(s),
                _ => None,
            };
            let req = FetchRequest {
                offset: self.applied_offset(),
                max_wait_ms: LONG_POLL_MS,
            };
            let answer = tokio::select! {
                a = tokio::time::timeout(EXCHANGE_TIMEOUT, self.exchange(target, stream, &req)) => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            let failed = match answer {
                Ok(Ok((s, resp))) => {
                    conn = Some((target, s));
                    self.apply(&mut image, req.offset, resp).err()
                }
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("voter {target} did not answer in time")),
            };
            if let Some(e) = failed {
                tracing::debug!(voter = target, error = %e, "reading the metadata log failed");
                conn = None;
                // The next try goes to another voter.
                self.leader.send_replace(None);
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_BACKOFF) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
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

    /// Applies one answer to `image` (the observer's working copy) and publishes it.
    fn apply(&self, image: &mut MetadataImage, asked: i64, resp: FetchResponse) -> Result<(), String> {
        self.epoch.fetch_max(resp.epoch, Ordering::AcqRel);
        if *self.leader.borrow() != resp.leader {
            self.leader.send_replace(resp.leader);
        }
        match resp.fetched {
            Fetched::Snapshot { end_offset, records } => {
                if end_offset <= asked {
                    return Err(format!("a snapshot ending at {end_offset} for offset {asked}"));
                }
                let mut next = MetadataImage::default();
                for r in records {
                    next.apply(r).map_err(|e| e.to_string())?;
                }
                *image = next;
                self.publish(Some(image), end_offset);
            }
            Fetched::Entries(entries) => {
                if entries.is_empty() {
                    return Ok(());
                }
                // Applied to a copy: a run that does not apply leaves the image as it was.
                let mut next = image.clone();
                let mut at = asked;
                let mut changed = false;
                for e in entries {
                    if e.log_id.index as i64 != at {
                        return Err(format!("entry {} where {at} was expected", e.log_id.index));
                    }
                    if let EntryPayload::Normal(r) = e.payload {
                        next.apply(r).map_err(|e| format!("offset {at}: {e}"))?;
                        changed = true;
                    }
                    at += 1;
                }
                if changed {
                    *image = next;
                }
                self.publish(changed.then_some(&*image), at);
            }
        }
        Ok(())
    }

    /// Publishes the image (when it changed), then the offset it is at: whoever waits for
    /// an offset finds the image covering it.
    fn publish(&self, image: Option<&MetadataImage>, end: i64) {
        if let Some(image) = image {
            self.image.send_replace(Arc::new(image.clone()));
        }
        self.applied.send_replace(end);
    }
}
