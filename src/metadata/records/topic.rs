//! Topic and partition records: TopicRecord (2), PartitionRecord (3), PartitionChangeRecord
//! (5), RemoveTopicRecord (9), ClearElrRecord (28).

use uuid::Uuid;

use super::super::wire::{Reader, WireError, Writer, encoded, tagged_value};
use super::{RecordBody, read_tags, since};

/// TopicRecord: a topic was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: Uuid,
}

impl RecordBody for TopicRecord {
    const API_KEY: u16 = 2;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.string(&self.name).uuid(&self.topic_id).no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = TopicRecord {
            name: r.string()?,
            topic_id: r.uuid()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

/// PartitionRecord: a partition's whole registration (created, or in a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    pub partition_id: i32,
    pub topic_id: Uuid,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub leader: i32,
    /// Tag 0: 1 while a leader elected uncleanly is recovering.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// v1+: each replica's log directory, in replica order.
    pub directories: Vec<Uuid>,
    /// v2+, tag 1.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// v2+, tag 2.
    pub last_known_elr: Option<Vec<i32>>,
}

impl PartitionRecord {
    /// A new partition of `topic_id` on `replicas`, as the controller creates one: every
    /// replica in sync, the first the leader, both epochs 0, log directories unknown.
    pub fn new(topic_id: Uuid, partition_id: i32, replicas: Vec<i32>) -> Self {
        PartitionRecord {
            partition_id,
            topic_id,
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            replicas,
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![],
            eligible_leader_replicas: None,
            last_known_elr: None,
        }
    }
}

impl RecordBody for PartitionRecord {
    const API_KEY: u16 = 3;
    const VERSION: i16 = 2;
    fn write(&self, w: &mut Writer, version: i16) {
        w.i32(self.partition_id)
            .uuid(&self.topic_id)
            .i32s(&self.replicas)
            .i32s(&self.isr)
            .i32s(&self.removing_replicas)
            .i32s(&self.adding_replicas)
            .i32(self.leader)
            .i32(self.leader_epoch)
            .i32(self.partition_epoch);
        if version >= 1 {
            w.uuids(&self.directories);
        }
        let mut tags = vec![];
        if self.leader_recovery_state != 0 {
            tags.push((0, vec![self.leader_recovery_state as u8]));
        }
        if version >= 2 {
            if let Some(elr) = &self.eligible_leader_replicas {
                tags.push((
                    1,
                    encoded(|w| {
                        w.i32s(elr);
                    }),
                ));
            }
            if let Some(l) = &self.last_known_elr {
                tags.push((
                    2,
                    encoded(|w| {
                        w.i32s(l);
                    }),
                ));
            }
        }
        w.tagged(tags);
    }
    fn read(r: &mut Reader<'_>, version: i16) -> Result<Self, WireError> {
        let mut rec = PartitionRecord {
            partition_id: r.i32()?,
            topic_id: r.uuid()?,
            replicas: r.i32s()?,
            isr: r.i32s()?,
            removing_replicas: r.i32s()?,
            adding_replicas: r.i32s()?,
            leader: r.i32()?,
            leader_recovery_state: 0,
            leader_epoch: r.i32()?,
            partition_epoch: r.i32()?,
            directories: if version >= 1 { r.uuids()? } else { vec![] },
            eligible_leader_replicas: None,
            last_known_elr: None,
        };
        read_tags(r, |tag, data| {
            match tag {
                0 => rec.leader_recovery_state = tagged_value(data, Reader::i8)?,
                1 => {
                    since(1, 2, version)?;
                    rec.eligible_leader_replicas = tagged_value(data, Reader::nullable_i32s)?;
                }
                2 => {
                    since(2, 2, version)?;
                    rec.last_known_elr = tagged_value(data, Reader::nullable_i32s)?;
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(rec)
    }
}

/// PartitionChangeRecord: what changed in a partition. Every field but the ids is tagged
/// and absent when unchanged (null lists; `leader` -2; `leader_recovery_state` -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChangeRecord {
    pub partition_id: i32,
    pub topic_id: Uuid,
    pub isr: Option<Vec<i32>>,
    /// -2: unchanged; -1: no leader now.
    pub leader: i32,
    pub replicas: Option<Vec<i32>>,
    pub removing_replicas: Option<Vec<i32>>,
    pub adding_replicas: Option<Vec<i32>>,
    /// -1: unchanged.
    pub leader_recovery_state: i8,
    /// v1+, tag 8.
    pub directories: Option<Vec<Uuid>>,
    /// v2+, tag 6.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// v2+, tag 7.
    pub last_known_elr: Option<Vec<i32>>,
}

/// `leader` of a [`PartitionChangeRecord`] that does not change the leader.
pub const NO_LEADER_CHANGE: i32 = -2;
/// A partition without a leader.
pub const NO_LEADER: i32 = -1;

impl PartitionChangeRecord {
    /// A change of partition `partition_id` of `topic_id` that changes nothing yet.
    pub fn new(topic_id: Uuid, partition_id: i32) -> Self {
        PartitionChangeRecord {
            partition_id,
            topic_id,
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: -1,
            directories: None,
            eligible_leader_replicas: None,
            last_known_elr: None,
        }
    }
}

impl RecordBody for PartitionChangeRecord {
    const API_KEY: u16 = 5;
    const VERSION: i16 = 2;
    fn write(&self, w: &mut Writer, version: i16) {
        w.i32(self.partition_id).uuid(&self.topic_id);
        let list = |v: &Vec<i32>| {
            encoded(|w| {
                w.i32s(v);
            })
        };
        let mut tags = vec![];
        if let Some(isr) = &self.isr {
            tags.push((0, list(isr)));
        }
        if self.leader != NO_LEADER_CHANGE {
            tags.push((1, self.leader.to_be_bytes().to_vec()));
        }
        for (tag, v) in [
            (2, &self.replicas),
            (3, &self.removing_replicas),
            (4, &self.adding_replicas),
        ] {
            if let Some(v) = v {
                tags.push((tag, list(v)));
            }
        }
        if self.leader_recovery_state != -1 {
            tags.push((5, vec![self.leader_recovery_state as u8]));
        }
        if version >= 2 {
            for (tag, v) in [(6, &self.eligible_leader_replicas), (7, &self.last_known_elr)] {
                if let Some(v) = v {
                    tags.push((tag, list(v)));
                }
            }
        }
        if version >= 1
            && let Some(d) = &self.directories
        {
            tags.push((
                8,
                encoded(|w| {
                    w.uuids(d);
                }),
            ));
        }
        w.tagged(tags);
    }
    fn read(r: &mut Reader<'_>, version: i16) -> Result<Self, WireError> {
        let mut rec = PartitionChangeRecord::new(Uuid::nil(), r.i32()?);
        rec.topic_id = r.uuid()?;
        read_tags(r, |tag, data| {
            match tag {
                0 => rec.isr = tagged_value(data, Reader::nullable_i32s)?,
                1 => rec.leader = tagged_value(data, Reader::i32)?,
                2 => rec.replicas = tagged_value(data, Reader::nullable_i32s)?,
                3 => rec.removing_replicas = tagged_value(data, Reader::nullable_i32s)?,
                4 => rec.adding_replicas = tagged_value(data, Reader::nullable_i32s)?,
                5 => rec.leader_recovery_state = tagged_value(data, Reader::i8)?,
                6 => {
                    since(6, 2, version)?;
                    rec.eligible_leader_replicas = tagged_value(data, Reader::nullable_i32s)?;
                }
                7 => {
                    since(7, 2, version)?;
                    rec.last_known_elr = tagged_value(data, Reader::nullable_i32s)?;
                }
                8 => {
                    since(8, 1, version)?;
                    rec.directories = tagged_value(data, Reader::nullable_uuids)?;
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(rec)
    }
}

/// RemoveTopicRecord: the topic and all its partitions are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveTopicRecord {
    pub topic_id: Uuid,
}

impl RecordBody for RemoveTopicRecord {
    const API_KEY: u16 = 9;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.uuid(&self.topic_id).no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = RemoveTopicRecord { topic_id: r.uuid()? };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

/// ClearElrRecord: clears the eligible leader replicas of one topic (or of all, name "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearElrRecord {
    pub topic_name: String,
}

impl RecordBody for ClearElrRecord {
    const API_KEY: u16 = 28;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.string(&self.topic_name).no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = ClearElrRecord {
            topic_name: r.string()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}
