//! Leader elections the controller makes when asked (ElectLeaders, Kafka's
//! `ReplicationControlManager.electLeaders`) or on its own (Kafka's automatic leader
//! rebalance: `auto.leader.rebalance.enable`, every `leader.imbalance.check.interval.seconds`):
//! - *preferred*: the partition's first replica leads again if it is in the ISR and may
//!   lead (registered, unfenced, not shutting down); ELECTION_NOT_NEEDED if it leads,
//!   PREFERRED_LEADER_NOT_AVAILABLE if it cannot;
//! - *unclean*: a partition without a leader gets one: an ISR member that may lead, else
//!   (the unclean part, which may give up acknowledged records) the first replica that may
//!   lead, whose ISR is then itself alone; ELECTION_NOT_NEEDED if it has a leader,
//!   ELIGIBLE_LEADERS_NOT_AVAILABLE if no replica may lead.
//!
//! A change of leader bumps the leader epoch (the image does it when it applies the
//! PartitionChangeRecord).

use kafka_protocol::ResponseError;

use super::election::acceptable;
use crate::metadata::MetadataImage;
use crate::metadata::image::PartitionRegistration;
use crate::metadata::records::{MetadataRecord, NO_LEADER, PartitionChangeRecord};

/// ElectLeaders' election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    Preferred,
    Unclean,
}

impl Election {
    /// The wire's election type (0 preferred, 1 unclean).
    pub fn from_wire(kind: i8) -> Option<Self> {
        match kind {
            0 => Some(Election::Preferred),
            1 => Some(Election::Unclean),
            _ => None,
        }
    }
}

/// Why a partition gets no election, with Kafka's message.
pub type Refusal = (ResponseError, &'static str);

const NOT_NEEDED: Refusal = (
    ResponseError::ElectionNotNeeded,
    "Leader election not needed for topic partition.",
);

/// The change electing a leader of `topic_id`'s partition `index` (`p`) by `election`.
pub fn elect(
    image: &MetadataImage,
    topic_id: uuid::Uuid,
    index: i32,
    p: &PartitionRegistration,
    election: Election,
) -> Result<PartitionChangeRecord, Refusal> {
    let mut c = PartitionChangeRecord::new(topic_id, index);
    match election {
        Election::Preferred => {
            let Some(&preferred) = p.replicas.first() else {
                return Err(NOT_NEEDED);
            };
            if p.leader == preferred {
                return Err(NOT_NEEDED);
            }
            if !p.isr.contains(&preferred) || !acceptable(image, preferred) {
                return Err((
                    ResponseError::PreferredLeaderNotAvailable,
                    "The preferred leader was not available.",
                ));
            }
            c.leader = preferred;
        }
        Election::Unclean => {
            if p.leader != NO_LEADER {
                return Err(NOT_NEEDED);
            }
            let clean = p
                .replicas
                .iter()
                .copied()
                .find(|r| p.isr.contains(r) && acceptable(image, *r));
            match clean {
                Some(r) => c.leader = r,
                None => {
                    let r = p.replicas.iter().copied().find(|r| acceptable(image, *r)).ok_or((
                        ResponseError::EligibleLeadersNotAvailable,
                        "Eligible topic partition leaders are not available.",
                    ))?;
                    c.leader = r;
                    c.isr = Some(vec![r]);
                }
            }
        }
    }
    Ok(c)
}

/// The automatic rebalance: every partition whose preferred replica may lead, is in the
/// ISR and does not lead, is led by it again.
pub fn rebalance(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = vec![];
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            if p.leader == NO_LEADER {
                continue;
            }
            if let Ok(c) = elect(image, t.id, *index, p, Election::Preferred) {
                out.push(MetadataRecord::PartitionChange(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::{PartitionRecord, RegisterBrokerRecord, TopicRecord};
    use uuid::Uuid;

    fn image(leader: i32, isr: &[i32], live: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in live {
            let mut b = RegisterBrokerRecord::for_test(*id, 1);
            b.fenced = false;
            image.apply(MetadataRecord::RegisterBroker(b)).unwrap();
        }
        let id = Uuid::from_u128(1);
        image
            .apply(MetadataRecord::Topic(TopicRecord {
                name: "t".into(),
                topic_id: id,
            }))
            .unwrap();
        let mut p = PartitionRecord::new(id, 0, vec![1, 2, 3]);
        p.leader = leader;
        p.isr = isr.to_vec();
        image.apply(MetadataRecord::Partition(p)).unwrap();
        image
    }

    fn run(image: &MetadataImage, e: Election) -> Result<PartitionChangeRecord, Refusal> {
        let t = image.topic("t").unwrap();
        elect(image, t.id, 0, &t.partitions[&0], e)
    }

    #[test]
    fn the_preferred_replica_leads_again_when_it_is_in_sync() {
        let i = image(2, &[1, 2, 3], &[1, 2, 3]);
        assert_eq!(run(&i, Election::Preferred).unwrap().leader, 1);
        assert_eq!(rebalance(&i).len(), 1);
        // Out of the ISR, or fenced: not available.
        let i = image(2, &[2, 3], &[1, 2, 3]);
        assert_eq!(
            run(&i, Election::Preferred).unwrap_err().0,
            ResponseError::PreferredLeaderNotAvailable
        );
        assert!(rebalance(&i).is_empty());
        let i = image(2, &[1, 2, 3], &[2, 3]);
        assert_eq!(
            run(&i, Election::Preferred).unwrap_err().0,
            ResponseError::PreferredLeaderNotAvailable
        );
        // Already leading.
        let i = image(1, &[1, 2, 3], &[1, 2, 3]);
        assert_eq!(
            run(&i, Election::Preferred).unwrap_err().0,
            ResponseError::ElectionNotNeeded
        );
    }

    #[test]
    fn unclean_election_takes_an_out_of_sync_replica_only_when_no_isr_member_may_lead() {
        // A leader: nothing to do.
        let i = image(2, &[2], &[1, 2, 3]);
        assert_eq!(
            run(&i, Election::Unclean).unwrap_err().0,
            ResponseError::ElectionNotNeeded
        );
        // No leader, the ISR's only member is gone: the first live replica, alone in the ISR.
        let i = image(NO_LEADER, &[3], &[1, 2]);
        let c = run(&i, Election::Unclean).unwrap();
        assert_eq!((c.leader, c.isr), (1, Some(vec![1])));
        // No leader, an ISR member is live: the clean choice.
        let i = image(NO_LEADER, &[2, 3], &[2, 3]);
        let c = run(&i, Election::Unclean).unwrap();
        assert_eq!((c.leader, c.isr), (2, None));
        // Nobody live.
        let i = image(NO_LEADER, &[3], &[]);
        assert_eq!(
            run(&i, Election::Unclean).unwrap_err().0,
            ResponseError::EligibleLeadersNotAvailable
        );
    }
}
