//! The quorum's state machine: the metadata records of committed entries applied, in log
//! order, to a [`MetadataImage`]; snapshots in Kafka's format.
//!
//! A snapshot is `<end offset>-<epoch>.checkpoint` (end offset = last entry's index + 1,
//! epoch = its term) in the metadata log directory, written atomically: Kafka's snapshot
//! of the image's records, with the last applied log id and the membership in a tagged
//! field of the header ([`SNAPSHOT_TAG`]). Only the newest snapshot is kept. At open the
//! newest one is loaded; the entries after it are applied again by openraft.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::SnapshotHeaderRecord;
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::RecordBatchDecoder;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use tokio::sync::watch;

use super::codec::{decode_membership, encode_membership, get_log_id, put_log_id};
use super::observe::AppliedImage;
use super::{ControllerNode, Entry, LogId, NodeId, Quorum, StorageError, StoredMembership};
use crate::log::LogError;
use crate::metadata::log_writer::{ControlType, snapshot_file_name, snapshot_tagged};
use crate::metadata::wire::{Reader, WireError, encoded};
use crate::metadata::{MetadataImage, MetadataRecord, log_reader};

/// The snapshot header's tagged field holding the last applied log id and the membership.
pub const SNAPSHOT_TAG: i32 = 10_000;

type Meta = SnapshotMeta<NodeId, ControllerNode>;

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(openraft::AnyError::error(e)).into()
}

/// The tag's bytes: last applied log id, membership log id, membership.
fn encode_meta(last: Option<LogId>, membership: &StoredMembership) -> Vec<u8> {
    encoded(|w| {
        put_log_id(w, last);
        put_log_id(w, *membership.log_id());
        w.bytes(&encode_membership(membership.membership()));
        w.no_tags();
    })
}

fn decode_meta(b: &[u8]) -> Result<(Option<LogId>, StoredMembership), WireError> {
    let mut r = Reader::new(b);
    let last = get_log_id(&mut r)?;
    let m_id = get_log_id(&mut r)?;
    let m = decode_membership(&r.bytes()?)?;
    r.tagged()?;
    r.finish("snapshot meta")?;
    Ok((last, StoredMembership::new(m_id, m)))
}

/// The state a snapshot's bytes hold: (last applied, membership, image).
fn load(bytes: &[u8]) -> Result<(Option<LogId>, StoredMembership, MetadataImage), String> {
    let mut first = Bytes::copy_from_slice(bytes);
    let set = RecordBatchDecoder::decode(&mut first).map_err(|e| e.to_string())?;
    let header = set
        .records
        .first()
        .filter(|r| r.control)
        .filter(|r| {
            r.key
                .as_ref()
                .is_some_and(|k| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == ControlType::SnapshotHeader as i16)
        })
        .ok_or("a snapshot without its header")?;
    let mut value = header.value.clone().unwrap_or_default();
    let header = SnapshotHeaderRecord::decode(&mut value, 0).map_err(|e| e.to_string())?;
    let tag = header
        .unknown_tagged_fields
        .get(&SNAPSHOT_TAG)
        .ok_or("a snapshot without the quorum's state")?;
    let (last, membership) = decode_meta(tag).map_err(|e| e.to_string())?;
    let records = log_reader::read_bytes(Bytes::copy_from_slice(bytes)).map_err(|e| e.to_string())?;
    let mut image = MetadataImage::default();
    for r in records {
        image.apply(r.record).map_err(|e| e.to_string())?;
    }
    Ok((last, membership, image))
}

fn snapshot_id(last: Option<LogId>) -> String {
    last.map_or_else(
        || "empty".to_string(),
        |l| format!("{}-{}", l.index + 1, l.leader_id.term),
    )
}

/// The newest snapshot file in `dir`: (path, end offset).
fn newest(dir: &Path) -> Result<Option<PathBuf>, LogError> {
    let mut best: Option<(i64, i64, PathBuf)> = None;
    for e in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let e = e.map_err(|e| LogError::io(dir, e))?;
        let Some((off, epoch)) = snapshot_position(&e.file_name().to_string_lossy()) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| (off, epoch) > (b.0, b.1)) {
            best = Some((off, epoch, e.path()));
        }
    }
    Ok(best.map(|b| b.2))
}

/// What the builder and the state machine share.
struct Applied {
    last: Option<LogId>,
    membership: StoredMembership,
    image: MetadataImage,
}

/// The metadata image as openraft's state machine.
pub struct MetadataStateMachine {
    dir: PathBuf,
    applied: Applied,
    /// Every image a committed entry produced, for the broker's handlers.
    published: watch::Sender<Arc<MetadataImage>>,
    /// The same images with the offset one past the entry that produced each, for the
    /// observers' snapshots (`observe.rs`).
    applied_images: watch::Sender<AppliedImage>,
    /// One past the last entry applied outside a metadata transaction: the offset whose
    /// changes the image holds whole (what a broker reports in its heartbeats).
    whole: watch::Sender<i64>,
}

impl MetadataStateMachine {
    /// The state machine of the metadata log directory `dir`, from its newest snapshot.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let applied = match newest(dir)? {
            Some(path) => {
                let bytes = std::fs::read(&path).map_err(|e| LogError::io(&path, e))?;
                let (last, membership, image) =
                    load(&bytes).map_err(|e| LogError::Invalid(format!("{}: {e}", path.display())))?;
                Applied {
                    last,
                    membership,
                    image,
                }
            }
            None => Applied {
                last: None,
                membership: StoredMembership::default(),
                image: MetadataImage::default(),
            },
        };
        let image = Arc::new(applied.image.clone());
        let published = watch::Sender::new(image.clone());
        let applied_images = watch::Sender::new((end_of(applied.last), image));
        // Inside a transaction at the snapshot, the offset it began at is not known: none
        // is reported until it ends.
        let whole = watch::Sender::new(if applied.image.in_transaction() {
            0
        } else {
            end_of(applied.last)
        });
        Ok(Self {
            dir: dir.to_path_buf(),
            applied,
            published,
            applied_images,
            whole,
        })
    }

    /// Follows the image as committed entries change it.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.published.subscribe()
    }

    /// Follows the offset the image holds whole (see the field).
    pub fn subscribe_whole(&self) -> watch::Receiver<i64> {
        self.whole.subscribe()
    }

    fn advance_whole(&self) {
        if !self.applied.image.in_transaction() {
            let end = end_of(self.applied.last);
            self.whole.send_if_modified(|w| std::mem::replace(w, end) != end);
        }
    }

    /// Follows the image with the offset it is at (one past the entry that last changed it).
    pub fn subscribe_applied(&self) -> watch::Receiver<AppliedImage> {
        self.applied_images.subscribe()
    }

    pub fn image(&self) -> &MetadataImage {
        &self.applied.image
    }

    fn publish(&self, upto: Option<LogId>) {
        let image = Arc::new(self.applied.image.clone());
        self.published.send_replace(image.clone());
        self.applied_images.send_replace((end_of(upto), image));
    }
}

/// One past `last`'s index (0 for none).
fn end_of(last: Option<LogId>) -> i64 {
    last.map_or(0, |l| l.index as i64 + 1)
}

/// Builds a snapshot of the state as it was when asked.
pub struct SnapshotBuilder {
    dir: PathBuf,
    last: Option<LogId>,
    membership: StoredMembership,
    records: Vec<MetadataRecord>,
}

/// A snapshot file's (end offset, epoch).
fn snapshot_position(name: &str) -> Option<(i64, i64)> {
    let (off, epoch) = name.strip_suffix(".checkpoint")?.split_once('-')?;
    Some((off.parse().ok()?, epoch.parse().ok()?))
}

/// Writes `bytes` as the snapshot ending at `last` and removes the older ones. A build can
/// finish after a newer snapshot was installed: then nothing is written.
fn persist(dir: &Path, last: Option<LogId>, bytes: &[u8]) -> Result<(), LogError> {
    let Some(l) = last else { return Ok(()) };
    let ours = (l.index as i64 + 1, l.leader_id.term as i64);
    let existing: Vec<(PathBuf, (i64, i64))> = std::fs::read_dir(dir)
        .map_err(|e| LogError::io(dir, e))?
        .flatten()
        .filter_map(|e| snapshot_position(&e.file_name().to_string_lossy()).map(|p| (e.path(), p)))
        .collect();
    if existing.iter().any(|(_, p)| *p > ours) {
        return Ok(());
    }
    let name = snapshot_file_name(ours.0, ours.1 as i32);
    crate::log::checkpoint::write_atomic(&dir.join(&name), bytes)?;
    for (path, p) in existing {
        if p < ours {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

impl RaftSnapshotBuilder<Quorum> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Quorum>, StorageError> {
        let mut tags = BTreeMap::new();
        tags.insert(SNAPSHOT_TAG, Bytes::from(encode_meta(self.last, &self.membership)));
        let epoch = self.last.map_or(0, |l| l.leader_id.term as i32);
        let bytes = snapshot_tagged(&self.records, epoch, crate::log::now_ms(), tags);
        let (dir, last, data) = (self.dir.clone(), self.last, bytes.clone());
        tokio::task::spawn_blocking(move || persist(&dir, last, &data))
            .await
            .map_err(sm_err)?
            .map_err(|e| sm_err(&e))?;
        Ok(Snapshot {
            meta: Meta {
                last_log_id: self.last,
                last_membership: self.membership.clone(),
                snapshot_id: snapshot_id(self.last),
            },
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<Quorum> for MetadataStateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.applied.last, self.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<i64>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = vec![];
        let mut changed = false;
        for e in entries {
            match e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(record) => {
                    // A record the image refuses is the controller's bug, as in Kafka
                    // (a fault in the metadata loader); the quorum stops here.
                    self.applied
                        .image
                        .apply(record)
                        .map_err(|err| StorageIOError::apply(e.log_id, openraft::AnyError::error(err)))?;
                    changed = true;
                }
                EntryPayload::Membership(m) => {
                    self.applied.membership = StoredMembership::new(Some(e.log_id), m);
                }
            }
            self.applied.last = Some(e.log_id);
            out.push(e.log_id.index as i64);
        }
        self.advance_whole();
        if changed {
            self.publish(self.applied.last);
        } else if !out.is_empty() {
            // Blank and membership entries move the offset only.
            let image = self.applied_images.borrow().1.clone();
            self.applied_images.send_replace((end_of(self.applied.last), image));
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            last: self.applied.last,
            membership: self.applied.membership.clone(),
            records: self.applied.image.records(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let (last, membership, image) = load(&bytes).map_err(sm_err)?;
        if last != meta.last_log_id {
            return Err(sm_err(format!(
                "a snapshot of {last:?} installed as {:?}",
                meta.last_log_id
            )));
        }
        let (dir, data) = (self.dir.clone(), bytes);
        tokio::task::spawn_blocking(move || persist(&dir, last, &data))
            .await
            .map_err(sm_err)?
            .map_err(|e| sm_err(&e))?;
        self.applied = Applied {
            last,
            membership,
            image,
        };
        self.publish(last);
        self.advance_whole();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<Quorum>>, StorageError> {
        let Some(path) = newest(&self.dir).map_err(|e| sm_err(&e))? else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path).map_err(sm_err)?;
        let (last, membership, _) = load(&bytes).map_err(sm_err)?;
        Ok(Some(Snapshot {
            meta: Meta {
                last_log_id: last,
                last_membership: membership,
                snapshot_id: snapshot_id(last),
            },
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::quorum::log_id;

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        persist(dir.path(), Some(log_id(3, 500)), b"newer").unwrap();
        // A build of index 100 finishing after the install of index 500.
        persist(dir.path(), Some(log_id(2, 100)), b"older").unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec![snapshot_file_name(501, 3)]);
        persist(dir.path(), Some(log_id(4, 600)), b"newest").unwrap();
        assert_eq!(
            newest(dir.path()).unwrap().unwrap(),
            dir.path().join(snapshot_file_name(601, 4))
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
