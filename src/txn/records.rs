//! The records of `__transaction_state`, in Kafka's formats (so Kafka's tools can read a
//! brokk data directory). Big-endian; strings are i16 length + UTF-8.
//!
//! - TransactionLogKey v0: `version=0: i16, transactional_id: string`
//! - TransactionLogValue v0 (written; a null value is a tombstone): `version=0: i16,
//!   producer_id: i64, producer_epoch: i16, transaction_timeout_ms: i32,
//!   transaction_status: i8, partitions: i32 count (-1 = null) × (topic: string,
//!   partition_ids: i32 count × i32), last_update_timestamp_ms: i64,
//!   start_timestamp_ms: i64`

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::structs::{Reader, put_str};

use super::state::{TransactionMetadata, TxnState};

pub fn key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn value(m: &TransactionMetadata) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.timeout_ms);
    b.put_i8(m.state.id());
    // Kafka writes the partitions grouped by topic (null when there are none to record).
    let mut topics: Vec<(&str, Vec<i32>)> = vec![];
    for (t, p) in &m.partitions {
        match topics.last_mut() {
            Some((name, ps)) if *name == t.as_str() => ps.push(*p),
            _ => topics.push((t.as_str(), vec![*p])),
        }
    }
    // Kafka writes null (-1) for an empty transaction.
    b.put_i32(if topics.is_empty() { -1 } else { topics.len() as i32 });
    for (t, ps) in topics {
        put_str(&mut b, t);
        b.put_i32(ps.len() as i32);
        for p in ps {
            b.put_i32(p);
        }
    }
    b.put_i64(m.last_update_ms);
    b.put_i64(m.start_ms);
    b.freeze()
}

/// Decodes a key; `None` for other versions or malformed bytes.
pub fn decode_key(k: &[u8]) -> Option<String> {
    let mut r = Reader::new(k);
    (r.i16()? == 0).then_some(())?;
    r.str()
}

/// Decodes a v0 value for `transactional_id`; `None` if malformed.
pub fn decode_value(transactional_id: &str, v: &[u8]) -> Option<TransactionMetadata> {
    let mut r = Reader::new(v);
    (r.i16()? == 0).then_some(())?;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_id(r.i8()?)?;
    let topics = r.i32()?;
    let mut partitions = BTreeSet::new();
    // Each topic takes at least 6 bytes: a count beyond that is a lie.
    if topics > 0 && topics as usize > r.remaining() / 6 {
        return None;
    }
    for _ in 0..topics.max(0) {
        let t = r.str()?;
        let n = r.i32()?;
        if n < 0 || n as usize > r.remaining() / 4 {
            return None;
        }
        for _ in 0..n {
            partitions.insert((t.clone(), r.i32()?));
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Some(TransactionMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        last_producer_id: -1,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_rejected() {
        let mut m = TransactionMetadata::new("tx-1", 42, 60_000, 1_000);
        m.state = TxnState::Ongoing;
        m.producer_epoch = 3;
        m.partitions.insert(("a".into(), 1));
        m.partitions.insert(("a".into(), 0));
        m.partitions.insert(("b".into(), 7));
        m.start_ms = 900;
        assert_eq!(decode_key(&key("tx-1")).as_deref(), Some("tx-1"));
        let back = decode_value("tx-1", &value(&m)).unwrap();
        assert_eq!(back, m);
        let v = value(&m);
        for cut in 0..v.len() {
            assert!(decode_value("tx-1", &v[..cut]).is_none(), "cut at {cut}");
        }
        assert!(decode_key(&[0, 1]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = decode_value("t", &b);
            let _ = decode_key(&b);
        }
    }
}
