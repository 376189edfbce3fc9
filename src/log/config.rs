//! Per-topic log configuration: Kafka's topic-level config keys, their broker-level
//! (`log.*`) defaults, parsing and validation.
//!
//! Owns: the effective settings one partition's log runs with. The broker-level defaults are
//! filled in by `crate::config`; CreateTopics overrides apply on top.

use std::collections::BTreeMap;

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

/// Effective configuration of one topic's partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when the next batch would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
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
    /// `min.insync.replicas`: acks=-1 needs this many in-sync replicas (brokk has one).
    pub min_insync_replicas: i32,
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
            producer_id_expiration_ms: 86_400_000,
        }
    }
}

/// Topic-level keys brokk implements, paired with the broker-level key that sets their
/// default. `cleanup.policy` accepts only `delete` until log compaction exists.
pub const TOPIC_CONFIG_KEYS: &[(&str, &str)] = &[
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("segment.index.bytes", "log.index.size.max.bytes"),
    ("message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"),
    ("message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("cleanup.policy", "log.cleanup.policy"),
];

fn parse_i64(key: &str, v: &str, min: i64) -> Result<i64, String> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| format!("Invalid value {v} for configuration {key}: Not a number of type LONG"))?;
    if n < min {
        return Err(format!(
            "Invalid value {v} for configuration {key}: Value must be at least {min}"
        ));
    }
    Ok(n)
}

fn parse_i32(key: &str, v: &str, min: i64) -> Result<i64, String> {
    let n = parse_i64(key, v, min)?;
    if n > i32::MAX as i64 {
        return Err(format!(
            "Invalid value {v} for configuration {key}: Not a number of type INT"
        ));
    }
    Ok(n)
}

impl LogConfig {
    /// Applies one topic-level key (`segment.bytes`, ...). Unknown keys and bad values give
    /// Kafka-style INVALID_CONFIG messages.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "segment.bytes" => self.segment_bytes = parse_i32(key, value, 14)? as u64,
            "segment.ms" => self.segment_ms = parse_i64(key, value, 1)?,
            "retention.ms" => self.retention_ms = parse_i64(key, value, -1)?,
            "retention.bytes" => self.retention_bytes = parse_i64(key, value, -1)?,
            "max.message.bytes" => self.max_message_bytes = parse_i32(key, value, 0)? as usize,
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(format!(
                            "Invalid value {value} for configuration {key}: String must be one of: CreateTime, LogAppendTime"
                        ));
                    }
                }
            }
            "flush.messages" => self.flush_messages = parse_i64(key, value, 1)?,
            "flush.ms" => self.flush_ms = parse_i64(key, value, 0)?,
            "index.interval.bytes" => self.index_interval_bytes = parse_i32(key, value, 0)? as usize,
            "segment.index.bytes" => self.segment_index_bytes = parse_i32(key, value, 4)? as usize,
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms = parse_i64(key, value, 0)?,
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms = parse_i64(key, value, 0)?,
            "min.insync.replicas" => self.min_insync_replicas = parse_i32(key, value, 1)? as i32,
            "cleanup.policy" => {
                if value.trim() != "delete" {
                    return Err(format!(
                        "Invalid value {value} for configuration {key}: brokk supports only cleanup.policy=delete (log compaction is not implemented yet)"
                    ));
                }
            }
            _ => return Err(format!("Unknown topic config name: {key}")),
        }
        Ok(())
    }

    /// The value of one topic-level key, rendered as Kafka renders it.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => self.timestamp_type.as_str().to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms.to_string(),
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "cleanup.policy" => "delete".to_string(),
            _ => return None,
        })
    }

    /// Returns a copy with all `overrides` applied, or the first error.
    pub fn with_overrides(&self, overrides: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut c = self.clone();
        for (k, v) in overrides {
            c.set(k, v)?;
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
        assert!(LogConfig::default().set("cleanup.policy", "compact").is_err());
        assert!(LogConfig::default().set("cleanup.policy", "delete").is_ok());
        for (k, _) in TOPIC_CONFIG_KEYS {
            let v = LogConfig::default().get(k).unwrap();
            let mut c = LogConfig::default();
            c.set(k, &v).unwrap();
            assert_eq!(c, LogConfig::default(), "{k} round-trips");
        }
    }
}
