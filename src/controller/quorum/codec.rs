//! Raft entries as Kafka record batches (see the module docs of `quorum`), and the
//! membership encoding brokk keeps in a tagged field of Kafka's Voters record and snapshot
//! header.
//!
//! Membership tag (flexible encoding): `configs: [[voter id: i32]]`, `nodes: [id: i32,
//! host: string, port: u16]`. Kafka's readers skip it; a Voters record without it (one
//! Kafka wrote) is read as one configuration of its voters.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::leader_change_message::{LeaderChangeMessage, Voter as LeaderChangeVoter};
use kafka_protocol::messages::voters_record::{Endpoint, KRaftVersionFeature, Voter, VotersRecord};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use openraft::EntryPayload;

use super::{ControllerNode, Entry, Membership, log_id};
use crate::metadata::MetadataRecord;
use crate::metadata::log_writer::{ControlType, control_batch, data_batch};
use crate::metadata::wire::{Reader, WireError, Writer, encoded};

/// The tagged field holding brokk's membership (in the Voters record and snapshot header).
pub const MEMBERSHIP_TAG: i32 = 10_000;
/// The controller listener's name in the Voters record's endpoints.
const LISTENER: &str = "CONTROLLER";

/// Kafka's node ids are i32.
fn node_i32(id: u64) -> i32 {
    i32::try_from(id).unwrap_or(i32::MAX)
}

/// The batch holding `entry` at offset = its index, epoch = its term; `leader` is the node
/// that leads the term (written into a LeaderChange record, -1 when unknown).
pub fn encode_entry(entry: &Entry, leader: Option<u64>, now_ms: i64) -> Result<Bytes, String> {
    let offset = i64::try_from(entry.log_id.index).map_err(|_| "log index past i64".to_string())?;
    let epoch = i32::try_from(entry.log_id.leader_id.term).map_err(|_| "term past i32".to_string())?;
    Ok(match &entry.payload {
        EntryPayload::Normal(record) => data_batch(std::slice::from_ref(record), offset, epoch, now_ms),
        EntryPayload::Blank => {
            let leader = leader.map_or(-1, node_i32);
            let mut m = LeaderChangeMessage::default().with_leader_id(leader.into());
            if leader >= 0 {
                m.granting_voters = vec![LeaderChangeVoter::default().with_voter_id(leader)];
            }
            control_batch(ControlType::LeaderChange, &m, offset, epoch, now_ms)
        }
        EntryPayload::Membership(m) => control_batch(ControlType::Voters, &voters_record(m), offset, epoch, now_ms),
    })
}

/// Kafka's Voters record for `m`: its (last) configuration's voters with their endpoints,
/// and the whole membership in [`MEMBERSHIP_TAG`].
pub fn voters_record(m: &Membership) -> VotersRecord {
    let nodes: BTreeMap<u64, ControllerNode> = m.nodes().map(|(id, n)| (*id, n.clone())).collect();
    let voters = m
        .get_joint_config()
        .last()
        .into_iter()
        .flatten()
        .map(|id| {
            let node = nodes.get(id).cloned().unwrap_or_default();
            Voter::default()
                .with_voter_id(node_i32(*id).into())
                .with_endpoints(vec![
                    Endpoint::default()
                        .with_name(StrBytes::from_static_str(LISTENER))
                        .with_host(StrBytes::from_string(node.host))
                        .with_port(node.port),
                ])
                .with_k_raft_version_feature(
                    KRaftVersionFeature::default()
                        .with_min_supported_version(0)
                        .with_max_supported_version(1),
                )
        })
        .collect();
    let mut r = VotersRecord::default().with_voters(voters);
    r.unknown_tagged_fields
        .insert(MEMBERSHIP_TAG, Bytes::from(encode_membership(m)));
    r
}

/// A log id as `index: i64, term: i64`, `(-1, -1)` for none (the quorum's RPCs and
/// snapshot header).
pub fn put_log_id(w: &mut Writer, id: Option<super::LogId>) {
    let (i, t) = id.map_or((-1, -1), |id| (id.index as i64, id.leader_id.term as i64));
    w.i64(i).i64(t);
}

/// Reads [`put_log_id`]'s bytes.
pub fn get_log_id(r: &mut Reader<'_>) -> Result<Option<super::LogId>, WireError> {
    let (i, t) = (r.i64()?, r.i64()?);
    Ok((i >= 0 && t >= 0).then(|| log_id(t as u64, i as u64)))
}

/// brokk's membership bytes.
pub fn encode_membership(m: &Membership) -> Vec<u8> {
    let configs: Vec<Vec<i32>> = m
        .get_joint_config()
        .iter()
        .map(|c| c.iter().map(|id| node_i32(*id)).collect())
        .collect();
    let nodes: Vec<(u64, ControllerNode)> = m.nodes().map(|(id, n)| (*id, n.clone())).collect();
    encoded(|w: &mut Writer| {
        w.array(&configs, |w, c| {
            w.i32s(c);
        });
        w.array(&nodes, |w, (id, n)| {
            w.i32(node_i32(*id)).string(&n.host).u16(n.port);
        });
        w.no_tags();
    })
}

/// Reads [`encode_membership`]'s bytes.
pub fn decode_membership(bytes: &[u8]) -> Result<Membership, WireError> {
    let mut r = Reader::new(bytes);
    let configs = r.array(1, |r: &mut Reader<'_>| r.i32s())?;
    let nodes = r.array(7, |r: &mut Reader<'_>| {
        let id = r.i32()?;
        let host = r.string()?;
        let port = r.u16()?;
        Ok((id, ControllerNode { host, port }))
    })?;
    r.tagged()?;
    r.finish("membership")?;
    let configs = configs
        .into_iter()
        .map(|c| c.into_iter().map(|id| id as u64).collect::<BTreeSet<u64>>())
        .collect();
    let nodes: BTreeMap<u64, ControllerNode> = nodes.into_iter().map(|(id, n)| (id as u64, n)).collect();
    Ok(Membership::new(configs, nodes))
}

/// The membership a Voters record describes.
fn membership_of(v: &VotersRecord) -> Result<Membership, String> {
    if let Some(b) = v.unknown_tagged_fields.get(&MEMBERSHIP_TAG) {
        return decode_membership(b).map_err(|e| e.to_string());
    }
    let mut nodes = BTreeMap::new();
    for voter in &v.voters {
        let endpoint = voter.endpoints.first();
        nodes.insert(
            *voter.voter_id as u64,
            ControllerNode {
                host: endpoint.map(|e| e.host.to_string()).unwrap_or_default(),
                port: endpoint.map_or(0, |e| e.port),
            },
        );
    }
    let voters = nodes.keys().copied().collect();
    Ok(Membership::new(vec![voters], nodes))
}

/// The entry a batch written by [`encode_entry`] holds (a log Kafka wrote has batches of
/// several records, KRaftVersion records among them: it is not a brokk quorum's log).
pub fn decode_entry(batch: &[u8]) -> Result<Entry, String> {
    // Framing, CRC and the one-record shape first: a peer's bytes are not trusted.
    let h = crate::log::record::batch::BatchHeader::parse_stored(batch).map_err(|e| e.to_string())?;
    if h.len() != batch.len() || h.records_count() != 1 || h.last_offset_delta() != 0 || h.is_compressed() {
        return Err("a metadata log entry is one uncompressed batch of one record".into());
    }
    let mut bytes = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| e.to_string())?;
    let [record] = set.records.as_slice() else {
        return Err(format!(
            "{} records in a metadata log batch, expected 1",
            set.records.len()
        ));
    };
    let term = u64::try_from(record.partition_leader_epoch).map_err(|_| "a negative epoch".to_string())?;
    let index = u64::try_from(record.offset).map_err(|_| "a negative offset".to_string())?;
    let value = record.value.clone().unwrap_or_default();
    let payload = if record.control {
        let key = record.key.clone().unwrap_or_default();
        let kind = (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]));
        let mut value = BytesMut::from(&value[..]).freeze();
        match kind {
            Some(k) if k == ControlType::LeaderChange as i16 => EntryPayload::Blank,
            Some(k) if k == ControlType::Voters as i16 => {
                let v = VotersRecord::decode(&mut value, 0).map_err(|e| e.to_string())?;
                EntryPayload::Membership(membership_of(&v)?)
            }
            other => return Err(format!("control record type {other:?} in the metadata log")),
        }
    } else {
        EntryPayload::Normal(MetadataRecord::decode(&value).map_err(|e| e.to_string())?)
    };
    Ok(Entry {
        log_id: log_id(term, index),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::NoOpRecord;

    fn node(port: u16) -> ControllerNode {
        ControllerNode {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn entries_round_trip_through_kafka_batches() {
        let joint = Membership::new(
            vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3, 4])],
            BTreeMap::from([(1, node(1)), (2, node(2)), (3, node(3)), (4, node(4)), (5, node(5))]),
        );
        let entries = [
            Entry {
                log_id: log_id(3, 7),
                payload: EntryPayload::Normal(MetadataRecord::NoOp(NoOpRecord)),
            },
            Entry {
                log_id: log_id(4, 8),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(4, 9),
                payload: EntryPayload::Membership(joint),
            },
        ];
        for e in entries {
            let b = encode_entry(&e, Some(2), 1_000).unwrap();
            let h = crate::log::record::batch::BatchHeader::parse_stored(&b).unwrap();
            assert_eq!(h.base_offset() as u64, e.log_id.index);
            assert_eq!(h.partition_leader_epoch() as u64, e.log_id.leader_id.term);
            assert_eq!(decode_entry(&b).unwrap(), e);
        }
    }

    #[test]
    fn hostile_batches_are_refused_before_anything_is_allocated() {
        let e = Entry {
            log_id: log_id(1, 0),
            payload: EntryPayload::Normal(MetadataRecord::NoOp(NoOpRecord)),
        };
        let good = encode_entry(&e, None, 0).unwrap();
        // A record count of 2^31 - 1 (CRC fixed up, so only the shape check stands).
        let mut huge = good.to_vec();
        huge[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        crate::log::record::batch::set_crc(&mut huge);
        assert!(decode_entry(&huge).is_err());
        // Bytes after the batch, and a cut batch.
        let mut long = good.to_vec();
        long.push(0);
        assert!(decode_entry(&long).is_err());
        assert!(decode_entry(&good[..good.len() - 1]).is_err());
    }

    #[test]
    fn a_voters_record_kafka_wrote_is_one_configuration() {
        let m = Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::from([(1, node(9093)), (2, node(9094))]),
        );
        let mut v = voters_record(&m);
        v.unknown_tagged_fields.clear();
        assert_eq!(membership_of(&v).unwrap(), m);
    }
}
