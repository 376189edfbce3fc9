//! The metadata image: the cluster's state (features, brokers, controllers, topics and
//! partitions, configs, the next producer-id block) built by applying metadata records in
//! log order, as Kafka's `MetadataImage` / `MetadataDelta`.
//!
//! Owns: applying records. Must not read or write files (that is `log_reader`) nor decide
//! anything (that is the controller's): a record that does not fit the image (a partition
//! of an unknown topic, a change of an unknown partition) is an error, as in Kafka.
//!
//! Records between BeginTransactionRecord and EndTransactionRecord apply together at the
//! end (an AbortTransactionRecord drops them), so no reader sees half a transaction.

mod broker;
mod partition;
mod snapshot;

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

pub use broker::BrokerRegistration;
pub use partition::{MIGRATING_DIRECTORY, PartitionRegistration};

use super::records::{FENCE, MetadataRecord, RegisterControllerRecord, UNFENCE};

/// A record the image cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata record does not apply: {0}")]
pub struct ImageError(pub String);

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// A config resource: (ConfigResource.Type id, name).
pub type ConfigResource = (i8, String);

/// The cluster's metadata, as of the last record applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Finalized feature levels (`metadata.version`, `transaction.version`, ...).
    pub features: BTreeMap<String, i16>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub controllers: BTreeMap<i32, RegisterControllerRecord>,
    pub topics: BTreeMap<Uuid, TopicImage>,
    pub topic_ids: HashMap<String, Uuid>,
    pub configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    /// The first producer id of the next block the controller gives out (None before the
    /// first block; Kafka's -1).
    pub next_producer_id: Option<i64>,
    /// The records brokk does not interpret yet (ACLs, SCRAM credentials, client quotas,
    /// delegation tokens: issue 17), verbatim in log order, removals included, so that a
    /// snapshot replays them to the same state.
    pub other: Vec<MetadataRecord>,
    /// Records of an open metadata transaction, applied at its end.
    pending: Option<Vec<MetadataRecord>>,
}

impl MetadataImage {
    /// The topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// A metadata transaction is open (its records are not applied yet).
    pub fn in_transaction(&self) -> bool {
        self.pending.is_some()
    }

    /// Applies one record (buffered while a metadata transaction is open).
    pub fn apply(&mut self, record: MetadataRecord) -> Result<(), ImageError> {
        match (record, &mut self.pending) {
            (MetadataRecord::BeginTransaction(_), Some(_)) => {
                Err(ImageError("BeginTransactionRecord inside a transaction".into()))
            }
            (MetadataRecord::BeginTransaction(_), None) => {
                self.pending = Some(vec![]);
                Ok(())
            }
            (MetadataRecord::EndTransaction(_), pending) => {
                let records = pending
                    .take()
                    .ok_or_else(|| ImageError("EndTransactionRecord outside a transaction".into()))?;
                // All or nothing: apply to a copy, keep it only if every record applied.
                let mut next = self.clone();
                for r in records {
                    next.apply_now(r)?;
                }
                *self = next;
                Ok(())
            }
            (MetadataRecord::AbortTransaction(_), pending) => pending
                .take()
                .map(drop)
                .ok_or_else(|| ImageError("AbortTransactionRecord outside a transaction".into())),
            (record, Some(pending)) => {
                pending.push(record);
                Ok(())
            }
            (record, None) => self.apply_now(record),
        }
    }

    fn apply_now(&mut self, record: MetadataRecord) -> Result<(), ImageError> {
        match record {
            // Kafka's image ignores kraft.version levels (the quorum's own feature, which
            // older releases wrote by mistake: KAFKA-18979).
            MetadataRecord::FeatureLevel(f) if f.name == KRAFT_VERSION => {}
            MetadataRecord::FeatureLevel(f) if f.name == METADATA_VERSION && f.feature_level < 1 => {
                return Err(ImageError(format!("metadata.version level {}", f.feature_level)));
            }
            MetadataRecord::FeatureLevel(f) => {
                if f.feature_level == 0 {
                    self.features.remove(&f.name);
                } else {
                    self.features.insert(f.name, f.feature_level);
                }
            }
            MetadataRecord::RegisterBroker(b) => {
                self.brokers.insert(b.broker_id, b.into());
            }
            MetadataRecord::UnregisterBroker(u) => {
                if self
                    .brokers
                    .get(&u.broker_id)
                    .is_some_and(|b| b.epoch == u.broker_epoch)
                {
                    self.brokers.remove(&u.broker_id);
                } else {
                    return Err(ImageError(format!(
                        "unregistration of broker {} epoch {}, not registered",
                        u.broker_id, u.broker_epoch
                    )));
                }
            }
            MetadataRecord::FenceBroker(f) => self.broker_mut(f.id, f.epoch)?.fenced = true,
            MetadataRecord::UnfenceBroker(f) => self.broker_mut(f.id, f.epoch)?.fenced = false,
            MetadataRecord::BrokerRegistrationChange(c) => {
                let b = self.broker_mut(c.broker_id, c.broker_epoch)?;
                match c.fenced {
                    FENCE => b.fenced = true,
                    UNFENCE => b.fenced = false,
                    0 => {}
                    v => return Err(ImageError(format!("fencing change {v}"))),
                }
                match c.in_controlled_shutdown {
                    1 => b.in_controlled_shutdown = true,
                    0 => {}
                    v => return Err(ImageError(format!("controlled shutdown change {v}"))),
                }
                if !c.log_dirs.is_empty() {
                    b.log_dirs = c.log_dirs;
                    b.log_dirs.sort();
                }
            }
            MetadataRecord::RegisterController(c) => {
                self.controllers.insert(c.controller_id, c);
            }
            MetadataRecord::Topic(t) => {
                if self.topic_ids.contains_key(&t.name) || self.topics.contains_key(&t.topic_id) {
                    return Err(ImageError(format!("topic {} ({}) exists", t.name, t.topic_id)));
                }
                self.topic_ids.insert(t.name.clone(), t.topic_id);
                self.topics.insert(
                    t.topic_id,
                    TopicImage {
                        name: t.name,
                        id: t.topic_id,
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition(p) => {
                let (id, topic) = (p.partition_id, self.topic_mut(p.topic_id)?);
                let registration = PartitionRegistration::from(p);
                registration
                    .check()
                    .map_err(|e| ImageError(format!("{}-{id}: {e}", topic.name)))?;
                topic.partitions.insert(id, registration);
            }
            MetadataRecord::PartitionChange(c) => {
                let topic = self.topic_mut(c.topic_id)?;
                let name = topic.name.clone();
                let p = topic
                    .partitions
                    .get_mut(&c.partition_id)
                    .ok_or_else(|| ImageError(format!("change of unknown partition {name}-{}", c.partition_id)))?;
                let mut changed = p.clone();
                changed.merge(&c);
                changed
                    .check()
                    .map_err(|e| ImageError(format!("{name}-{}: {e}", c.partition_id)))?;
                *p = changed;
            }
            MetadataRecord::RemoveTopic(r) => {
                let topic = self
                    .topics
                    .remove(&r.topic_id)
                    .ok_or_else(|| ImageError(format!("removal of unknown topic {}", r.topic_id)))?;
                self.topic_ids.remove(&topic.name);
                self.configs.remove(&(TOPIC_RESOURCE, topic.name));
            }
            MetadataRecord::ClearElr(c) => {
                let named = self.topic_ids.get(&c.topic_name).copied();
                if !c.topic_name.is_empty() && named.is_none() {
                    return Err(ImageError(format!("ELR clearing of unknown topic {}", c.topic_name)));
                }
                for topic in self.topics.values_mut().filter(|t| named.is_none_or(|id| id == t.id)) {
                    for p in topic.partitions.values_mut() {
                        if !p.eligible_leader_replicas.is_empty() || !p.last_known_elr.is_empty() {
                            let mut c = super::records::PartitionChangeRecord::new(topic.id, 0);
                            c.eligible_leader_replicas = Some(vec![]);
                            c.last_known_elr = Some(vec![]);
                            p.merge(&c);
                        }
                    }
                }
            }
            MetadataRecord::Config(c) => {
                let key = (c.resource_type, c.resource_name);
                match c.value {
                    Some(v) => {
                        self.configs.entry(key).or_default().insert(c.name, v);
                    }
                    None => {
                        if let Some(m) = self.configs.get_mut(&key) {
                            m.remove(&c.name);
                            if m.is_empty() {
                                self.configs.remove(&key);
                            }
                        }
                    }
                }
            }
            // As Kafka's image: the controller checks that blocks only go up.
            MetadataRecord::ProducerIds(p) => self.next_producer_id = Some(p.next_producer_id),
            MetadataRecord::NoOp(_) => {}
            other @ MetadataRecord::Other { .. } => self.other.push(other),
            MetadataRecord::BeginTransaction(_)
            | MetadataRecord::EndTransaction(_)
            | MetadataRecord::AbortTransaction(_) => {
                return Err(ImageError("a metadata transaction inside a transaction".into()));
            }
        }
        Ok(())
    }

    fn broker_mut(&mut self, id: i32, epoch: i64) -> Result<&mut BrokerRegistration, ImageError> {
        self.brokers
            .get_mut(&id)
            .filter(|b| b.epoch == epoch)
            .ok_or_else(|| ImageError(format!("broker {id} epoch {epoch} is not registered")))
    }

    fn topic_mut(&mut self, id: Uuid) -> Result<&mut TopicImage, ImageError> {
        self.topics
            .get_mut(&id)
            .ok_or_else(|| ImageError(format!("unknown topic id {id}")))
    }
}

/// The feature every other depends on: it cannot be turned off.
const METADATA_VERSION: &str = "metadata.version";
/// The quorum's feature, not the image's.
const KRAFT_VERSION: &str = "kraft.version";

/// ConfigResource.Type of a topic.
pub const TOPIC_RESOURCE: i8 = 2;
/// ConfigResource.Type of a broker ("" for the cluster default).
pub const BROKER_RESOURCE: i8 = 4;

#[cfg(test)]
mod tests;
