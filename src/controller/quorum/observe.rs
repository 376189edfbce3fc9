//! The metadata log for observers: a node with `process.roles=broker` alone does not vote,
//! it reads the committed metadata log from the voters, as Kafka's observers Fetch
//! `__cluster_metadata-0` from the quorum. This is the voters' side and the wire format of
//! brokk's FetchMetadata request ([`FETCH_METADATA`], on the CONTROLLER listener; Kafka's
//! observers use Fetch, which openraft's push replication does not serve).
//!
//! Any voter answers, from what it has applied (so only committed entries, which no
//! leader change can truncate), and names the leader it knows so the observer can turn to
//! it. An observer behind the voter's log start (the entries were replaced by a snapshot),
//! or starting from nothing, gets the voter's applied image as metadata records instead
//! (the snapshot), with the offset it ends at.
//!
//! Request: `offset: i64` (the next entry the observer needs), `max_wait_ms: i32` (how long
//! the voter may wait for that entry to be applied), tags. Answer: `leader: i32` (-1
//! unknown), `epoch: i64`, `high_watermark: i64` (one past the voter's last applied entry),
//! `kind: i8` (0 entries, 1 snapshot), then for entries `[batch: bytes]` (each as the
//! metadata log stores it), for a snapshot `end_offset: i64, records: bytes` (Kafka's
//! snapshot format), tags.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::Raft;
use tokio::sync::watch;

use super::codec::{decode_entry, encode_entry};
use super::log_store::MetadataLogStore;
use super::{Entry, NodeId, Quorum};
use crate::metadata::wire::{Reader, encoded};
use crate::metadata::{MetadataImage, MetadataRecord, log_reader, log_writer};

/// brokk's FetchMetadata API key (on the CONTROLLER listener only).
pub const FETCH_METADATA: i16 = 32_003;
/// The most entries one answer carries.
const MAX_ENTRIES: u64 = 2_000;
/// The longest wait a request may ask for.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The applied image and the offset one past the entry that last changed it.
pub type AppliedImage = (i64, Arc<MetadataImage>);

/// What a voter reads its answers from.
#[derive(Clone)]
pub struct ObserverSource {
    pub raft: Raft<Quorum>,
    pub log: MetadataLogStore,
    pub images: watch::Receiver<AppliedImage>,
}

/// A FetchMetadata request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRequest {
    pub offset: i64,
    pub max_wait_ms: i32,
}

impl FetchRequest {
    pub fn encode(&self) -> Vec<u8> {
        encoded(|w| {
            w.i64(self.offset).i32(self.max_wait_ms);
            w.no_tags();
        })
    }

    pub fn decode(body: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(body);
        let offset = r.i64().map_err(|e| e.to_string())?;
        let max_wait_ms = r.i32().map_err(|e| e.to_string())?;
        r.tagged().map_err(|e| e.to_string())?;
        r.finish("FetchMetadata").map_err(|e| e.to_string())?;
        if offset < 0 {
            return Err("FetchMetadata for a negative offset".into());
        }
        Ok(Self { offset, max_wait_ms })
    }
}

/// What the voter sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// Committed entries from the asked offset on (none: nothing new in time).
    Entries(Vec<Entry>),
    /// The voter's image, which holds every entry below `end_offset`.
    Snapshot {
        end_offset: i64,
        records: Vec<MetadataRecord>,
    },
}

/// A FetchMetadata answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchResponse {
    pub leader: Option<NodeId>,
    pub epoch: u64,
    pub high_watermark: i64,
    pub fetched: Fetched,
}

impl FetchResponse {
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let now = crate::log::now_ms();
        let batches = match &self.fetched {
            Fetched::Entries(entries) => entries
                .iter()
                .map(|e| encode_entry(e, self.leader, now))
                .collect::<Result<Vec<_>, _>>()?,
            Fetched::Snapshot { .. } => vec![],
        };
        Ok(encoded(|w| {
            w.i32(self.leader.map_or(-1, |l| i32::try_from(l).unwrap_or(-1)))
                .i64(self.epoch as i64)
                .i64(self.high_watermark);
            match &self.fetched {
                Fetched::Entries(_) => {
                    w.i8(0).array(&batches, |w, b| {
                        w.bytes(b);
                    });
                }
                Fetched::Snapshot { end_offset, records } => {
                    let epoch = i32::try_from(self.epoch).unwrap_or(i32::MAX);
                    w.i8(1)
                        .i64(*end_offset)
                        .bytes(&log_writer::snapshot(records, epoch, now));
                }
            }
            w.no_tags();
        }))
    }

    /// Decodes (and checks) a voter's answer: entries must be whole single-record batches,
    /// a snapshot Kafka's snapshot format.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        let e = |e: crate::metadata::wire::WireError| e.to_string();
        let mut r = Reader::new(body);
        let leader = u64::try_from(r.i32().map_err(e)?).ok();
        let epoch = u64::try_from(r.i64().map_err(e)?).map_err(|_| "a negative epoch".to_string())?;
        let high_watermark = r.i64().map_err(e)?;
        let fetched = match r.i8().map_err(e)? {
            0 => {
                let batches = r.array(1, |r: &mut Reader<'_>| r.bytes()).map_err(e)?;
                Fetched::Entries(batches.iter().map(|b| decode_entry(b)).collect::<Result<_, _>>()?)
            }
            1 => {
                let end_offset = r.i64().map_err(e)?;
                let bytes = r.bytes().map_err(e)?;
                let records = log_reader::read_bytes(Bytes::from(bytes))
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|l| l.record)
                    .collect();
                Fetched::Snapshot { end_offset, records }
            }
            other => return Err(format!("FetchMetadata answer of kind {other}")),
        };
        r.tagged().map_err(e)?;
        r.finish("FetchMetadata answer").map_err(e)?;
        Ok(Self {
            leader,
            epoch,
            high_watermark,
            fetched,
        })
    }
}

fn applied_end(m: &openraft::RaftMetrics<NodeId, super::ControllerNode>) -> i64 {
    m.last_applied.map_or(0, |l| l.index as i64 + 1)
}

/// The voter's answer to a FetchMetadata request's body.
pub async fn serve(source: &ObserverSource, body: &[u8]) -> Result<Vec<u8>, String> {
    let req = FetchRequest::decode(body)?;
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    if applied_end(&source.raft.metrics().borrow()) <= req.offset && !wait.is_zero() {
        // Long poll: nothing new yet (or this voter is behind the observer).
        let _ = source
            .raft
            .wait(Some(wait))
            .metrics(|m| applied_end(m) > req.offset, "an entry for an observer")
            .await;
    }
    let m = source.raft.metrics().borrow().clone();
    let end = applied_end(&m);
    let source = source.clone();
    // Disk reads and a snapshot's encoding are blocking work.
    tokio::task::spawn_blocking(move || {
        let fetched = fetch(&source, req.offset, end)?;
        FetchResponse {
            leader: m.current_leader,
            epoch: m.current_term,
            high_watermark: end,
            fetched,
        }
        .encode()
    })
    .await
    .map_err(|e| format!("the FetchMetadata task failed: {e}"))?
}

fn fetch(source: &ObserverSource, offset: i64, end: i64) -> Result<Fetched, String> {
    let snapshot = || -> Option<Fetched> {
        let (image_end, image) = source.images.borrow().clone();
        (image_end > offset).then(|| Fetched::Snapshot {
            end_offset: image_end,
            records: image.records(),
        })
    };
    if offset >= end {
        return Ok(Fetched::Entries(vec![]));
    }
    if (offset == 0 || offset < source.log.log_start_offset())
        && let Some(s) = snapshot()
    {
        return Ok(s);
    }
    let to = (offset as u64 + MAX_ENTRIES).min(end as u64);
    match source.log.read_entries(offset as u64, to) {
        // Only a whole run from the asked offset is an answer: the front may have been
        // replaced by a snapshot since the check above.
        Ok(entries) if entries.first().is_some_and(|e| e.log_id.index == offset as u64) => {
            Ok(Fetched::Entries(entries))
        }
        Ok(_) => snapshot().ok_or_else(|| format!("no entry at offset {offset} and no newer image")),
        Err(e) => snapshot().ok_or_else(|| format!("reading the metadata log at {offset}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::quorum::log_id;
    use crate::metadata::records::{FeatureLevelRecord, NoOpRecord};

    #[test]
    fn requests_and_answers_round_trip() {
        let req = FetchRequest {
            offset: 42,
            max_wait_ms: 500,
        };
        assert_eq!(FetchRequest::decode(&req.encode()).unwrap(), req);
        assert!(
            FetchRequest::decode(
                &FetchRequest {
                    offset: -1,
                    max_wait_ms: 0
                }
                .encode()
            )
            .is_err()
        );
        let entries = vec![
            Entry {
                log_id: log_id(3, 7),
                payload: openraft::EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(3, 8),
                payload: openraft::EntryPayload::Normal(MetadataRecord::NoOp(NoOpRecord)),
            },
        ];
        let resp = FetchResponse {
            leader: Some(2),
            epoch: 3,
            high_watermark: 9,
            fetched: Fetched::Entries(entries),
        };
        assert_eq!(FetchResponse::decode(&resp.encode().unwrap()).unwrap(), resp);
        let snap = FetchResponse {
            leader: None,
            epoch: 4,
            high_watermark: 12,
            fetched: Fetched::Snapshot {
                end_offset: 11,
                records: vec![MetadataRecord::FeatureLevel(FeatureLevelRecord {
                    name: "metadata.version".into(),
                    feature_level: 25,
                })],
            },
        };
        assert_eq!(FetchResponse::decode(&snap.encode().unwrap()).unwrap(), snap);
        // Garbage is refused, not trusted.
        assert!(FetchResponse::decode(&[0, 0, 0, 1, 9]).is_err());
    }
}
