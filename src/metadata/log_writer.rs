//! Writing metadata in Kafka's file formats: record batches of framed metadata records (a
//! `__cluster_metadata` segment's data batches) and snapshots (`<offset>-<epoch>.checkpoint`,
//! `bootstrap.checkpoint`): a control batch with the SnapshotHeaderRecord at offset 0, data
//! batches from offset 1, a control batch with the SnapshotFooterRecord last, every batch
//! at the snapshot's epoch, as Kafka's `RecordsSnapshotWriter` lays them out.
//!
//! Owns: those bytes. Must not decide what goes in them (the image's `records`) nor when
//! (the controller).

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::records::MetadataRecord;
use crate::log::LogError;

/// KRaft's control record types (the control record key's second i16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum ControlType {
    LeaderChange = 2,
    SnapshotHeader = 3,
    SnapshotFooter = 4,
    KRaftVersion = 5,
    Voters = 6,
}

/// Records per data batch of a snapshot (Kafka caps a batch at 8 MiB; metadata records are
/// small, so a count keeps batches well below that).
const RECORDS_PER_BATCH: usize = 1024;

/// A record of a batch based at `base_offset`. Its sequence only keeps kafka-protocol's
/// encoder from splitting the batch (it closes a batch when `offset - sequence` changes);
/// the batch's base sequence is -1, as Kafka writes it without a producer id.
fn record(
    base_offset: i64,
    offset: i64,
    epoch: i32,
    timestamp: i64,
    control: bool,
    key: Option<Bytes>,
    value: Bytes,
) -> Record {
    Record {
        transactional: false,
        control,
        delete_horizon: false,
        partition_leader_epoch: epoch,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: (offset - base_offset - 1) as i32,
        timestamp,
        key,
        value: Some(value),
        headers: Default::default(),
    }
}

fn encode(records: &[Record]) -> Bytes {
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding uncompressed records into memory cannot fail.
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).expect("an uncompressed batch encodes");
    buf.freeze()
}

/// One data batch of `records` at offsets from `base_offset`, written in leader epoch
/// `epoch` (null keys, framed values, no producer id).
pub fn data_batch(records: &[MetadataRecord], base_offset: i64, epoch: i32, timestamp: i64) -> Bytes {
    let rs: Vec<Record> = records
        .iter()
        .zip(base_offset..)
        .map(|(r, offset)| {
            record(
                base_offset,
                offset,
                epoch,
                timestamp,
                false,
                None,
                Bytes::from(r.encode()),
            )
        })
        .collect();
    encode(&rs)
}

/// One control batch holding one control record of `kind` whose value is `message`
/// (encoded at version 0, without a frame).
pub fn control_batch(kind: ControlType, message: &impl Encodable, offset: i64, epoch: i32, timestamp: i64) -> Bytes {
    let mut value = BytesMut::new();
    message
        .encode(&mut value, 0)
        .expect("a control record encodes at version 0");
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(kind as i16).to_be_bytes());
    encode(&[record(
        offset,
        offset,
        epoch,
        timestamp,
        true,
        Some(Bytes::from(key)),
        value.freeze(),
    )])
}

/// The bytes of a snapshot of `records` taken at leader epoch `epoch`; `timestamp` is the
/// last contained log timestamp (0 for a bootstrap snapshot).
pub fn snapshot(records: &[MetadataRecord], epoch: i32, timestamp: i64) -> Vec<u8> {
    snapshot_tagged(records, epoch, timestamp, Default::default())
}

/// [`snapshot`] with `tags` as tagged fields of its SnapshotHeaderRecord (the quorum keeps
/// its membership there; Kafka's readers skip unknown tags).
pub fn snapshot_tagged(
    records: &[MetadataRecord],
    epoch: i32,
    timestamp: i64,
    tags: std::collections::BTreeMap<i32, Bytes>,
) -> Vec<u8> {
    let mut header = SnapshotHeaderRecord::default().with_last_contained_log_timestamp(timestamp);
    header.unknown_tagged_fields = tags;
    let mut out = control_batch(ControlType::SnapshotHeader, &header, 0, epoch, timestamp).to_vec();
    let mut offset = 1i64;
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        out.extend_from_slice(&data_batch(chunk, offset, epoch, timestamp));
        offset += chunk.len() as i64;
    }
    let footer = SnapshotFooterRecord::default();
    out.extend_from_slice(&control_batch(
        ControlType::SnapshotFooter,
        &footer,
        offset,
        epoch,
        timestamp,
    ));
    out
}

/// Writes a snapshot file atomically (a temporary file, fsynced, renamed into place, the
/// directory fsynced): the log's checkpoint writer.
pub fn write_snapshot(path: &Path, records: &[MetadataRecord], epoch: i32, timestamp: i64) -> Result<(), LogError> {
    crate::log::checkpoint::write_atomic(path, snapshot(records, epoch, timestamp))
}

/// A snapshot's file name: `<end offset:020>-<epoch:010>.checkpoint`.
pub fn snapshot_file_name(end_offset: i64, epoch: i32) -> String {
    format!("{end_offset:020}-{epoch:010}.checkpoint")
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::RecordBatchDecoder;

    use super::*;
    use crate::metadata::records::NoOpRecord;

    #[test]
    fn a_data_batch_is_one_batch_as_kafka_writes_it() {
        let records = vec![MetadataRecord::NoOp(NoOpRecord); 3];
        let mut b = data_batch(&records, 10, 2, 1_000);
        let info = RecordBatchDecoder::decode_batch_info(&mut b).unwrap();
        assert_eq!(info.len(), 1, "{info:?}");
        let i = &info[0];
        assert_eq!((i.record_count, i.min_offset, i.base_sequence), (3, 10, -1));
        assert_eq!((i.producer_id, i.producer_epoch, i.partition_leader_epoch), (-1, -1, 2));
        assert!(!i.control && !i.transactional);
        // A snapshot: header, one data batch per RECORDS_PER_BATCH records, footer.
        let n = RECORDS_PER_BATCH + 1;
        let mut s = Bytes::from(snapshot(&vec![MetadataRecord::NoOp(NoOpRecord); n], 4, 0));
        let info = RecordBatchDecoder::decode_batch_info(&mut s).unwrap();
        let shape: Vec<(bool, i32, i64)> = info.iter().map(|i| (i.control, i.record_count, i.min_offset)).collect();
        assert_eq!(
            shape,
            vec![
                (true, 1, 0),
                (false, RECORDS_PER_BATCH as i32, 1),
                (false, 1, 1 + RECORDS_PER_BATCH as i64),
                (true, 1, 1 + n as i64)
            ]
        );
    }
}
