//! LogManager: every topic's partitions under the `log.dirs`.
//!
//! Owns: the directory layout (see `log/mod.rs`), the `log.dirs` locks and placement of
//! partitions among them, the clean-shutdown markers and recovery-point checkpoints, topic
//! creation and deletion on disk, and the background retention and flush passes. Must not
//! know wire types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use uuid::Uuid;

#[path = "broker_defaults.rs"]
pub mod broker_defaults;
#[path = "create_partitions.rs"]
mod create_partitions;
pub use create_partitions::MAX_NEW_PARTITIONS;
#[path = "quorum_state.rs"]
pub mod quorum_state;
#[path = "topic_config.rs"]
mod topic_config;

use super::checkpoint::{self, parse_properties, render_properties};
use super::log_dir::{DirSet, LogDir};
use super::partition::group_commit::{self, FlushWait};
use super::partition::{AppendInfo, Origin, Partition, Role};
use super::partition_set::PartitionSet;
use super::recovery::{self, RecoveryReport};
use super::{LogConfig, LogError};

const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const RECOVERY_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Kafka's file for log start offsets that DeleteRecords moved inside a segment.
const LOG_START_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
const TOPICS_DIR: &str = ".topics";
const META_FILE: &str = "meta.properties";
const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// The log dirs that were offline at the last start (one path per line), in the metadata
/// dir: their partitions showed Metadata an epoch no start had reached, so the start that
/// brings them back gives them a higher one (brokk's, not Kafka's: its controller
/// remembers partition epochs).
const OFFLINE_DIRS_FILE: &str = "offline-log-dirs";
/// Upper bound on one topic's partitions: each costs a directory, three files and three
/// mappings, so a typo like 2^31 must be an error, not an attempt.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;
/// Partition directories being deleted: `.delete-<topic id>-<partition>`.
const DELETE_PREFIX: &str = ".delete-";

/// Topic-level failures of create/delete; mapped to Kafka codes in `api::errors`.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidConfig(String),
    /// Kafka's message for UNKNOWN_TOPIC_OR_PARTITION (DeleteTopics, CreatePartitions).
    #[error("This server does not host this topic-partition.")]
    Unknown(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// One topic: id, partitions and its config.
#[derive(Debug)]
pub struct TopicLog {
    pub name: Arc<str>,
    pub id: Uuid,
    settings: std::sync::RwLock<TopicSettings>,
    pub partitions: PartitionSet,
}

/// A topic's dynamic config (its overrides) and the effective config they give.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    pub overrides: BTreeMap<String, String>,
    pub config: Arc<LogConfig>,
}

impl TopicLog {
    fn new(name: Arc<str>, id: Uuid, settings: TopicSettings, partitions: PartitionSet) -> Self {
        Self {
            name,
            id,
            settings: std::sync::RwLock::new(settings),
            partitions,
        }
    }
    /// The topic-level overrides (Kafka's DYNAMIC_TOPIC_CONFIG entries).
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.settings().overrides
    }
    /// The effective config: broker defaults with the overrides applied.
    pub fn config(&self) -> Arc<LogConfig> {
        self.settings().config
    }
    pub fn settings(&self) -> TopicSettings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Installs new settings on the topic and every partition (takes effect at their next
    /// append, roll, read or retention pass).
    fn set_settings(&self, settings: TopicSettings) {
        for p in &self.partitions {
            p.set_config(settings.config.clone());
        }
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }
}

/// What start-up found (logged by the broker).
#[derive(Debug, Default)]
pub struct StartupReport {
    pub clean_shutdown: bool,
    pub topics: usize,
    pub partitions: usize,
    pub recovery: RecoveryReport,
}

/// Validates a topic name as Kafka 4.1's controller does, with its messages.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidName(
            "Topic name is invalid: the empty string is not allowed".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidName(format!(
            "Topic name is invalid: '{name}' is not allowed"
        )));
    }
    if name.len() > 249 {
        return Err(TopicError::InvalidName(format!(
            "Topic name is invalid: the length of '{name}' is longer than the max allowed length 249"
        )));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return Err(TopicError::InvalidName(format!(
            "Topic name is invalid: '{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Kafka's textual Uuid form: URL-safe base64 without padding.
pub fn uuid_to_kafka_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A random topic/cluster id, avoiding ids Kafka reserves or that render with a leading '-'.
pub fn new_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && !uuid_to_kafka_string(id).starts_with('-') {
            return id;
        }
    }
}

/// All topics under one data directory.
#[derive(Debug)]
pub struct LogManager {
    /// The metadata directory: the first of `log.dirs`.
    dir: PathBuf,
    log_dirs: Vec<Arc<LogDir>>,
    dir_set: Arc<DirSet>,
    /// The `log.*` defaults of `server.properties` (and brokk's built-in ones).
    static_defaults: LogConfig,
    /// Dynamic broker configs (see `broker_defaults.rs`).
    dynamic: std::sync::RwLock<broker_defaults::DynamicDefaults>,
    /// The effective defaults: static with the dynamic levels applied.
    defaults: std::sync::RwLock<Arc<LogConfig>>,
    topics: DashMap<Arc<str>, Arc<TopicLog>>,
    ids: DashMap<Uuid, Arc<str>>,
    /// Serialises topic creation and deletion.
    admin: Mutex<()>,
    /// Serialises writers of the log-start-offset checkpoint.
    log_start_lock: Mutex<()>,
    /// The single-voter controller's epoch and metadata offset.
    quorum: quorum_state::QuorumState,
    /// The `log.dirs` locks, held as long as the manager lives.
    _locks: Vec<std::fs::File>,
    pub cluster_id: String,
}

/// The topic file's list of the partitions hosted here, for a topic the metadata image
/// assigns (a cluster's): its presence marks the topic as the image's.
const HOSTED_KEY: &str = "hosted.partitions";

/// What a topic file says.
struct TopicFile {
    name: String,
    id: Uuid,
    count: i32,
    /// None: every partition.
    hosted: Option<Vec<i32>>,
    overrides: BTreeMap<String, String>,
}

impl TopicFile {
    fn hosts(&self, p: i32) -> bool {
        self.hosted.as_ref().is_none_or(|h| h.contains(&p))
    }
}

/// The hosted partitions a topic file lists: those of a topic the metadata image assigns,
/// None for a single broker's own topic (every partition hosted).
pub(crate) fn hosted_list(set: &PartitionSet) -> Option<Vec<i32>> {
    set.is_managed().then(|| set.indexes())
}

/// `.topics/<topic id>.properties` (named by id: topic names may be 249 characters).
fn topic_file(dir: &Path, id: Uuid) -> PathBuf {
    dir.join(TOPICS_DIR).join(format!("{}.properties", id.simple()))
}

fn partition_dir(dir: &Path, name: &str, p: i32) -> PathBuf {
    dir.join(format!("{name}-{p}"))
}

/// `pdir` is a partition directory of topic `id`: its `partition.metadata` names that topic
/// (or is missing, as after a creation cut short; the open writes it). One naming another
/// topic is a stray of a deleted topic of the same name, as Kafka's stray logs: never
/// served. An I/O error (other than "not found") is the caller's to handle.
fn holds_topic(pdir: &Path, id: Uuid) -> std::io::Result<bool> {
    match std::fs::metadata(pdir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match std::fs::read_to_string(pdir.join(PARTITION_METADATA_FILE)) {
        Ok(text) => Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("topic_id:"))
            .is_none_or(|v| v.trim() == uuid_to_kafka_string(id))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

impl LogManager {
    /// Opens (creating if needed) one data directory; see [`Self::open_dirs`].
    pub fn open(dir: &Path, defaults: LogConfig, node_id: i32) -> Result<(Self, StartupReport), LogError> {
        Self::open_dirs(&[dir.to_path_buf()], defaults, node_id)
    }

    /// Opens (creating if needed) the `log.dirs`: takes each one's lock, reads metadata
    /// (topic metadata and quorum state live in the first, the metadata directory), removes
    /// the clean-shutdown markers and opens every partition in the directory that holds it
    /// (recovering unless that directory's marker was present). A partition found in no
    /// directory is created in the one with the fewest partitions.
    ///
    /// As Kafka: an I/O error opening a directory other than the metadata one, or a
    /// partition in it, starts that directory offline (its partitions answer
    /// KAFKA_STORAGE_ERROR), and while any directory is offline a partition found in no
    /// online one is offline too, never created again empty. Once one directory is
    /// formatted (has `meta.properties`), a directory without one is refused, as Kafka
    /// refuses an unformatted log dir: it may be a disk that is not mounted.
    pub fn open_dirs(dirs: &[PathBuf], defaults: LogConfig, node_id: i32) -> Result<(Self, StartupReport), LogError> {
        Self::open_dirs_in(dirs, defaults, node_id, None)
    }

    /// [`Self::open_dirs`] for a node of a cluster whose id is `cluster`: empty directories
    /// are formatted with it. A directory already formatted keeps its own id, as Kafka's
    /// `meta.properties` does (a warning says when it differs).
    pub fn open_dirs_in(
        dirs: &[PathBuf],
        defaults: LogConfig,
        node_id: i32,
        cluster: Option<String>,
    ) -> Result<(Self, StartupReport), LogError> {
        let dir = dirs
            .first()
            .ok_or_else(|| LogError::Invalid("log.dirs names no directory".into()))?;
        let set = Arc::new(DirSet::default());
        let mut log_dirs = Vec::with_capacity(dirs.len());
        let mut locks = Vec::with_capacity(dirs.len());
        let mut cluster_id: Option<String> = None;
        let mut clean_dirs = std::collections::HashSet::new();
        // Each directory's checkpoints speak only for the partitions in that directory.
        let mut rps = std::collections::HashMap::new();
        let mut log_starts = std::collections::HashMap::new();
        let formatted = dirs.iter().any(|d| d.join(META_FILE).exists());
        for (i, d) in dirs.iter().enumerate() {
            let opened = Self::check_formatted(d, formatted)
                .and_then(|()| LogDir::open(d, i == 0, set.clone()))
                .and_then(|(ld, lock)| {
                    // Room for this start's own writes, even on a full disk (see `reserve`).
                    super::reserve::release(d)?;
                    let id = Self::load_meta(d, node_id, cluster_id.as_deref(), cluster.as_deref())?;
                    Ok((ld, lock, id))
                });
            let (ld, lock, id) = match opened {
                Ok(o) => {
                    o.0.opened();
                    o
                }
                Err(e @ LogError::Io { .. }) if i > 0 => {
                    log_dirs.push(Arc::new(LogDir::failed_at_start(d, &e, set.clone())));
                    continue;
                }
                Err(e) => return Err(e),
            };
            locks.push(lock);
            cluster_id = Some(id);
            if d.join(CLEAN_SHUTDOWN_FILE).exists() {
                clean_dirs.insert(d.clone());
            }
            rps.insert(
                d.clone(),
                checkpoint::read_offset_checkpoint(&d.join(RECOVERY_CHECKPOINT_FILE)),
            );
            log_starts.insert(
                d.clone(),
                checkpoint::read_offset_checkpoint(&d.join(LOG_START_CHECKPOINT_FILE)),
            );
            log_dirs.push(Arc::new(ld));
        }
        std::fs::create_dir_all(dir.join(TOPICS_DIR)).map_err(|e| LogError::io(dir, e))?;
        let mut report = StartupReport {
            clean_shutdown: clean_dirs.len() == dirs.len(),
            ..Default::default()
        };
        let dynamic = broker_defaults::DynamicDefaults::load(dir)?;
        let effective = dynamic.apply(&defaults).map_err(LogError::Invalid)?;
        let mgr = Self {
            dir: dir.to_path_buf(),
            log_dirs,
            dir_set: set,
            defaults: std::sync::RwLock::new(Arc::new(effective)),
            dynamic: std::sync::RwLock::new(dynamic),
            static_defaults: defaults,
            topics: DashMap::new(),
            ids: DashMap::new(),
            admin: Mutex::new(()),
            log_start_lock: Mutex::new(()),
            quorum: quorum_state::QuorumState::start(dir)?,
            _locks: locks,
            cluster_id: cluster_id.unwrap_or_default(),
        };
        let mut known_dirs = std::collections::HashSet::new();
        let mut placed = std::collections::HashMap::new();
        // A loaded partition whose leader-epoch checkpoint is gone leads at twice this
        // start's number: no earlier start (at most 2 epochs each) can have gone as far.
        let epoch_if_lost = mgr
            .quorum
            .leader_epoch
            .load(std::sync::atomic::Ordering::Acquire)
            .saturating_mul(2);
        let was_offline: std::collections::HashSet<PathBuf> = std::fs::read_to_string(dir.join(OFFLINE_DIRS_FILE))
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .collect();
        let tdir = dir.join(TOPICS_DIR);
        let mut topic_files = vec![];
        for entry in std::fs::read_dir(&tdir).map_err(|e| LogError::io(&tdir, e))? {
            let path = entry.map_err(|e| LogError::io(&tdir, e))?.path();
            if path.extension().is_none_or(|e| e != "properties") {
                if path.extension().is_some_and(|e| e == "tmp") {
                    std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
                }
                continue;
            }
            topic_files.push(path);
        }
        // Existing partitions first, so placement of missing ones counts every directory's.
        // A partition in two directories is refused, as Kafka's "Duplicate log directories
        // found": which copy is right is for the operator to say, and neither is deleted.
        for path in &topic_files {
            let file = Self::read_topic_file(path)?;
            let (name, id) = (&file.name, file.id);
            for p in (0..file.count).filter(|p| file.hosts(*p)) {
                let holders = mgr.holders(name, p, id)?;
                let mut holders = holders.iter();
                if let Some(ld) = holders.next() {
                    if let Some(other) = holders.next() {
                        return Err(LogError::Invalid(format!(
                            "duplicate log directories for {name}-{p}: {} and {}",
                            partition_dir(ld.path(), name, p).display(),
                            partition_dir(other.path(), name, p).display()
                        )));
                    }
                    *placed.entry(ld.path().to_path_buf()).or_insert(0usize) += 1;
                }
            }
        }
        for path in topic_files {
            let file = Self::read_topic_file(&path)?;
            let (id, count, managed) = (file.id, file.count, file.hosted.is_some());
            let config = Arc::new(
                mgr.defaults()
                    .with_overrides(&file.overrides)
                    .map_err(LogError::Invalid)?,
            );
            let name: Arc<str> = Arc::from(file.name.as_str());
            let mut partitions = Vec::new();
            for p in (0..count).filter(|p| file.hosts(*p)) {
                let found = mgr.holders(&name, p, id)?.into_iter().next();
                let (ld, fresh) = match found {
                    Some(ld) => (ld, false),
                    // It may be in the failed directory: offline with it, not made anew.
                    None if mgr.log_dirs.iter().any(|d| d.is_offline()) => {
                        let ld = mgr.offline_holder(&name, p);
                        let pdir = partition_dir(ld.path(), &name, p);
                        let offline = Partition::offline(name.clone(), p, pdir, config.clone(), epoch_if_lost, ld);
                        partitions.push(Arc::new(offline));
                        continue;
                    }
                    None => {
                        let ld = mgr.least_loaded_dir(&placed)?;
                        *placed.entry(ld.path().to_path_buf()).or_insert(0) += 1;
                        (ld, true)
                    }
                };
                let pdir = partition_dir(ld.path(), &name, p);
                if fresh {
                    // Made anew: a stray of a deleted namesake there goes first.
                    Self::create_partition_dir(&pdir, id)?;
                }
                let key = (name.to_string(), p);
                let rp = rps.get(ld.path()).and_then(|m| m.get(&key)).copied();
                let log_start = log_starts.get(ld.path()).and_then(|m| m.get(&key)).copied();
                let clean = clean_dirs.contains(ld.path());
                let opened = std::fs::create_dir_all(&pdir)
                    .map_err(|e| LogError::io(&pdir, e))
                    .and_then(|()| Self::ensure_partition_metadata(&pdir, id))
                    .and_then(|()| recovery::open_segments(&pdir, &config, clean, rp))
                    .and_then(|(segs, r)| {
                        let partition = Partition::from_segments(
                            name.clone(),
                            p,
                            pdir.clone(),
                            config.clone(),
                            segs,
                            rp.unwrap_or(0),
                            if managed {
                                // A cluster's partition leads at the epoch its image gives
                                // (`Partition::become_leader_at`), never one of its own.
                                Role::Replica
                            } else {
                                Role::Leader {
                                    epoch_if_lost,
                                    epoch_floor: if was_offline.contains(ld.path()) {
                                        epoch_if_lost
                                    } else {
                                        0
                                    },
                                }
                            },
                            ld.clone(),
                        )?;
                        if managed {
                            partition.set_replicated(true);
                            partition.forget_high_watermark();
                        }
                        Ok((partition, r))
                    });
                let partition = match opened {
                    Ok((partition, r)) => {
                        report.recovery.segments_scanned += r.segments_scanned;
                        report.recovery.torn_bytes += r.torn_bytes;
                        report.recovery.segments_dropped += r.segments_dropped;
                        if let Some(start) = log_start {
                            partition.restore_log_start(start);
                        }
                        partition
                    }
                    // Kafka's log loading: an I/O error takes the directory offline (the
                    // metadata directory's stops the start).
                    Err(e @ LogError::Io { .. }) if !ld.is_metadata() => {
                        ld.fail(&e);
                        Partition::offline(name.clone(), p, pdir.clone(), config.clone(), epoch_if_lost, ld)
                    }
                    Err(e) => return Err(e),
                };
                partitions.push(Arc::new(partition));
                known_dirs.insert(pdir);
            }
            report.topics += 1;
            report.partitions += partitions.len();
            mgr.ids.insert(id, name.clone());
            mgr.topics.insert(
                name.clone(),
                Arc::new(TopicLog::new(
                    name,
                    id,
                    TopicSettings {
                        overrides: file.overrides,
                        config,
                    },
                    match file.hosted {
                        Some(_) => PartitionSet::hosted(count as usize, partitions),
                        None => PartitionSet::all(partitions),
                    },
                )),
            );
        }
        mgr.record_offline_dirs(&was_offline)?;
        for ld in mgr.log_dirs.iter().filter(|d| !d.is_offline()) {
            mgr.remove_orphan_dirs(ld.path(), &known_dirs)?;
            if clean_dirs.contains(ld.path()) {
                let marker = ld.path().join(CLEAN_SHUTDOWN_FILE);
                std::fs::remove_file(&marker).map_err(|e| LogError::io(&marker, e))?;
                checkpoint::sync_dir(ld.path())?;
            }
            // The new leader epochs are on disk before any client can see them.
            checkpoint::sync_filesystem(ld.path())?;
        }
        // Everything recovery kept is on disk now.
        for topic in mgr.topics.iter() {
            topic
                .partitions
                .iter()
                .filter(|p| !p.is_offline())
                .for_each(|p| p.synced_at_start());
        }
        // Recovery is done with the files: until a partition is written, it holds none.
        mgr.release_idle_files(super::now_ms(), 0);
        // Drops entries of topics deleted since it was written.
        mgr.write_log_start_checkpoint()?;
        mgr.restore_reserve();
        Ok((mgr, report))
    }

    /// The online directory with the fewest partitions (`placed` counts them), as Kafka's
    /// `LogManager.nextLogDirs`; the first of equals.
    fn least_loaded_dir(&self, placed: &std::collections::HashMap<PathBuf, usize>) -> Result<Arc<LogDir>, LogError> {
        self.log_dirs
            .iter()
            .filter(|d| !d.is_offline())
            .min_by_key(|d| placed.get(d.path()).copied().unwrap_or(0))
            .cloned()
            .ok_or(LogError::Fenced)
    }

    /// The online dirs holding partition `p` of topic `id` (`holds_topic`). An I/O error
    /// looking takes that dir offline (the metadata dir's stops the start), as any error
    /// reading a log dir at start does.
    fn holders(&self, name: &str, p: i32, id: Uuid) -> Result<Vec<Arc<LogDir>>, LogError> {
        let mut out = vec![];
        for d in self.log_dirs.iter().filter(|d| !d.is_offline()) {
            let pdir = partition_dir(d.path(), name, p);
            match holds_topic(&pdir, id) {
                Ok(true) => out.push(d.clone()),
                Ok(false) => {}
                Err(e) if d.is_metadata() => return Err(LogError::io(&pdir, e)),
                Err(e) => d.fail(&LogError::io(&pdir, e)),
            }
        }
        Ok(out)
    }

    /// Writes [`OFFLINE_DIRS_FILE`] with the dirs offline now (durable with the start-up's
    /// filesystem sync), or removes it when there are none.
    fn record_offline_dirs(&self, before: &std::collections::HashSet<PathBuf>) -> Result<(), LogError> {
        let path = self.dir.join(OFFLINE_DIRS_FILE);
        let now: Vec<String> = self
            .log_dirs
            .iter()
            .filter(|d| d.is_offline())
            .map(|d| format!("{}\n", d.path().display()))
            .collect();
        if now.is_empty() {
            if !before.is_empty() {
                std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
            }
            return Ok(());
        }
        checkpoint::write_atomic(&path, now.concat())
    }

    /// Writes `partition.metadata` for topic `id` into `pdir` if it has none (a directory
    /// from a creation cut short, or from an older brokk), so that a stray is recognised.
    fn ensure_partition_metadata(pdir: &Path, id: Uuid) -> Result<(), LogError> {
        let path = pdir.join(PARTITION_METADATA_FILE);
        if path.try_exists().map_err(|e| LogError::io(&path, e))? {
            return Ok(());
        }
        let meta = format!("version: 0\ntopic_id: {}\n", uuid_to_kafka_string(id));
        checkpoint::write_atomic(&path, &meta)
    }

    /// An empty partition directory of topic `id` at `pdir` (replacing whatever was there)
    /// with its `partition.metadata`.
    fn create_partition_dir(pdir: &Path, id: Uuid) -> Result<(), LogError> {
        if pdir.exists() {
            std::fs::remove_dir_all(pdir).map_err(|e| LogError::io(pdir, e))?;
        }
        std::fs::create_dir_all(pdir).map_err(|e| LogError::io(pdir, e))?;
        Self::ensure_partition_metadata(pdir, id)
    }

    /// The offline directory that may hold partition `p` of `name`: the one where its
    /// directory still shows, else the first offline one.
    fn offline_holder(&self, name: &str, p: i32) -> Arc<LogDir> {
        let offline = || self.log_dirs.iter().filter(|d| d.is_offline());
        offline()
            .find(|d| partition_dir(d.path(), name, p).is_dir())
            .or_else(|| offline().next())
            .cloned()
            .expect("called only while a directory is offline")
    }

    /// Partitions per online directory now.
    fn partitions_per_dir(&self) -> std::collections::HashMap<PathBuf, usize> {
        let mut placed = std::collections::HashMap::new();
        for p in self.all_partitions() {
            *placed.entry(p.log_dir().path().to_path_buf()).or_insert(0) += 1;
        }
        placed
    }

    /// The `log.dirs`, the metadata directory first.
    pub fn log_dirs(&self) -> &[Arc<LogDir>] {
        &self.log_dirs
    }

    /// Halt the process when the metadata directory or every directory fails (see
    /// `log_dir`); the `brokk` binary asks for it.
    pub fn halt_on_dir_failure(&self, halt: bool) {
        self.dir_set.halt_on_failure(halt);
    }

    /// Once some directory of `log.dirs` is formatted (has `meta.properties`), one without
    /// it is refused before anything is written in it (Kafka's "No `meta.properties`
    /// found"), never formatted anew: it may be a disk that is not mounted.
    fn check_formatted(dir: &Path, formatted: bool) -> Result<(), LogError> {
        let path = dir.join(META_FILE);
        if !formatted || path.try_exists().map_err(|e| LogError::io(&path, e))? {
            return Ok(());
        }
        Err(LogError::Invalid(format!(
            "No `meta.properties` found in {} while the other log.dirs have one: if it is a disk \
             that is not mounted, mount it; if it is a new directory, copy meta.properties into it \
             from the first of log.dirs (what `kafka-storage.sh format --ignore-formatted` does)",
            dir.display()
        )))
    }

    /// Reads or creates `meta.properties` (cluster.id, node.id) in Kafka's format. Every
    /// directory of `log.dirs` belongs to one cluster: `expected` is the id the directories
    /// before this one have (a new directory takes it; a different one is an error, as
    /// Kafka's "Invalid cluster.id").
    fn load_meta(dir: &Path, node_id: i32, expected: Option<&str>, fresh: Option<&str>) -> Result<String, LogError> {
        let path = dir.join(META_FILE);
        let read = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(LogError::io(&path, e)),
        };
        if let Some(text) = read {
            let props = parse_properties(&text).map_err(|e| LogError::Invalid(format!("{}: {e}", path.display())))?;
            if let Some(stored) = props.get("node.id")
                && stored != &node_id.to_string()
            {
                return Err(LogError::Invalid(format!(
                    "{} belongs to node.id {stored}, but this broker is node.id {node_id}",
                    path.display()
                )));
            }
            if let Some(c) = props.get("cluster.id") {
                if let Some(want) = expected
                    && c != want
                {
                    return Err(LogError::Invalid(format!(
                        "{} has cluster.id {c}, but the other log.dirs have {want}",
                        path.display()
                    )));
                }
                if let Some(f) = fresh.filter(|f| *f != c) {
                    tracing::warn!(dir = %dir.display(), cluster_id = %c, quorum_cluster_id = %f, "this data directory was formatted for another cluster id than the one controller.quorum.voters gives new directories");
                }
                return Ok(c.clone());
            }
        }
        let cluster_id = expected
            .or(fresh)
            .map_or_else(|| uuid_to_kafka_string(new_kafka_uuid()), str::to_string);
        let mut m = BTreeMap::new();
        m.insert("version".to_string(), "1".to_string());
        m.insert("cluster.id".to_string(), cluster_id.clone());
        m.insert("node.id".to_string(), node_id.to_string());
        checkpoint::write_atomic(&path, render_properties("brokk broker metadata", &m))?;
        Ok(cluster_id)
    }

    /// (name, id, partition count, config overrides) from a topic file.
    fn read_topic_file(path: &Path) -> Result<TopicFile, LogError> {
        let text = std::fs::read_to_string(path).map_err(|e| LogError::io(path, e))?;
        let props = parse_properties(&text).map_err(|e| LogError::Invalid(format!("{}: {e}", path.display())))?;
        let bad = |what: &str| LogError::Invalid(format!("{}: missing or invalid {what}", path.display()));
        let id = props
            .get("topic.id")
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or_else(|| bad("topic.id"))?;
        let count = props
            .get("partitions")
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("partitions"))?;
        let overrides = props
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("config.").map(|k| (k.to_string(), v.clone())))
            .collect();
        let name = props
            .get("name")
            .filter(|n| validate_topic_name(n).is_ok())
            .ok_or_else(|| bad("name"))?;
        let hosted = match props.get(HOSTED_KEY) {
            None => None,
            Some(v) => Some(
                v.split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse::<i32>().ok().filter(|p| (0..count).contains(p)))
                    .collect::<Option<Vec<i32>>>()
                    .ok_or_else(|| bad(HOSTED_KEY))?,
            ),
        };
        Ok(TopicFile {
            name: name.clone(),
            id,
            count,
            hosted,
            overrides,
        })
    }

    /// Removes partition directories no topic owns (a crash during create or delete).
    fn remove_orphan_dirs(&self, dir: &Path, known: &std::collections::HashSet<PathBuf>) -> Result<(), LogError> {
        for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
            let entry = entry.map_err(|e| LogError::io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let is_partition_dir = name
                .rsplit_once('-')
                .is_some_and(|(t, p)| p.parse::<i32>().is_ok() && validate_topic_name(t).is_ok());
            let is_deleted = name.starts_with(DELETE_PREFIX);
            if path.is_dir()
                && (is_deleted
                    || (is_partition_dir && !known.contains(&path) && path.join(PARTITION_METADATA_FILE).exists()))
            {
                tracing::info!(dir = %path.display(), "removing orphaned partition directory");
                std::fs::remove_dir_all(&path).map_err(|e| LogError::io(&path, e))?;
            }
        }
        Ok(())
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
    /// The effective broker-level defaults (static with the dynamic broker configs).
    pub fn defaults(&self) -> Arc<LogConfig> {
        self.defaults.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn topic(&self, name: &str) -> Option<Arc<TopicLog>> {
        self.topics.get(name).map(|t| t.clone())
    }
    pub fn topic_by_id(&self, id: &Uuid) -> Option<Arc<TopicLog>> {
        let name = self.ids.get(id)?.clone();
        self.topic(&name)
    }
    pub fn partition(&self, topic: &str, p: i32) -> Option<Arc<Partition>> {
        let t = self.topics.get(topic)?;
        usize::try_from(p).ok().and_then(|p| t.partitions.get(p).cloned())
    }
    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<TopicLog>> {
        let mut v: Vec<_> = self.topics.iter().map(|e| e.value().clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics.iter().flat_map(|t| t.partitions.clone()).collect()
    }

    /// Validates a topic creation without doing it; returns the effective config.
    pub fn check_new_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, TopicError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if partitions <= 0 {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions must be larger than 0 (got {partitions})."
            )));
        }
        if partitions > MAX_PARTITIONS_PER_TOPIC {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions {partitions} exceeds this broker's limit of {MAX_PARTITIONS_PER_TOPIC} per topic."
            )));
        }
        self.defaults()
            .with_overrides(overrides)
            .map_err(TopicError::InvalidConfig)
    }

    /// Creates a topic durably: partition directories first, then the topic file (the
    /// commit point), so a crash in between leaves only orphans that start-up removes.
    /// Blocking (file creation): call from `spawn_blocking`.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<TopicLog>, TopicError> {
        self.create_topic_as(name, new_kafka_uuid(), partitions, None, overrides)
    }

    /// Creates topic `name` with id `id` (the cluster's, from the metadata image) and
    /// `partitions` partitions, of which this broker hosts `hosted` (None: all), as
    /// [`Self::create_topic`] does.
    pub fn create_topic_as(
        &self,
        name: &str,
        id: Uuid,
        partitions: i32,
        hosted: Option<&[i32]>,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<TopicLog>, TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let config = Arc::new(self.check_new_topic(name, partitions, &overrides)?);
        let name: Arc<str> = Arc::from(name);
        let mut placed = self.partitions_per_dir();
        let parts = (0..partitions)
            .filter(|p| hosted.is_none_or(|h| h.contains(p)))
            .map(|p| self.new_partition(&name, id, p, &config, &mut placed, hosted.is_some()))
            .collect::<Result<Vec<_>, _>>()?;
        // The partition directories must be durable before the commit point.
        self.sync_dirs_of(&parts)?;
        let set = match hosted {
            Some(_) => PartitionSet::hosted(partitions as usize, parts),
            None => PartitionSet::all(parts),
        };
        self.write_topic_file(&name, id, partitions, hosted_list(&set).as_deref(), &overrides)?;
        let topic = Arc::new(TopicLog::new(
            name.clone(),
            id,
            TopicSettings { overrides, config },
            set,
        ));
        self.ids.insert(id, name.clone());
        self.topics.insert(name.clone(), topic.clone());
        self.metadata_changed();
        tracing::info!(topic = %name, partitions, hosted = ?hosted, topic_id = %uuid_to_kafka_string(id), "created topic");
        Ok(topic)
    }

    /// Creates partition `p`'s directory and empty log (not yet committed: see
    /// [`Self::write_topic_file`]).
    fn new_partition(
        &self,
        name: &Arc<str>,
        id: Uuid,
        p: i32,
        config: &Arc<LogConfig>,
        placed: &mut std::collections::HashMap<PathBuf, usize>,
        managed: bool,
    ) -> Result<Arc<Partition>, LogError> {
        let ld = self.least_loaded_dir(placed)?;
        *placed.entry(ld.path().to_path_buf()).or_insert(0) += 1;
        let pdir = partition_dir(ld.path(), name, p);
        Self::create_partition_dir(&pdir, id)?;
        let (segs, _) = recovery::open_segments(&pdir, config, true, None)?;
        let partition = Partition::from_segments(
            name.clone(),
            p,
            pdir,
            config.clone(),
            segs,
            0,
            if managed {
                // A cluster's partition: its role and epoch come from the image.
                Role::Replica
            } else {
                Role::Leader {
                    epoch_if_lost: 0,
                    epoch_floor: 0,
                }
            },
            ld,
        )?;
        // Until the replica manager says otherwise, only the replicas move its high watermark.
        partition.set_replicated(managed);
        Ok(Arc::new(partition))
    }

    /// Opens the metadata quorum's log, `__cluster_metadata-0` in the metadata directory
    /// (the first of `log.dirs`), as Kafka keeps it: a replica log whose offsets and epochs
    /// come with its batches, fully recovered at every open (it is small), and no topic of
    /// this manager's (no `partition.metadata`, so start-up never takes it for an orphan).
    pub fn open_metadata_log(&self, config: LogConfig) -> Result<Arc<Partition>, LogError> {
        let ld = self
            .log_dirs
            .iter()
            .find(|d| d.is_metadata())
            .ok_or_else(|| LogError::Invalid("no metadata log directory".into()))?
            .clone();
        let dir = ld.path().join(crate::metadata::METADATA_LOG_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        let (segs, report) = recovery::open_segments(&dir, &config, false, None)?;
        if report.torn_bytes > 0 {
            tracing::warn!(dir = %dir.display(), torn_bytes = report.torn_bytes, "cut a torn tail off the metadata log");
        }
        let p = Partition::from_segments(
            crate::metadata::METADATA_TOPIC.into(),
            0,
            dir,
            Arc::new(config),
            segs,
            0,
            Role::Replica,
            ld,
        )?;
        Ok(Arc::new(p))
    }

    /// fsyncs the log directories holding `parts` (their new partition directories).
    fn sync_dirs_of(&self, parts: &[Arc<Partition>]) -> Result<(), LogError> {
        let dirs: std::collections::BTreeSet<&Path> = parts.iter().map(|p| p.log_dir().path()).collect();
        dirs.into_iter().try_for_each(checkpoint::sync_dir)
    }

    /// Writes the topic file atomically: the commit point of creating a topic or adding
    /// partitions (start-up removes partition directories it does not account for).
    fn write_topic_file(
        &self,
        name: &str,
        id: Uuid,
        partitions: i32,
        hosted: Option<&[i32]>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<(), LogError> {
        let mut props = BTreeMap::new();
        props.insert("name".to_string(), name.to_string());
        props.insert("topic.id".to_string(), id.to_string());
        props.insert("partitions".to_string(), partitions.to_string());
        if let Some(hosted) = hosted {
            let list: Vec<String> = hosted.iter().map(i32::to_string).collect();
            props.insert(HOSTED_KEY.to_string(), list.join(","));
        }
        for (k, v) in overrides {
            props.insert(format!("config.{k}"), v.clone());
        }
        checkpoint::write_atomic(
            &topic_file(&self.dir, id),
            render_properties("brokk topic metadata", &props),
        )
    }

    /// Deletes a topic: the topic file first (the commit point), then its data.
    /// Blocking: call from `spawn_blocking`.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<TopicLog>, TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let (_, topic) = self
            .topics
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        self.ids.remove(&topic.id);
        for p in &topic.partitions {
            p.mark_deleted();
        }
        let tf = topic_file(&self.dir, topic.id);
        std::fs::remove_file(&tf).map_err(|e| LogError::io(&tf, e))?;
        checkpoint::sync_dir(&self.dir.join(TOPICS_DIR))?;
        let parts: Vec<Arc<Partition>> = topic.partitions.iter().cloned().collect();
        self.remove_partition_dirs(topic.id, &parts)?;
        self.forget_checkpointed();
        self.metadata_changed();
        tracing::info!(topic = %name, "deleted topic");
        Ok(topic)
    }

    /// Deletes the data of partitions of topic `id` that are no longer hosted (after the
    /// topic file that leaves them out is written): they take no more appends and their
    /// directories go. A failure is logged; a start removes what is left as orphans.
    pub(super) fn delete_partition_data(&self, id: Uuid, parts: &[Arc<Partition>]) {
        for p in parts {
            p.mark_deleted();
        }
        if let Err(e) = self.remove_partition_dirs(id, parts) {
            tracing::warn!(error = %e, "removing the data of partitions hosted no more failed (start-up retries)");
        }
        self.forget_checkpointed();
    }

    /// Renames and removes the directories of `parts` (of topic `id`). A partition in a
    /// failed log dir keeps its files until a start finds them belonging to no topic
    /// (`remove_orphan_dirs`), as Kafka's stray logs.
    fn remove_partition_dirs(&self, id: Uuid, parts: &[Arc<Partition>]) -> Result<(), LogError> {
        for p in parts.iter().filter(|p| !p.is_offline()) {
            // Kafka renames to `<name>-<p>.<id>-delete`; the topic name is left out here so
            // that 249-character names stay within the file-name limit.
            let doomed = p
                .log_dir()
                .path()
                .join(format!("{DELETE_PREFIX}{}-{}", id.simple(), p.index()));
            std::fs::rename(p.dir(), &doomed).map_err(|e| LogError::io(p.dir(), e))?;
            std::fs::remove_dir_all(&doomed).map_err(|e| LogError::io(&doomed, e))?;
        }
        Ok(())
    }

    /// Rewrites the checkpoints without partitions that are gone: a partition of the same
    /// name created later must not inherit their recovery point or log start.
    fn forget_checkpointed(&self) {
        if let Err(e) = self.write_recovery_checkpoint() {
            tracing::warn!(error = %e, "rewriting the recovery checkpoint after a deletion failed");
        }
        if let Err(e) = self.write_log_start_checkpoint() {
            tracing::warn!(error = %e, "rewriting the log-start-offset checkpoint after a deletion failed");
        }
    }

    /// Takes the start-up reserve back if it is not held and there is room (blocking).
    pub fn restore_reserve(&self) {
        for ld in self.log_dirs.iter().filter(|d| !d.is_offline()) {
            match super::reserve::restore(ld.path()) {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    dir = %ld.path().display(),
                    "disk full: the start-up reserve is not held; it is taken again once there is room"
                ),
                Err(e) => tracing::error!(error = %e, "cannot keep the start-up reserve"),
            }
        }
    }

    /// One retention pass over every partition (files deleted here: blocking).
    pub fn retention_pass(&self, now_ms: i64) {
        for p in self.all_partitions() {
            if let Err(e) = p.apply_retention(now_ms) {
                tracing::error!(partition = ?p, error = %e, "retention failed");
            }
            let expired = p.expire_producers(now_ms);
            if expired > 0 {
                tracing::debug!(partition = ?p, expired, "expired idle producers");
            }
        }
        self.restore_reserve();
    }

    /// Closes the descriptors of active segments idle for [`IDLE_FILE_MS`] (all of them
    /// at start-up, with `idle_ms` 0); returns how many were closed.
    pub fn release_idle_files(&self, now_ms: i64, idle_ms: i64) -> usize {
        self.all_partitions()
            .iter()
            .filter(|p| p.release_idle_file(now_ms, idle_ms))
            .count()
    }

    /// One `flush.ms` pass; returns whether any partition was flushed. Blocking.
    pub fn flush_pass(&self, now_ms: i64) -> bool {
        let mut any = false;
        for p in self.all_partitions() {
            if p.flush_due(now_ms) {
                any |= p.flush(p.log_end_offset()).is_ok();
            }
        }
        any
    }

    /// Smallest `flush.ms` of any topic (the flush pass's period), if any is set.
    pub fn min_flush_ms(&self) -> Option<i64> {
        self.topics
            .iter()
            .map(|t| t.config().flush_ms)
            .chain([self.defaults().flush_ms])
            .filter(|m| *m != i64::MAX)
            .min()
    }

    /// Writes the recovery-point checkpoint.
    pub fn write_recovery_checkpoint(&self) -> Result<(), LogError> {
        self.write_per_dir(RECOVERY_CHECKPOINT_FILE, |p| Some(p.recovery_point()))
    }

    /// Writes one offset checkpoint file in every online log directory, with the entries
    /// `entry` gives for the partitions it holds.
    fn write_per_dir(&self, file: &str, entry: impl Fn(&Partition) -> Option<i64>) -> Result<(), LogError> {
        let parts = self.all_partitions();
        let mut first_error = Ok(());
        for ld in self.log_dirs.iter().filter(|d| !d.is_offline()) {
            let entries: Vec<_> = parts
                .iter()
                .filter(|p| Arc::ptr_eq(p.log_dir(), ld))
                .filter_map(|p| Some((p.topic().to_string(), p.index(), entry(p)?)))
                .collect();
            // A failed checkpoint write is a failed directory (Kafka's IOException there);
            // the other directories still get theirs.
            if let Err(e) = checkpoint::write_offset_checkpoint(&ld.path().join(file), &entries) {
                if !e.is_no_space() {
                    ld.fail(&e);
                }
                if first_error.is_ok() {
                    first_error = Err(e);
                }
            }
        }
        first_error
    }

    /// Writes the log-start-offset checkpoint (Kafka's format): every partition whose log
    /// start a DeleteRecords moved inside its first segment. Durable on return (DeleteRecords
    /// answers after it, where Kafka writes it only every 60 s). Blocking.
    pub fn write_log_start_checkpoint(&self) -> Result<(), LogError> {
        let _g = self.log_start_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.write_per_dir(LOG_START_CHECKPOINT_FILE, |p| p.log_start_inside_segment())
    }

    /// Clean shutdown: flush and trim every partition, checkpoint, then the marker.
    /// Blocking.
    pub fn shutdown(&self) -> Result<(), LogError> {
        // As Kafka, only the online directories are closed, checkpointed and marked clean;
        // an offline one is recovered at the next start.
        for p in self.all_partitions() {
            if !p.log_dir().is_offline() {
                p.close()?;
            }
        }
        self.write_recovery_checkpoint()?;
        self.write_log_start_checkpoint()?;
        for ld in self.log_dirs.iter().filter(|d| !d.is_offline()) {
            checkpoint::write_atomic(&ld.path().join(CLEAN_SHUTDOWN_FILE), "")?;
        }
        Ok(())
    }

    /// Background retention and flush, until `shutdown` fires.
    pub async fn run_maintenance(
        self: Arc<Self>,
        retention_check: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut retention = tokio::time::interval(retention_check);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let flush_period =
            |m: &LogManager| Duration::from_millis(m.min_flush_ms().map_or(1000, |ms| ms.clamp(10, 1000)) as u64);
        // Re-evaluated every round: topics created later may ask for a shorter flush.ms.
        let mut next_flush = tokio::time::Instant::now() + flush_period(&self);
        // Kafka's log.flush.offset.checkpoint.interval.ms default: bounds how much a crash
        // recovery has to rescan.
        let mut checkpoint = tokio::time::interval(Duration::from_secs(60));
        checkpoint.tick().await;
        let mut idle_files = tokio::time::interval(Duration::from_millis(IDLE_FILE_MS as u64 / 2));
        idle_files.tick().await;
        loop {
            tokio::select! {
                _ = checkpoint.tick() => {
                    let m = self.clone();
                    let r = tokio::task::spawn_blocking(move || {
                        m.restore_reserve();
                        m.write_recovery_checkpoint()
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::error!(error = %e, "writing the recovery checkpoint failed");
                    }
                }
                _ = idle_files.tick() => {
                    let m = self.clone();
                    let _ = tokio::task::spawn_blocking(move || m.release_idle_files(super::now_ms(), IDLE_FILE_MS)).await;
                }
                _ = retention.tick() => {
                    let m = self.clone();
                    let _ = tokio::task::spawn_blocking(move || m.retention_pass(super::now_ms())).await;
                }
                _ = tokio::time::sleep_until(next_flush) => {
                    next_flush = tokio::time::Instant::now() + flush_period(&self);
                    if self.min_flush_ms().is_some() {
                        let m = self.clone();
                        let flushed = tokio::task::spawn_blocking(move || m.flush_pass(super::now_ms())).await.unwrap_or(false);
                        if flushed && let Err(e) = self.write_recovery_checkpoint() {
                            tracing::error!(error = %e, "writing the recovery checkpoint failed");
                        }
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// An active segment with no append for this long closes its descriptor (reopened by the
/// next append), so open files grow with the partitions being written, not with all.
pub const IDLE_FILE_MS: i64 = 30_000;

/// Validates and appends one batch, then waits for the fsync the flush policy requires.
/// The path the coordinators' durable writes take (`__consumer_offsets`,
/// `__transaction_state`).
pub async fn append_durably(
    p: &Arc<Partition>,
    batch: &[u8],
    now_ms: i64,
    origin: Origin,
) -> Result<AppendInfo, LogError> {
    let (info, flush) = append_flushing(p, batch, now_ms, origin)?;
    if let Some(f) = flush {
        f.wait().await?;
    }
    Ok(info)
}

/// Validates and appends one batch and requests the fsync the flush policy requires,
/// returning its waiter instead of waiting: Produce appends all of a request's partitions
/// first and then waits for their fsyncs together, which run in parallel (one flusher per
/// partition, shared by every append waiting on it: [`group_commit`]).
pub fn append_flushing(
    p: &Arc<Partition>,
    batch: &[u8],
    now_ms: i64,
    origin: Origin,
) -> Result<(AppendInfo, Option<FlushWait>), LogError> {
    let converted = p.validate(batch, now_ms)?;
    append_validated(p, converted.as_deref().unwrap_or(batch), now_ms, origin)
}

/// [`append_flushing`] for a batch that [`Partition::validate`] already passed (or
/// returned).
pub fn append_validated(
    p: &Arc<Partition>,
    batch: &[u8],
    now_ms: i64,
    origin: Origin,
) -> Result<(AppendInfo, Option<FlushWait>), LogError> {
    let info = p.append_as(batch, now_ms, origin)?;
    let flush = start_flush(p, &info);
    Ok((info, flush))
}

/// Writes a transaction marker for producer `pid` (see [`Partition::append_marker`]) and
/// waits for the fsync the flush policy requires, like a produce with acks=-1.
pub async fn append_marker_durably(
    p: &Arc<Partition>,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Result<AppendInfo, LogError> {
    let (info, flush) = append_marker_flushing(p, pid, epoch, coordinator_epoch, commit)?;
    if let Some(f) = flush {
        f.wait().await?;
    }
    Ok(info)
}

/// Appends a transaction marker and requests the fsync the flush policy requires,
/// returning its waiter (see [`append_flushing`]).
pub fn append_marker_flushing(
    p: &Arc<Partition>,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Result<(AppendInfo, Option<FlushWait>), LogError> {
    let info = p.append_marker(pid, epoch, coordinator_epoch, commit, super::now_ms())?;
    let flush = start_flush(p, &info);
    Ok((info, flush))
}

/// After an append: flushes a rolled segment in the background and, when the policy asks
/// for it, requests the fsync that covers the append.
fn start_flush(p: &Arc<Partition>, info: &AppendInfo) -> Option<FlushWait> {
    if info.rolled {
        flush_rolled_in_background(p.clone());
    }
    info.needs_flush.then(|| group_commit::request(p, info.last_offset + 1))
}

/// Flushes a partition whose segment just rolled, in the background.
pub fn flush_rolled_in_background(p: Arc<Partition>) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = p.flush(p.log_end_offset()) {
            tracing::error!(partition = ?p, error = %e, "background flush of a rolled segment failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_uuid_string_is_22_url_safe_chars() {
        let s = uuid_to_kafka_string(Uuid::from_bytes([0xff; 16]));
        assert_eq!(s.len(), 22);
        assert_eq!(s, "_____________________w");
        assert_eq!(uuid_to_kafka_string(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    /// Idle active logs hold no descriptor (none at all after start-up); an append
    /// reopens one, and data written across releases reads back and survives a restart.
    #[test]
    fn idle_active_logs_release_their_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        // Small segments: an append after a release also rolls (reopen, seal, new segment).
        let small = BTreeMap::from([("segment.bytes".to_string(), "1000".to_string())]);
        m.create_topic("t", 2, small).unwrap();
        let p = m.partition("t", 0).unwrap();
        let now = super::super::now_ms();
        let batch = super::super::test_fixture::batch_of(3, now, kafka_protocol::records::Compression::None, |i| {
            vec![i as u8; 100]
        });
        p.append(&batch, now).unwrap();
        assert_eq!(
            m.release_idle_files(now, IDLE_FILE_MS),
            1,
            "partition 1 was never written"
        );
        assert_eq!(
            m.release_idle_files(now + 2 * IDLE_FILE_MS, IDLE_FILE_MS),
            1,
            "then partition 0 idles"
        );
        assert_eq!(
            m.release_idle_files(now + 2 * IDLE_FILE_MS, IDLE_FILE_MS),
            0,
            "already closed"
        );
        p.append(&batch, now).unwrap();
        assert_eq!(m.release_idle_files(now + 2 * IDLE_FILE_MS, IDLE_FILE_MS), 1);
        p.append(&batch, now).unwrap();
        assert!(p.segment_count() >= 2, "rolled after a release");
        p.flush(p.log_end_offset()).unwrap();
        let mut offset = 0;
        while offset < p.log_end_offset() {
            let read = p.read(offset, 1 << 20, true, false).unwrap().records.unwrap();
            assert_eq!(&read[8..batch.len()], &batch[8..], "batch at {offset} intact");
            offset += 3 * (read.len() / batch.len()) as i64;
        }
        m.shutdown().unwrap();
        drop((m, p));
        let (m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert_eq!(m.release_idle_files(now, 0), 0, "start-up released every log");
        let p = m.partition("t", 0).unwrap();
        assert_eq!(p.log_end_offset(), 9);
        p.append(&batch, super::super::now_ms()).unwrap();
        assert_eq!(p.log_end_offset(), 12);
    }

    #[test]
    fn a_read_never_skips_a_batch_that_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        let small = BTreeMap::from([("segment.bytes".to_string(), "1000".to_string())]);
        m.create_topic("t", 1, small).unwrap();
        let p = m.partition("t", 0).unwrap();
        let now = super::super::now_ms();
        let fixture = |size: usize| {
            super::super::test_fixture::batch_of(1, now, kafka_protocol::records::Compression::None, move |_| {
                vec![1; size]
            })
        };
        let (big, tiny) = (fixture(900), fixture(10));
        p.append(&big, now).unwrap();
        p.append(&tiny, now).unwrap();
        assert_eq!(p.segment_count(), 2, "the tiny batch is in the next segment");
        // Without min_one, a first batch too big for the limit ends the read: returning the
        // next segment's batch instead would skip offset 0 (Kafka returns nothing).
        assert!(p.read(0, tiny.len() + 10, false, false).unwrap().records.is_none());
        assert_eq!(
            p.read(0, tiny.len() + 10, true, false).unwrap().records.unwrap().len(),
            big.len()
        );
        assert_eq!(
            p.read(1, tiny.len() + 10, false, false).unwrap().records.unwrap().len(),
            tiny.len()
        );
    }

    #[test]
    fn create_reopen_delete() {
        let dir = tempfile::tempdir().unwrap();
        let (m, r) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert!(!r.clean_shutdown);
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5000".to_string());
        let t = m.create_topic("t1", 3, o).unwrap();
        assert!(matches!(
            m.create_topic("t1", 1, BTreeMap::new()),
            Err(TopicError::AlreadyExists(_))
        ));
        m.shutdown().unwrap();
        let cluster = m.cluster_id.clone();
        drop(m);
        let (m, r) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert!(r.clean_shutdown);
        assert_eq!(m.cluster_id, cluster);
        let t2 = m.topic("t1").unwrap();
        assert_eq!(t2.id, t.id);
        assert_eq!(t2.partitions.len(), 3);
        assert_eq!(t2.config().retention_ms, 5000);
        m.delete_topic("t1").unwrap();
        assert!(!dir.path().join("t1-0").exists());
        assert!(m.topic("t1").is_none());
    }

    #[test]
    fn an_unclean_start_makes_what_recovery_kept_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
            let t = m.create_topic("t", 1, BTreeMap::new()).unwrap();
            let p = &t.partitions[0];
            let now = super::super::now_ms();
            let batch =
                super::super::test_fixture::batch_of(3, now, kafka_protocol::records::Compression::None, |_| {
                    vec![1; 10]
                });
            p.append(&batch, now).unwrap();
            p.append(&batch, now).unwrap();
            assert_eq!(p.recovery_point(), 0, "nothing flushed yet");
            // No shutdown: the next open recovers, with no recovery point checkpointed.
        }
        let (m, r) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert!(!r.clean_shutdown);
        let p = m.partition("t", 0).unwrap();
        assert!(p.log_end_offset() > 0);
        // The start's syncfs made it durable: the cleaner may rewrite it at once.
        assert_eq!(p.recovery_point(), p.log_end_offset());
    }

    #[test]
    fn a_quorums_cluster_id_formats_new_dirs_and_leaves_formatted_ones_alone() {
        let (new, old) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let id = "AAAAAAAAAAAAAAAAAAAAAQ".to_string();
        let (m, _) =
            LogManager::open_dirs_in(&[new.path().to_path_buf()], LogConfig::default(), 1, Some(id.clone())).unwrap();
        assert_eq!(m.cluster_id, id);
        let (m, _) = LogManager::open(old.path(), LogConfig::default(), 1).unwrap();
        let own = m.cluster_id.clone();
        m.shutdown().unwrap();
        drop(m);
        let (m, _) = LogManager::open_dirs_in(&[old.path().to_path_buf()], LogConfig::default(), 1, Some(id)).unwrap();
        assert_eq!(m.cluster_id, own);
    }

    #[test]
    fn second_open_of_a_locked_dir_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (_m, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert!(LogManager::open(dir.path(), LogConfig::default(), 0).is_err());
    }
}
