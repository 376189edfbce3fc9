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
