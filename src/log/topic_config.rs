//! Changing a topic's dynamic config (AlterConfigs, IncrementalAlterConfigs): the new
//! overrides are validated against the broker defaults, committed by rewriting the topic
//! file, then installed on every partition, where the next append, roll, read or retention
//! pass sees them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{LogManager, TopicError, TopicSettings};
use crate::log::LogConfig;

impl LogManager {
    /// Replaces `name`'s overrides with `change(current overrides)`, under the topic admin
    /// lock so that concurrent changes never lose each other's keys. With `validate_only`
    /// nothing is written. Returns the effective config. Blocking (file write): call from
    /// `spawn_blocking`.
    pub fn alter_topic_config(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
    ) -> Result<Arc<LogConfig>, TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self.topic(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let overrides = change(&topic.overrides())?;
        let config = Arc::new(
            self.defaults()
                .with_overrides(&overrides)
                .map_err(TopicError::InvalidConfig)?,
        );
        if validate_only {
            return Ok(config);
        }
        self.write_topic_file(
            &topic.name,
            topic.id,
            topic.partitions.len() as i32,
            crate::log::manager::hosted_list(&topic.partitions).as_deref(),
            &overrides,
        )?;
        topic.set_settings(TopicSettings {
            overrides,
            config: config.clone(),
        });
        self.metadata_changed();
        tracing::info!(topic = %name, "changed topic config");
        Ok(config)
    }
}
