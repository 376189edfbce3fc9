//! Topic config changes as the active controller decides them (Kafka's
//! `ConfigurationControlManager.incrementalAlterConfigs` for TOPIC resources): the topic
//! must exist, the resulting overrides must be valid against the broker defaults, and
//! each key that changes is one ConfigRecord (a null value removes the override).
//!
//! Brokers turn AlterConfigs and IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT)
//! into the keys to set or remove against the image they have, and forward those.
//!
//! Owns: the decisions. Must not propose (that is `active.rs`) nor touch logs.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use super::brokers::Refusal;
use crate::log::LogConfig;
use crate::metadata::MetadataImage;
use crate::metadata::image::TOPIC_RESOURCE;
use crate::metadata::records::{ConfigRecord, MetadataRecord};

/// Topic `name`'s effective `unclean.leader.election.enable`: its override in the image,
/// else the broker default (Kafka's `uncleanLeaderElectionEnabledForTopic`).
pub fn unclean_enabled(image: &MetadataImage, defaults: &LogConfig, name: &str) -> bool {
    match image.configs.get(&(TOPIC_RESOURCE, name.to_string())) {
        Some(overrides) => defaults
            .with_overrides(overrides)
            .map_or(defaults.unclean_leader_election_enable, |c| {
                c.unclean_leader_election_enable
            }),
        None => defaults.unclean_leader_election_enable,
    }
}

/// The records setting (`Some`) or removing (`None`) `changes` of topic `name`'s overrides.
pub fn alter_topic(
    image: &MetadataImage,
    defaults: &LogConfig,
    name: &str,
    changes: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, Refusal> {
    if image.topic(name).is_none() {
        return Err(Refusal {
            error: ResponseError::UnknownTopicOrPartition,
            message: format!("The topic '{name}' does not exist."),
        });
    }
    let current: BTreeMap<String, String> = image
        .configs
        .get(&(TOPIC_RESOURCE, name.to_string()))
        .cloned()
        .unwrap_or_default();
    let mut next = current.clone();
    for (k, v) in changes {
        match v {
            Some(v) => next.insert(k.clone(), v.clone()),
            None => next.remove(k),
        };
    }
    defaults.with_overrides(&next).map_err(|m| Refusal {
        error: ResponseError::InvalidConfig,
        message: m,
    })?;
    let mut keys: Vec<&String> = current.keys().chain(next.keys()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| current.get(*k) != next.get(*k))
        .map(|k| {
            MetadataRecord::Config(ConfigRecord {
                resource_type: TOPIC_RESOURCE,
                resource_name: name.to_string(),
                name: k.clone(),
                value: next.get(k).cloned(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::TopicRecord;

    #[test]
    fn only_changed_keys_are_written_and_invalid_values_refused() {
        let mut image = MetadataImage::default();
        image
            .apply(MetadataRecord::Topic(TopicRecord {
                name: "t".into(),
                topic_id: uuid::Uuid::from_u128(1),
            }))
            .unwrap();
        let set = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
        let d = LogConfig::default();
        let r = alter_topic(&image, &d, "t", &[set("retention.ms", "1000")]).unwrap();
        assert_eq!(r.len(), 1);
        for rec in r {
            image.apply(rec).unwrap();
        }
        // The same value again: nothing; a removal: a null value.
        assert!(
            alter_topic(&image, &d, "t", &[set("retention.ms", "1000")])
                .unwrap()
                .is_empty()
        );
        let r = alter_topic(&image, &d, "t", &[("retention.ms".into(), None)]).unwrap();
        assert!(matches!(&r[..], [MetadataRecord::Config(c)] if c.value.is_none()));
        let bad = alter_topic(&image, &d, "t", &[set("retention.ms", "soon")]).unwrap_err();
        assert_eq!(bad.error, ResponseError::InvalidConfig);
        let gone = alter_topic(&image, &d, "nope", &[]).unwrap_err();
        assert_eq!(gone.error, ResponseError::UnknownTopicOrPartition);
    }
}
