//! Config changes as the active controller decides them (Kafka's
//! `ConfigurationControlManager.incrementalAlterConfigs`):
//! - TOPIC: the topic must exist, the resulting overrides must be valid against the broker
//!   defaults, and each key that changes is one ConfigRecord (a null value removes the
//!   override);
//! - BROKER: the cluster-wide dynamic defaults (name "") or one broker's (its id), each key
//!   that changes one ConfigRecord; the broker that forwarded them checked the values
//!   against its static configuration, and every broker applies them from the image.
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
use crate::metadata::image::{BROKER_RESOURCE, TOPIC_RESOURCE};
use crate::metadata::records::{ConfigRecord, MetadataRecord};

/// The dynamic cluster-wide broker config `key` (resource BROKER, name ""), if set.
pub fn cluster_default<'a>(image: &'a MetadataImage, key: &str) -> Option<&'a String> {
    image.configs.get(&(BROKER_RESOURCE, String::new()))?.get(key)
}

/// Topic `name`'s effective `unclean.leader.election.enable`: its override in the image,
/// else the dynamic cluster default, else the controller's static broker default (Kafka's
/// `uncleanLeaderElectionEnabledForTopic`).
pub fn unclean_enabled(image: &MetadataImage, defaults: &LogConfig, name: &str) -> bool {
    // Parsed as Kafka's Boolean.parseBoolean (and LogConfig) parse it.
    let fallback = match cluster_default(image, "unclean.leader.election.enable").map(|v| v.trim().to_ascii_lowercase())
    {
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        _ => defaults.unclean_leader_election_enable,
    };
    match image.configs.get(&(TOPIC_RESOURCE, name.to_string())) {
        Some(overrides) if overrides.contains_key("unclean.leader.election.enable") => defaults
            .with_overrides(overrides)
            .map_or(fallback, |c| c.unclean_leader_election_enable),
        _ => fallback,
    }
}

/// The records setting (`Some`) or removing (`None`) `changes` of the dynamic broker
/// configs `name` ("" for the cluster default, else a broker id).
pub fn alter_broker(
    image: &MetadataImage,
    name: &str,
    changes: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, Refusal> {
    if !name.is_empty() && name.parse::<i32>().is_err() {
        return Err(Refusal {
            error: ResponseError::InvalidRequest,
            message: format!("Node id must be an integer, but it is: {name}"),
        });
    }
    let current: BTreeMap<String, String> = image
        .configs
        .get(&(BROKER_RESOURCE, name.to_string()))
        .cloned()
        .unwrap_or_default();
    let mut records = vec![];
    for (k, v) in changes {
        if current.get(k) != v.as_ref() {
            records.push(MetadataRecord::Config(ConfigRecord {
                resource_type: BROKER_RESOURCE,
                resource_name: name.to_string(),
                name: k.clone(),
                value: v.clone(),
            }));
        }
    }
    Ok(records)
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

#[cfg(test)]
mod broker_tests {
    use super::*;

    fn apply(image: &mut MetadataImage, records: Vec<MetadataRecord>) {
        for r in records {
            image.apply(r).unwrap();
        }
    }

    #[test]
    fn the_cluster_default_decides_unclean_elections_where_a_topic_does_not() {
        let mut image = MetadataImage::default();
        let d = LogConfig::default();
        assert!(!unclean_enabled(&image, &d, "t"));
        let on = vec![("unclean.leader.election.enable".to_string(), Some("true".to_string()))];
        let records = alter_broker(&image, "", &on).unwrap();
        assert_eq!(records.len(), 1);
        apply(&mut image, records);
        assert!(unclean_enabled(&image, &d, "t"));
        // Setting it again writes nothing; a topic's own override wins.
        assert!(alter_broker(&image, "", &on).unwrap().is_empty());
        image
            .apply(MetadataRecord::Config(ConfigRecord {
                resource_type: TOPIC_RESOURCE,
                resource_name: "t".into(),
                name: "unclean.leader.election.enable".into(),
                value: Some("false".into()),
            }))
            .unwrap();
        assert!(!unclean_enabled(&image, &d, "t"));
        assert!(unclean_enabled(&image, &d, "other"));
        // Removed, the static default decides again; a broker name must be an id.
        let off = vec![("unclean.leader.election.enable".to_string(), None)];
        let records = alter_broker(&image, "", &off).unwrap();
        apply(&mut image, records);
        assert!(!unclean_enabled(&image, &d, "other"));
        assert_eq!(
            alter_broker(&image, "x", &off).unwrap_err().error,
            ResponseError::InvalidRequest
        );
    }
}
