//! Adding partitions to a topic (CreatePartitions): grow only, committed by rewriting the
//! topic file once the new partitions' directories are durable, as topic creation is.

use std::sync::Arc;

use super::{LogManager, MAX_PARTITIONS_PER_TOPIC, TopicError, TopicLog};

/// New partitions one request may add (Kafka's per-operation record limit).
pub const MAX_NEW_PARTITIONS: i32 = 10_000;

impl LogManager {
    /// A cluster's topic `name` as the image now assigns it here: `count` partitions (grown
    /// by CreatePartitions), of which this broker hosts `hosted` (changed by reassignments).
    /// New hosted partitions are created as empty replicas (their role comes from the
    /// image); partitions hosted no more are removed: the topic file, rewritten, is the
    /// commit point, then their data is deleted. Blocking.
    pub fn follow_assignment(&self, name: &str, count: i32, hosted: &[i32]) -> Result<Arc<TopicLog>, TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self.topic(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        let here = topic.partitions.indexes();
        let new: Vec<i32> = hosted
            .iter()
            .copied()
            .filter(|p| (0..count.max(current)).contains(p) && !here.contains(p))
            .collect();
        let gone: Vec<i32> = here.iter().copied().filter(|p| !hosted.contains(p)).collect();
        if !topic.partitions.is_managed() || (count <= current && new.is_empty() && gone.is_empty()) {
            return Ok(topic);
        }
        let settings = topic.settings();
        let mut placed = self.partitions_per_dir();
        let mut added = vec![];
        for p in new.iter().copied() {
            added.push(self.new_partition(&topic.name, topic.id, p, &settings.config, &mut placed, true)?);
        }
        self.sync_dirs_of(&added)?;
        let count = count.max(current);
        let partitions = topic.partitions.reassigned(count as usize, added, &gone);
        let next = self.install_grown(&topic, count, partitions, settings)?;
        let removed: Vec<Arc<super::Partition>> = gone
            .iter()
            .filter_map(|i| topic.partitions.by_index(*i).cloned())
            .collect();
        self.delete_partition_data(topic.id, &removed);
        tracing::info!(topic = %name, from = current, to = count, added = ?new, removed = ?gone, "the topic follows the metadata image's assignment");
        Ok(next)
    }

    /// Grows `name` to `count` partitions (Kafka's checks and messages); with
    /// `validate_only` nothing is created. Blocking (file creation): call from
    /// `spawn_blocking`.
    pub fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<Arc<TopicLog>, TopicError> {
        let _g = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self.topic(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        if count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {current} partition(s)."
            )));
        }
        if count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "The topic {name} currently has {current} partition(s); {count} would not be an increase."
            )));
        }
        if count > MAX_PARTITIONS_PER_TOPIC {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions {count} exceeds this broker's limit of {MAX_PARTITIONS_PER_TOPIC} per topic."
            )));
        }
        if count - current > MAX_NEW_PARTITIONS {
            return Err(TopicError::InvalidPartitions(
                "Excessively large number of partitions per request.".into(),
            ));
        }
        // Kafka allows it, but a group's or transactional id's coordinator partition is a
        // hash modulo the partition count: growing these topics would strand their state.
        if crate::log::internal::is_internal(name) {
            return Err(TopicError::InvalidPartitions(format!(
                "brokk does not move coordinator state: the partitions of internal topic {name} cannot be increased."
            )));
        }
        if validate_only {
            return Ok(topic);
        }
        let settings = topic.settings();
        let mut partitions = topic.partitions.clone();
        let mut placed = self.partitions_per_dir();
        let mut added = vec![];
        for p in current..count {
            added.push(self.new_partition(&topic.name, topic.id, p, &settings.config, &mut placed, false)?);
        }
        self.sync_dirs_of(&added)?;
        added.into_iter().for_each(|p| partitions.push(p));
        let grown = self.install_grown(&topic, count, partitions, settings)?;
        tracing::info!(topic = %name, from = current, to = count, "added partitions");
        Ok(grown)
    }

    /// Commits `topic` as `count` partitions, `partitions` hosted (the new ones' directories
    /// durable), by rewriting its topic file, then serves it.
    fn install_grown(
        &self,
        topic: &TopicLog,
        count: i32,
        partitions: super::PartitionSet,
        settings: super::TopicSettings,
    ) -> Result<Arc<TopicLog>, TopicError> {
        self.write_topic_file(
            &topic.name,
            topic.id,
            count,
            crate::log::manager::hosted_list(&partitions).as_deref(),
            &settings.overrides,
        )?;
        let grown = Arc::new(TopicLog::new(topic.name.clone(), topic.id, settings, partitions));
        self.topics.insert(topic.name.clone(), grown.clone());
        self.metadata_changed();
        Ok(grown)
    }
}
