//! Dynamic broker-level log defaults (AlterConfigs and IncrementalAlterConfigs on a BROKER
//! resource): the cluster-wide level (resource name "") and this broker's level, layered as
//! Kafka layers them: static `server.properties` < cluster default < this broker < a
//! topic's own overrides. Keys are broker names (`log.retention.ms`); a key that is the
//! primary synonym of a topic key changes every topic without its own override, at once.
//! Other (custom) keys are stored and described, as Kafka stores them.
//!
//! Persisted in `<data-dir>/dynamic-broker-configs.properties` (`cluster.<key>` and
//! `broker.<key>` entries), written atomically before the change is applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{LogManager, TopicError, TopicSettings};
use crate::log::checkpoint::{self, parse_properties, render_properties};
use crate::log::config_defs::topic_key_of;
use crate::log::{LogConfig, LogError};

pub(super) const FILE: &str = "dynamic-broker-configs.properties";

/// The two dynamic levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicDefaults {
    /// Resource name "": every broker of the cluster.
    pub cluster: BTreeMap<String, String>,
    /// Resource name = this broker's id.
    pub broker: BTreeMap<String, String>,
}

impl DynamicDefaults {
    /// `static_defaults` with both levels applied (cluster first); the first bad value is
    /// an error in Kafka's ConfigDef wording.
    pub fn apply(&self, static_defaults: &LogConfig) -> Result<LogConfig, String> {
        let mut c = static_defaults.clone();
        for level in [&self.cluster, &self.broker] {
            for (k, v) in level {
                if let Some(topic_key) = topic_key_of(k) {
                    c.set(topic_key, v)
                        .map_err(|e| e.replace(&format!("configuration {topic_key}"), &format!("configuration {k}")))?;
                } else if k == "producer.id.expiration.ms" {
                    c.producer_id_expiration_ms =
                        v.trim().parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                            format!("Invalid value {v} for configuration {k}: Value must be at least 1")
                        })?;
                }
            }
        }
        Ok(c)
    }

    pub(super) fn load(dir: &std::path::Path) -> Result<Self, LogError> {
        let path = dir.join(FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Self::default());
        };
        let props = parse_properties(&text).map_err(|e| LogError::Invalid(format!("{}: {e}", path.display())))?;
        let mut d = Self::default();
        for (k, v) in props {
            if let Some(k) = k.strip_prefix("cluster.") {
                d.cluster.insert(k.to_string(), v);
            } else if let Some(k) = k.strip_prefix("broker.") {
                d.broker.insert(k.to_string(), v);
            }
        }
        Ok(d)
    }

    fn store(&self, dir: &std::path::Path) -> Result<(), LogError> {
        let mut props = BTreeMap::new();
        for (k, v) in &self.cluster {
            props.insert(format!("cluster.{k}"), v.clone());
        }
        for (k, v) in &self.broker {
            props.insert(format!("broker.{k}"), v.clone());
        }
        checkpoint::write_atomic(
            &dir.join(FILE),
            render_properties("brokk dynamic broker configs", &props),
        )
    }
}

impl LogManager {
    /// The dynamic broker configs currently set.
    pub fn dynamic_defaults(&self) -> DynamicDefaults {
        self.dynamic.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces one level (`per_broker`: this broker's, else the cluster default) with
    /// `change(current)`; validated (INVALID_CONFIG with ConfigDef's message), persisted,
    /// then applied to every topic. With `validate_only` nothing changes. Blocking.
    pub fn alter_dynamic_defaults(
        &self,
        per_broker: bool,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
    ) -> Result<(), TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self.dynamic_defaults();
        let level = if per_broker {
            &mut next.broker
        } else {
            &mut next.cluster
        };
        *level = change(level)?;
        let defaults = Arc::new(next.apply(&self.static_defaults).map_err(TopicError::InvalidConfig)?);
        // Every topic must still have a valid config (Kafka checks each one); a conflict
        // would otherwise also stop the next start-up.
        let mut settings = vec![];
        for topic in self.topics() {
            let overrides = topic.overrides();
            let config = defaults
                .with_overrides(&overrides)
                .map_err(|e| TopicError::InvalidConfig(format!("topic {}: {e}", topic.name)))?;
            settings.push((
                topic,
                TopicSettings {
                    overrides,
                    config: Arc::new(config),
                },
            ));
        }
        if validate_only {
            return Ok(());
        }
        next.store(&self.dir)?;
        *self.dynamic.write().unwrap_or_else(|e| e.into_inner()) = next;
        *self.defaults.write().unwrap_or_else(|e| e.into_inner()) = defaults.clone();
        for (topic, s) in settings {
            topic.set_settings(s);
        }
        self.metadata_changed();
        tracing::info!(per_broker, "changed dynamic broker configs");
        Ok(())
    }
}
