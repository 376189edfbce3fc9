//! Leaders and in-sync replicas when a broker goes or comes back, as Kafka's
//! `ReplicationControlManager` (`handleBrokerFenced`, `handleBrokerInControlledShutdown`,
//! `handleBrokerUnfenced`, all through `generateLeaderAndIsrUpdates`) decides them, each
//! partition's change built by `change.rs`:
//! - a broker that goes leaves every ISR it is in, except as the last member (the ISR
//!   keeps it, so no acknowledged data is given up); where it led, the first other ISR
//!   member (in replica order) that is unfenced and not shutting down leads, or, if the
//!   topic allows unclean elections (`unclean.leader.election.enable`), the first replica
//!   that may lead, alone in the ISR; or none;
//! - a broker that comes back: every partition without a leader gets one the same way (it
//!   may be the broker that came back).
//!
//! A change of leader bumps the leader epoch (the image does it when it applies the
//! PartitionChangeRecord); every change bumps the partition epoch.

use super::change::{Election, PartitionChange};
use super::configs::unclean_enabled;
use crate::log::LogConfig;
use crate::metadata::MetadataImage;
use crate::metadata::records::{MetadataRecord, NO_LEADER};

/// `id` may lead: registered, unfenced and not in controlled shutdown.
pub(super) fn acceptable(image: &MetadataImage, id: i32) -> bool {
    image
        .brokers
        .get(&id)
        .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
}

/// The election `topic` allows when it has no ISR member to elect.
pub(super) fn election_for(image: &MetadataImage, defaults: &LogConfig, topic: &str) -> Election {
    if unclean_enabled(image, defaults, topic) {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// The changes when broker `gone` is fenced or starts a controlled shutdown (`defaults`:
/// the broker's topic config defaults, for `unclean.leader.election.enable`).
pub fn without_broker(image: &MetadataImage, gone: i32, defaults: &LogConfig) -> Vec<MetadataRecord> {
    let may_lead = |r: i32| r != gone && acceptable(image, r);
    let mut out = vec![];
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            if !p.isr.contains(&gone) && p.leader != gone {
                continue;
            }
            let isr: Vec<i32> = p.isr.iter().copied().filter(|r| *r != gone).collect();
            let change = PartitionChange::new(p, t.id, *index, &may_lead)
                .election(election_for(image, defaults, &t.name))
                .isr(isr)
                .build();
            out.extend(change.map(MetadataRecord::PartitionChange));
        }
    }
    out
}

/// The changes when a broker is unfenced (`image` already shows it unfenced): every
/// partition without a leader elects one, as Kafka's `handleBrokerUnfenced`.
pub fn with_broker(image: &MetadataImage, defaults: &LogConfig) -> Vec<MetadataRecord> {
    leaderless(image, defaults, |_| true)
}

/// Elections for the partitions without a leader of the topics `which` names (each as its
/// topic allows).
pub fn leaderless(image: &MetadataImage, defaults: &LogConfig, which: impl Fn(&str) -> bool) -> Vec<MetadataRecord> {
    let may_lead = |r: i32| acceptable(image, r);
    let mut out = vec![];
    for t in image.topics.values().filter(|t| which(&t.name)) {
        for (index, p) in t.partitions.iter().filter(|(_, p)| p.leader == NO_LEADER) {
            let change = PartitionChange::new(p, t.id, *index, &may_lead)
                .election(election_for(image, defaults, &t.name))
                .build();
            out.extend(change.map(MetadataRecord::PartitionChange));
        }
    }
    out
}

#[cfg(test)]
mod tests;
