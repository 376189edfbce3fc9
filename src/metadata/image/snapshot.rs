//! The records that rebuild an image from nothing: what a metadata snapshot holds, in
//! Kafka's order (features, with `metadata.version` first; brokers; controllers; topics,
//! each followed by its partitions; configs; the records brokk keeps uninterpreted, in log
//! order; the producer-id block; an open metadata transaction's records after a
//! BeginTransactionRecord).

use super::super::records::{
    ConfigRecord, FeatureLevelRecord, MetadataRecord, ProducerIdsRecord, RegisterBrokerRecord, TopicRecord,
};
use super::{BrokerRegistration, METADATA_VERSION, MetadataImage};

impl BrokerRegistration {
    /// The record that registers this broker as it is now (fenced or not).
    pub fn to_record(&self) -> RegisterBrokerRecord {
        RegisterBrokerRecord {
            broker_id: self.id,
            is_migrating_zk_broker: false,
            incarnation_id: self.incarnation_id,
            broker_epoch: self.epoch,
            end_points: self.endpoints.clone(),
            features: self.features.clone(),
            rack: self.rack.clone(),
            fenced: self.fenced,
            in_controlled_shutdown: self.in_controlled_shutdown,
            log_dirs: self.log_dirs.clone(),
        }
    }
}

impl MetadataImage {
    /// Records that, applied to an empty image, give this one.
    pub fn records(&self) -> Vec<MetadataRecord> {
        let mut out = vec![];
        let feature = |(name, level): (&String, &i16)| {
            MetadataRecord::FeatureLevel(FeatureLevelRecord {
                name: name.clone(),
                feature_level: *level,
            })
        };
        out.extend(self.features.get_key_value(METADATA_VERSION).map(feature));
        out.extend(
            self.features
                .iter()
                .filter(|(n, _)| *n != METADATA_VERSION)
                .map(feature),
        );
        out.extend(
            self.brokers
                .values()
                .map(|b| MetadataRecord::RegisterBroker(b.to_record())),
        );
        out.extend(
            self.controllers
                .values()
                .cloned()
                .map(MetadataRecord::RegisterController),
        );
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic(TopicRecord {
                name: t.name.clone(),
                topic_id: t.id,
            }));
            out.extend(
                t.partitions
                    .iter()
                    .map(|(i, p)| MetadataRecord::Partition(p.to_record(t.id, *i))),
            );
        }
        for ((resource_type, resource_name), configs) in &self.configs {
            out.extend(configs.iter().map(|(name, value)| {
                MetadataRecord::Config(ConfigRecord {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                })
            }));
        }
        out.extend(self.other.iter().cloned());
        if let Some(next_producer_id) = self.next_producer_id {
            // The block's owner is not part of the image; the next block is what matters.
            out.push(MetadataRecord::ProducerIds(ProducerIdsRecord {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id,
            }));
        }
        if let Some(pending) = &self.pending {
            // A snapshot taken inside a metadata transaction keeps it open: the entries
            // after the snapshot end (or abort) it.
            out.push(MetadataRecord::BeginTransaction(Default::default()));
            out.extend(pending.iter().cloned());
        }
        out
    }
}
