//! The records of `__consumer_offsets`, in Kafka's formats (so Kafka's tools can read a
//! brokk data directory), and encoding them into a record batch.
//!
//! Keys (big-endian; strings are i16 length + UTF-8; nullable strings use length -1):
//! - OffsetCommitKey v1: `version=1: i16, group: string, topic: string, partition: i32`
//! - GroupMetadataKey v2: `version=2: i16, group: string`
//!
//! Values (a null value is a tombstone: the key's offset or group is gone):
//! - OffsetCommitValue v3 (written): `version: i16, offset: i64, leader_epoch: i32,
//!   metadata: string, commit_timestamp: i64`; v1 (written when the commit carries an
//!   expire timestamp): `offset: i64, metadata: string, commit_timestamp: i64,
//!   expire_timestamp: i64`; v0 and v2 are read too.
//! - GroupMetadataValue v3 (written): `version: i16, protocol_type: string, generation: i32,
//!   protocol: nullable string, leader: nullable string, current_state_timestamp: i64,
//!   members: i32 count × (member_id: string, group_instance_id: nullable string,
//!   client_id: string, client_host: string, rebalance_timeout: i32, session_timeout: i32,
//!   subscription: bytes(i32 len), assignment: bytes(i32 len))`; v0-v2 are read too.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::structs::{Reader, put_bytes, put_nullable_str, put_str};

use super::state::{CommittedOffset, StoredGroup, StoredMember};

/// A decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<StoredGroup>,
    },
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group);
    put_str(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn offset_value(o: &CommittedOffset) -> Bytes {
    let mut b = BytesMut::new();
    match o.expire_timestamp_ms {
        Some(expire) => {
            b.put_i16(1);
            b.put_i64(o.offset);
            put_str(&mut b, &o.metadata);
            b.put_i64(o.commit_timestamp_ms);
            b.put_i64(expire);
        }
        None => {
            b.put_i16(3);
            b.put_i64(o.offset);
            b.put_i32(o.leader_epoch);
            put_str(&mut b, &o.metadata);
            b.put_i64(o.commit_timestamp_ms);
        }
    }
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(2);
    put_str(&mut b, group);
    b.freeze()
}

pub fn group_value(g: &StoredGroup) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(3);
    put_str(&mut b, &g.protocol_type);
    b.put_i32(g.generation_id);
    put_nullable_str(&mut b, g.protocol_name.as_deref());
    put_nullable_str(&mut b, g.leader.as_deref());
    b.put_i64(g.state_timestamp_ms);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_str(&mut b, &m.member_id);
        put_nullable_str(&mut b, m.group_instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

/// Decodes one record; `None` for keys of unknown versions or malformed bytes (skipped
/// with a warning by the loader).
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<OffsetsRecord> {
    let mut k = Reader::new(key);
    match k.i16()? {
        0 | 1 => {
            let (group, topic, partition) = (k.str()?, k.str()?, k.i32()?);
            let value = match value {
                None => None,
                Some(v) => Some(decode_offset_value(v)?),
            };
            Some(OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            })
        }
        2 => {
            let group = k.str()?;
            let value = match value {
                None => None,
                Some(v) => Some(decode_group_value(v)?),
            };
            Some(OffsetsRecord::Group { group, value })
        }
        _ => None,
    }
}

fn decode_offset_value(v: &[u8]) -> Option<CommittedOffset> {
    let mut r = Reader::new(v);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp_ms = r.i64()?;
    let expire_timestamp_ms = if version == 1 {
        Some(r.i64()?).filter(|t| *t >= 0)
    } else {
        None
    };
    (0..=3).contains(&version).then_some(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

fn decode_group_value(v: &[u8]) -> Option<StoredGroup> {
    let mut r = Reader::new(v);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = r.str()?;
    let generation_id = r.i32()?;
    let protocol_name = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = r.str()?;
        let group_instance_id = if version >= 3 { r.nullable_str()? } else { None };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout_ms = r.i32()?;
        members.push(StoredMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Some(StoredGroup {
        protocol_type,
        generation_id,
        protocol_name,
        leader,
        state_timestamp_ms,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_records_round_trip() {
        let o = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: None,
        };
        let r = decode(&offset_key("g", "t", 7), Some(&offset_value(&o))).unwrap();
        assert_eq!(
            r,
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7,
                value: Some(o.clone())
            }
        );
        let o1 = CommittedOffset {
            expire_timestamp_ms: Some(5000),
            leader_epoch: -1,
            ..o
        };
        let OffsetsRecord::Offset { value, .. } = decode(&offset_key("g", "t", 7), Some(&offset_value(&o1))).unwrap()
        else {
            panic!()
        };
        assert_eq!(value, Some(o1));
        assert!(matches!(
            decode(&offset_key("g", "t", 7), None),
            Some(OffsetsRecord::Offset { value: None, .. })
        ));
    }

    #[test]
    fn group_records_round_trip() {
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation_id: 5,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 99,
            members: vec![StoredMember {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let r = decode(&group_key("grp"), Some(&group_value(&g))).unwrap();
        assert_eq!(
            r,
            OffsetsRecord::Group {
                group: "grp".into(),
                value: Some(g)
            }
        );
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        assert!(decode(&[], None).is_none());
        assert!(decode(&[0, 9], None).is_none());
        assert!(decode(&offset_key("g", "t", 1), Some(&[0, 3, 1])).is_none());
        assert!(decode(&group_key("g"), Some(&[0, 3, 0, 1])).is_none());
    }
}
