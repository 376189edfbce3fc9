//! Metadata's topics in a cluster: a topic of the metadata image as Kafka's brokers
//! describe it (`KRaftMetadataCache`): each partition's leader, leader epoch, replicas and
//! ISR from the image; a partition without a live leader has LEADER_NOT_AVAILABLE and
//! leader -1; replicas on brokers that are not live are offline.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};

use super::metadata::topic_header;
use crate::metadata::image::TopicImage;

/// The response entry of `t`; `live` are the unfenced brokers.
pub fn topic_response(t: &TopicImage, live: &BTreeSet<i32>, include_ops: bool, version: i16) -> MetadataResponseTopic {
    let mut r = topic_header(&t.name, t.id, include_ops, version);
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    r.partitions = t
        .partitions
        .iter()
        .map(|(index, p)| {
            let mut pr = MetadataResponsePartition::default();
            pr.partition_index = *index;
            if live.contains(&p.leader) {
                pr.leader_id = BrokerId(p.leader);
            } else {
                pr.leader_id = BrokerId(-1);
                pr.error_code = ResponseError::LeaderNotAvailable.code();
            }
            if version >= 7 {
                pr.leader_epoch = p.leader_epoch;
            }
            pr.replica_nodes = ids(&p.replicas);
            pr.isr_nodes = ids(&p.isr);
            if version >= 5 {
                let offline: Vec<i32> = p.replicas.iter().copied().filter(|b| !live.contains(b)).collect();
                pr.offline_replicas = ids(&offline);
            }
            pr
        })
        .collect();
    r
}
