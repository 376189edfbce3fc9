//! Record-batch fixtures shared by the unit tests (`src/log`), the TCP tests and the
//! benches (included with `#[path]`): `n` records `key-i` (or keys from `key(i)`) with values
//! from `value(i)` and timestamps `ts0 + i`, encoded as one v2 batch by kafka-protocol.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

pub fn batch_of(n: usize, ts0: i64, compression: Compression, value: impl Fn(usize) -> Vec<u8>) -> Bytes {
    keyed_batch_of(n, ts0, compression, |i| format!("key-{i}").into_bytes(), value)
}

/// [`batch_of`] with the keys from `key(i)`.
pub fn keyed_batch_of(
    n: usize,
    ts0: i64,
    compression: Compression,
    key: impl Fn(usize) -> Vec<u8>,
    value: impl Fn(usize) -> Vec<u8>,
) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol keeps records in one batch only while sequence - offset is constant.
            sequence: i as i32,
            timestamp: ts0 + i as i64,
            key: Some(Bytes::from(key(i))),
            value: Some(Bytes::from(value(i))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode");
    buf.freeze()
}

/// A zigzag varint, as records encode their fields.
pub fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One record exactly as a client encodes it (`length | attributes | timestampDelta |
/// offsetDelta | key | value | headers`), for building malformed batches by hand.
pub fn record_bytes(
    key: Option<&[u8]>,
    value: &[u8],
    offset_delta: i64,
    ts_delta: i64,
    headers: &[(&[u8], &[u8])],
) -> Vec<u8> {
    let mut body = vec![0u8];
    zigzag(&mut body, ts_delta);
    zigzag(&mut body, offset_delta);
    match key {
        None => zigzag(&mut body, -1),
        Some(k) => {
            zigzag(&mut body, k.len() as i64);
            body.extend_from_slice(k);
        }
    }
    zigzag(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    zigzag(&mut body, headers.len() as i64);
    for (k, v) in headers {
        zigzag(&mut body, k.len() as i64);
        body.extend_from_slice(k);
        zigzag(&mut body, v.len() as i64);
        body.extend_from_slice(v);
    }
    let mut out = vec![];
    zigzag(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// One record with a raw key length and no key bytes (a length below -1, which Kafka
/// reads as null), offset delta 0 and `value`.
pub fn record_with_key_len(key_len: i64, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8, 0, 0];
    zigzag(&mut body, key_len);
    zigzag(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    zigzag(&mut body, 0);
    let mut out = vec![];
    zigzag(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// A v2 batch header (base timestamp 1000, no producer) around `section`, which is taken
/// as already compressed with `codec`, with the given counts and a valid CRC32C: the
/// header says what the caller wants whatever the records are.
pub fn batch_around(section: &[u8], count: i32, last_offset_delta: i32, codec: i16) -> Vec<u8> {
    let mut b = Vec::with_capacity(61 + section.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + section.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&codec.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&1000i64.to_be_bytes());
    b.extend_from_slice(&1000i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(section);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}
