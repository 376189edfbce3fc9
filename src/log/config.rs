//! Per-topic log configuration: Kafka's topic-level config keys, their broker-level
//! (`log.*`) defaults, parsing and validation. Names, types, synonyms and documentation are
//! in `config_defs.rs`.
//!
//! Owns: the effective settings one partition's log runs with. The broker-level defaults are
//! filled in by `crate::config`; CreateTopics overrides apply on top.

use std::collections::BTreeMap;

use super::config_defs::{TOPIC_CONFIGS, topic_config_def};

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// `cleanup.policy`: a list of `delete` (time/size retention) and `compact` (the log
/// cleaner keeps the latest record per key). An empty list does neither, as in Kafka 4.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
    /// The list as given, items trimmed (what DescribeConfigs shows).
    text: String,
}

impl CleanupPolicy {
    pub fn delete() -> Self {
        Self {
            delete: true,
            compact: false,
            text: "delete".into(),
        }
    }

    fn parse(key: &str, v: &str) -> Result<Self, String> {
        let mut p = Self {
            delete: false,
            compact: false,
            text: String::new(),
        };
        let items: Vec<&str> = if v.trim().is_empty() {
            vec![]
        } else {
            v.split(',').map(str::trim).collect()
        };
        for item in &items {
            match *item {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => {
                    return Err(format!(
                        "Invalid value {item} for configuration {key}: String must be one of: compact, delete"
                    ));
                }
            }
        }
        p.text = items.join(",");
        Ok(p)
    }
}

/// `compression.type`: the codec batches are stored with (`producer` keeps the producer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    const NAMES: [(&'static str, CompressionType); 6] = [
        ("uncompressed", CompressionType::Uncompressed),
        ("zstd", CompressionType::Zstd),
        ("lz4", CompressionType::Lz4),
        ("snappy", CompressionType::Snappy),
        ("gzip", CompressionType::Gzip),
        ("producer", CompressionType::Producer),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("producer", |(n, _)| n)
    }

    /// The record-batch codec id to store with; `None` keeps the producer's.
    pub fn codec(self) -> Option<i16> {
        match self {
            CompressionType::Producer => None,
            CompressionType::Uncompressed => Some(0),
            CompressionType::Gzip => Some(1),
            CompressionType::Snappy => Some(2),
            CompressionType::Lz4 => Some(3),
            CompressionType::Zstd => Some(4),
        }
    }
}

/// Effective configuration of one topic's partitions: every topic-level key of Kafka 4.0
/// (see `config_defs.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when the next batch would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `segment.jitter.ms`: up to this much is taken off `segment.ms`, per segment.
    pub segment_jitter_ms: i64,
    /// `retention.ms`: delete sealed segments whose newest record is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 = unbounded.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted (MESSAGE_TOO_LARGE above).
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `flush.messages`: fsync once this many messages are unflushed (i64::MAX = never).
    pub flush_messages: i64,
    /// `flush.ms`: fsync data older than this in the background (i64::MAX = never).
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between offset/time index entries.
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: preallocated size of each index file.
    pub segment_index_bytes: usize,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may be.
    pub timestamp_after_max_ms: i64,
    /// `min.insync.replicas`: acks=-1 needs this many in-sync replicas (at most the replica
    /// count, as Kafka's effective minimum).
    pub min_insync_replicas: i32,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a compacted topic keeps tombstones (and the markers of
    /// cleaned transactions) after the cleaner first retained them.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log with records older than this (not yet cleaned) is
    /// cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean once dirty bytes exceed this share of the log.
    pub min_cleanable_dirty_ratio: f64,
    /// `file.delete.delay.ms`. brokk unlinks deleted segments at once: readers keep their
    /// mappings, which is what Kafka's delay protects.
    pub file_delete_delay_ms: i64,
    /// `compression.type` and the levels of `compression.{gzip,lz4,zstd}.level`.
    pub compression: CompressionType,
    pub gzip_level: i32,
    pub lz4_level: i32,
    pub zstd_level: i32,
    /// `preallocate`: allocate a new segment's whole file on disk when it is created.
    pub preallocate: bool,
    /// `unclean.leader.election.enable`: with one replica there is never an unclean
    /// candidate; kept for DescribeConfigs.
    pub unclean_leader_election_enable: bool,
    /// `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas`:
    /// brokk does not replicate; validated and kept.
    pub leader_throttled_replicas: String,
    pub follower_throttled_replicas: String,
    /// Tiered storage keys: brokk has no remote storage, so `remote.storage.enable=true` is
    /// refused as by a Kafka broker with tiered storage disabled; the others are kept.
    pub remote_storage_enable: bool,
    pub local_retention_ms: i64,
    pub local_retention_bytes: i64,
    pub remote_log_copy_disable: bool,
    pub remote_log_delete_on_disable: bool,
    /// Broker key `producer.id.expiration.ms`: an idempotent producer idle this long is
    /// forgotten (its next batch may start at any sequence). Not a topic key.
    pub producer_id_expiration_ms: i64,
}

impl Default for LogConfig {
    /// Kafka 4.0's defaults.
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            segment_jitter_ms: 0,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            min_insync_replicas: 1,
            cleanup_policy: CleanupPolicy::delete(),
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            file_delete_delay_ms: 60_000,
            compression: CompressionType::Producer,
            gzip_level: -1,
            lz4_level: 9,
            zstd_level: 3,
            preallocate: false,
            unclean_leader_election_enable: false,
            leader_throttled_replicas: String::new(),
            follower_throttled_replicas: String::new(),
            remote_storage_enable: false,
            local_retention_ms: -2,
            local_retention_bytes: -2,
            remote_log_copy_disable: false,
            remote_log_delete_on_disable: false,
            producer_id_expiration_ms: 86_400_000,
        }
    }
}

fn invalid(key: &str, v: &str, why: &str) -> String {
    format!("Invalid value {v} for configuration {key}: {why}")
}

fn parse_i64(key: &str, v: &str, min: i64) -> Result<i64, String> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, v, "Not a number of type LONG"))?;
    if n < min {
        return Err(invalid(key, v, &format!("Value must be at least {min}")));
    }
    Ok(n)
}

fn parse_i32(key: &str, v: &str, min: i64) -> Result<i64, String> {
    let n: i32 = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, v, "Not a number of type INT"))?;
    if (n as i64) < min {
        return Err(invalid(key, v, &format!("Value must be at least {min}")));
    }
    Ok(n as i64)
}

fn parse_range(key: &str, v: &str, min: i32, max: i32) -> Result<i32, String> {
    let n = parse_i32(key, v, min as i64)? as i32;
    if n > max {
        return Err(invalid(key, v, &format!("Value must be no more than {max}")));
    }
    Ok(n)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "Expected value to be either true or false")),
    }
}

/// Kafka's ThrottledReplicaListValidator: `*`, or `partition:broker` pairs.
fn parse_throttled(key: &str, v: &str) -> Result<String, String> {
    let items: Vec<&str> = if v.trim().is_empty() {
        vec![]
    } else {
        v.split(',').map(str::trim).collect()
    };
    let pair = |i: &str| {
        i.split_once(':')
            .is_some_and(|(p, b)| p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
    };
    if items == ["*"] || items.iter().all(|i| pair(i)) {
        return Ok(items.join(","));
    }
    Err(invalid(
        key,
        &format!("[{}]", items.join(", ")),
        &format!(
            "{key} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        ),
    ))
}

impl LogConfig {
    /// Applies one topic-level key. Unknown keys and bad values give Kafka's INVALID_CONFIG
    /// messages (ConfigDef's wording, with the value as given).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "segment.bytes" => self.segment_bytes = parse_i32(key, value, 14)? as u64,
            "segment.ms" => self.segment_ms = parse_i64(key, value, 1)?,
            "segment.jitter.ms" => self.segment_jitter_ms = parse_i64(key, value, 0)?,
            "segment.index.bytes" => self.segment_index_bytes = parse_i32(key, value, 4)? as usize,
            "flush.messages" => self.flush_messages = parse_i64(key, value, 1)?,
            "flush.ms" => self.flush_ms = parse_i64(key, value, 0)?,
            "retention.bytes" => self.retention_bytes = parse_i64(key, value, i64::MIN)?,
            "retention.ms" => self.retention_ms = parse_i64(key, value, -1)?,
            "max.message.bytes" => self.max_message_bytes = parse_i32(key, value, 0)? as usize,
            "index.interval.bytes" => self.index_interval_bytes = parse_i32(key, value, 0)? as usize,
            "delete.retention.ms" => self.delete_retention_ms = parse_i64(key, value, 0)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_i64(key, value, 0)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = parse_i64(key, value, 1)?,
            "file.delete.delay.ms" => self.file_delete_delay_ms = parse_i64(key, value, 0)?,
            "min.cleanable.dirty.ratio" => {
                let r: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(key, value, "Not a number of type DOUBLE"))?;
                if r < 0.0 {
                    return Err(invalid(key, value, "Value must be at least 0"));
                }
                if r > 1.0 {
                    return Err(invalid(key, value, "Value must be no more than 1"));
                }
                self.min_cleanable_dirty_ratio = r;
            }
            "cleanup.policy" => self.cleanup_policy = CleanupPolicy::parse(key, value)?,
            "unclean.leader.election.enable" => self.unclean_leader_election_enable = parse_bool(key, value)?,
            "min.insync.replicas" => self.min_insync_replicas = parse_i32(key, value, 1)? as i32,
            "compression.type" => {
                self.compression = CompressionType::NAMES
                    .iter()
                    .find(|(n, _)| *n == value.trim())
                    .map(|(_, c)| *c)
                    .ok_or_else(|| {
                        invalid(
                            key,
                            value,
                            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
                        )
                    })?;
            }
            "compression.gzip.level" => {
                let n = parse_i32(key, value, i32::MIN as i64)? as i32;
                if n != -1 && !(1..=9).contains(&n) {
                    return Err(invalid(key, value, "Value must be between 1 and 9 or equal to -1"));
                }
                self.gzip_level = n;
            }
            "compression.lz4.level" => self.lz4_level = parse_range(key, value, 1, 17)?,
            "compression.zstd.level" => self.zstd_level = parse_range(key, value, -131_072, 22)?,
            "preallocate" => self.preallocate = parse_bool(key, value)?,
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid(key, value, "String must be one of: CreateTime, LogAppendTime")),
                }
            }
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms = parse_i64(key, value, 0)?,
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms = parse_i64(key, value, 0)?,
            "leader.replication.throttled.replicas" => self.leader_throttled_replicas = parse_throttled(key, value)?,
            "follower.replication.throttled.replicas" => {
                self.follower_throttled_replicas = parse_throttled(key, value)?
            }
            "remote.storage.enable" => self.remote_storage_enable = parse_bool(key, value)?,
            "local.retention.ms" => self.local_retention_ms = parse_i64(key, value, -2)?,
            "local.retention.bytes" => self.local_retention_bytes = parse_i64(key, value, -2)?,
            "remote.log.copy.disable" => self.remote_log_copy_disable = parse_bool(key, value)?,
            "remote.log.delete.on.disable" => self.remote_log_delete_on_disable = parse_bool(key, value)?,
            _ => return Err(format!("Unknown topic config name: {key}")),
        }
        Ok(())
    }

    /// The value of one topic-level key, rendered as Kafka renders it
    /// (ConfigDef.convertToString of the parsed value).
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "segment.jitter.ms" => self.segment_jitter_ms.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "min.cleanable.dirty.ratio" => format!("{:?}", self.min_cleanable_dirty_ratio),
            "cleanup.policy" => self.cleanup_policy.text.clone(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "compression.type" => self.compression.as_str().to_string(),
            "compression.gzip.level" => self.gzip_level.to_string(),
            "compression.lz4.level" => self.lz4_level.to_string(),
            "compression.zstd.level" => self.zstd_level.to_string(),
            "preallocate" => self.preallocate.to_string(),
            "message.timestamp.type" => self.timestamp_type.as_str().to_string(),
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms.to_string(),
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms.to_string(),
            "leader.replication.throttled.replicas" => self.leader_throttled_replicas.clone(),
            "follower.replication.throttled.replicas" => self.follower_throttled_replicas.clone(),
            "remote.storage.enable" => self.remote_storage_enable.to_string(),
            "local.retention.ms" => self.local_retention_ms.to_string(),
            "local.retention.bytes" => self.local_retention_bytes.to_string(),
            "remote.log.copy.disable" => self.remote_log_copy_disable.to_string(),
            "remote.log.delete.on.disable" => self.remote_log_delete_on_disable.to_string(),
            _ => return None,
        })
    }

    /// Returns a copy with all `overrides` applied, or the first error (in Kafka's key
    /// definition order), then the cross-key checks of Kafka's LogConfig.validate.
    pub fn with_overrides(&self, overrides: &BTreeMap<String, String>) -> Result<Self, String> {
        if let Some(k) = overrides.keys().find(|k| topic_config_def(k).is_none()) {
            return Err(format!("Unknown topic config name: {k}"));
        }
        let mut c = self.clone();
        for def in TOPIC_CONFIGS {
            if let Some(v) = overrides.get(def.name) {
                c.set(def.name, v)?;
            }
        }
        if c.min_compaction_lag_ms > c.max_compaction_lag_ms {
            return Err(format!(
                "conflict topic config setting min.compaction.lag.ms ({}) > max.compaction.lag.ms ({})",
                c.min_compaction_lag_ms, c.max_compaction_lag_ms
            ));
        }
        if c.remote_storage_enable {
            return Err(
                "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                    .into(),
            );
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_errors() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("message.timestamp.type".to_string(), "LogAppendTime".to_string());
        let c = LogConfig::default().with_overrides(&o).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.timestamp_type, TimestampType::LogAppendTime);
        assert!(LogConfig::default().set("segment.bytes", "x").is_err());
        assert!(LogConfig::default().set("segment.bytes", "3").is_err());
        assert!(LogConfig::default().set("no.such.key", "1").is_err());
        assert!(LogConfig::default().set("cleanup.policy", "compacted").is_err());
        let mut c = LogConfig::default();
        c.set("cleanup.policy", "delete, compact").unwrap();
        assert_eq!(c.get("cleanup.policy").unwrap(), "delete,compact");
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        c.set("cleanup.policy", "").unwrap();
        assert!(!c.cleanup_policy.compact && !c.cleanup_policy.delete);
        c.set("leader.replication.throttled.replicas", "0:0, 1:0").unwrap();
        assert_eq!(c.get("leader.replication.throttled.replicas").unwrap(), "0:0,1:0");
        assert_eq!(
            LogConfig::default()
                .set("follower.replication.throttled.replicas", "x")
                .unwrap_err(),
            "Invalid value [x] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        );
        assert_eq!(
            LogConfig::default().set("compression.gzip.level", "12").unwrap_err(),
            "Invalid value 12 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"
        );
        assert_eq!(
            LogConfig::default().set("preallocate", "yes").unwrap_err(),
            "Invalid value yes for configuration preallocate: Expected value to be either true or false"
        );
        c.set("compression.type", "zstd").unwrap();
        assert_eq!(c.compression.codec(), Some(4));
        let mut remote = BTreeMap::new();
        remote.insert("remote.storage.enable".to_string(), "true".to_string());
        assert!(
            LogConfig::default()
                .with_overrides(&remote)
                .unwrap_err()
                .starts_with("Tiered Storage")
        );
        assert!(LogConfig::default().set("min.cleanable.dirty.ratio", "1.5").is_err());
        o.insert("min.compaction.lag.ms".to_string(), "10".to_string());
        o.insert("max.compaction.lag.ms".to_string(), "5".to_string());
        assert!(LogConfig::default().with_overrides(&o).is_err());
        for def in TOPIC_CONFIGS {
            let k = def.name;
            let v = LogConfig::default().get(k).unwrap();
            let mut c = LogConfig::default();
            c.set(k, &v).unwrap();
            assert_eq!(c, LogConfig::default(), "{k} round-trips");
        }
    }
}
