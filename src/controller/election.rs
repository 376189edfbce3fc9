//! Leaders and in-sync replicas when a broker goes or comes back, as Kafka's
//! `ReplicationControlManager` (`handleBrokerFenced`, `handleBrokerInControlledShutdown`,
//! `handleBrokerUnfenced`) and `PartitionChangeBuilder` decide them, without unclean
//! election:
//! - a broker that goes leaves every ISR it is in, except as the last member (the ISR
//!   keeps it, so no acknowledged data is given up); where it led, the first other ISR
//!   member (in replica order) that is unfenced and not shutting down leads, or none;
//! - a broker that comes back leads the partitions without a leader whose ISR holds it.
//!
//! A change of leader bumps the leader epoch (the image does it when it applies the
//! PartitionChangeRecord); every change bumps the partition epoch.

use crate::metadata::MetadataImage;
use crate::metadata::records::{MetadataRecord, NO_LEADER, NO_LEADER_CHANGE, PartitionChangeRecord};

/// `id` may lead: registered, unfenced and not in controlled shutdown.
pub(super) fn acceptable(image: &MetadataImage, id: i32) -> bool {
    image
        .brokers
        .get(&id)
        .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
}

/// The changes when broker `gone` is fenced or starts a controlled shutdown.
pub fn without_broker(image: &MetadataImage, gone: i32) -> Vec<MetadataRecord> {
    let mut out = vec![];
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            if !p.isr.contains(&gone) && p.leader != gone {
                continue;
            }
            let mut isr: Vec<i32> = p.isr.iter().copied().filter(|r| *r != gone).collect();
            if isr.is_empty() {
                isr = p.isr.clone();
            }
            let leader = if p.leader == gone || p.leader == NO_LEADER {
                p.replicas
                    .iter()
                    .copied()
                    .find(|r| *r != gone && isr.contains(r) && acceptable(image, *r))
                    .unwrap_or(NO_LEADER)
            } else {
                p.leader
            };
            let mut c = PartitionChangeRecord::new(t.id, *index);
            if isr != p.isr {
                c.isr = Some(isr);
            }
            if leader != p.leader {
                c.leader = leader;
            }
            if c.isr.is_some() || c.leader != NO_LEADER_CHANGE {
                out.push(MetadataRecord::PartitionChange(c));
            }
        }
    }
    out
}

/// The changes when broker `back` is unfenced (`image` already shows it unfenced).
pub fn with_broker(image: &MetadataImage, back: i32) -> Vec<MetadataRecord> {
    let mut out = vec![];
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            if p.leader != NO_LEADER || !p.isr.contains(&back) {
                continue;
            }
            let leader = p
                .replicas
                .iter()
                .copied()
                .find(|r| p.isr.contains(r) && acceptable(image, *r));
            if let Some(leader) = leader {
                let mut c = PartitionChangeRecord::new(t.id, *index);
                c.leader = leader;
                out.push(MetadataRecord::PartitionChange(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
