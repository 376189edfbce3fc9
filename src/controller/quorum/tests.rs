//! The quorum's storage against openraft's own storage test suite (log, vote, purge,
//! truncation, state machine and snapshots), over the real metadata log partition.

use openraft::testing::{StoreBuilder, Suite};

use super::log_store::MetadataLogStore;
use super::state_machine::MetadataStateMachine;
use super::{Quorum, StorageError};
use crate::log::{LogConfig, LogManager};

/// Each store in its own data directory, kept (with its manager) as the suite's guard.
struct Builder;

impl StoreBuilder<Quorum, MetadataLogStore, MetadataStateMachine, (LogManager, tempfile::TempDir)> for Builder {
    async fn build(
        &self,
    ) -> Result<((LogManager, tempfile::TempDir), MetadataLogStore, MetadataStateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).expect("a data dir");
        let log = logs.open_metadata_log(LogConfig::default()).expect("the metadata log");
        let store = MetadataLogStore::open(log).expect("the log store");
        let sm = MetadataStateMachine::open(store.dir()).expect("the state machine");
        Ok(((logs, dir), store, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

#[tokio::test]
async fn the_log_vote_purge_and_snapshot_survive_a_restart() {
    use openraft::storage::{RaftLogStorage, RaftStateMachine};
    use openraft::{RaftLogReader, RaftSnapshotBuilder};

    use super::{Entry, Vote, log_id};
    use crate::metadata::MetadataRecord;
    use crate::metadata::records::NoOpRecord;

    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        let log = logs.open_metadata_log(LogConfig::default()).unwrap();
        let store = MetadataLogStore::open(log).unwrap();
        let sm = MetadataStateMachine::open(store.dir()).unwrap();
        (logs, store, sm)
    };
    let entries: Vec<Entry> = (0..6)
        .map(|i| Entry {
            log_id: log_id(if i < 3 { 1 } else { 2 }, i),
            payload: openraft::EntryPayload::Normal(MetadataRecord::NoOp(NoOpRecord)),
        })
        .collect();
    {
        let (logs, mut store, mut sm) = open();
        store.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
        openraft::storage::RaftLogStorageExt::blocking_append(&mut store, entries.clone())
            .await
            .unwrap();
        sm.apply(entries[..4].to_vec()).await.unwrap();
        sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
        store.purge(log_id(2, 3)).await.unwrap();
        logs.shutdown().unwrap();
    }
    let (_logs, mut store, mut sm) = open();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new_committed(2, 1)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 3)));
    assert_eq!(state.last_log_id, Some(log_id(2, 5)));
    let read = store.try_get_log_entries(0..).await.unwrap();
    assert_eq!(read, entries[4..].to_vec());
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(2, 3)));
    let snap = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(2, 3)));
}
