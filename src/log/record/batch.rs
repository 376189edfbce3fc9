//! Zero-copy view of a Kafka RecordBatch (magic v2) header.
//!
//! Owns: parsing and validating the fixed 61-byte header, the CRC32C check, patching the
//! base offset and the LogAppendTime fields in place. Never decodes records (that is
//! `records.rs`, for ListOffsets only).
//!
//! Byte layout (big-endian), offsets from the start of the batch:
//!
//! ```text
//!  0 baseOffset            i64   <- patched by the broker (not covered by the CRC)
//!  8 batchLength           i32   bytes after this field
//! 12 partitionLeaderEpoch  i32
//! 16 magic                 i8    must be 2
//! 17 crc                   u32   CRC32C of bytes [21, end)
//! 21 attributes            i16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
//! 23 lastOffsetDelta       i32
//! 27 baseTimestamp         i64
//! 35 maxTimestamp          i64
//! 43 producerId            i64
//! 51 producerEpoch         i16
//! 53 baseSequence          i32
//! 57 recordsCount          i32
//! 61 records...
//! ```

/// Size of the fixed v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength`'s payload starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;
/// Attribute bit: the batch belongs to a transaction.
pub const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit: timestamps are LogAppendTime.
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit: control batch (transaction markers).
pub const CONTROL_BIT: i16 = 0x20;
/// Attribute bit: the base timestamp is the delete horizon the log cleaner set (KIP-534).
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Why a batch was rejected; maps to CORRUPT_MESSAGE or INVALID_RECORD at the API layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch is truncated: {0}")]
    Truncated(&'static str),
    #[error("unsupported record batch magic {0}; only magic 2 is accepted")]
    BadMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("invalid record batch: {0}")]
    Invalid(&'static str),
    /// A record or batch rule broken, in Kafka's words (INVALID_RECORD).
    #[error("{0}")]
    InvalidRecord(String),
    /// The records section cannot be decompressed, or names no codec Kafka knows (Kafka
    /// answers UNKNOWN_SERVER_ERROR: its decompressor throws a `KafkaException`).
    #[error("{0}")]
    Undecompressable(String),
}

impl BatchError {
    /// Corruption (bytes do not match their own framing or checksum) as opposed to a
    /// well-formed batch that breaks a rule.
    pub fn is_corruption(&self) -> bool {
        match self {
            BatchError::Truncated(_) | BatchError::CrcMismatch { .. } => true,
            // Kafka: a magic above the newest is corrupt data, an older one is refused.
            BatchError::BadMagic(m) => *m > 2,
            _ => false,
        }
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// A validated view over one batch's bytes. `bytes.len()` is exactly the batch size.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchHeader<'a> {
    /// Reads the size of the batch that starts at `buf[0]` from its `batchLength` field,
    /// checking only framing. Returns `None` if fewer than 12 bytes are available.
    pub fn frame_len(buf: &[u8]) -> Option<Result<usize, BatchError>> {
        if buf.len() < LOG_OVERHEAD {
            return None;
        }
        let batch_length = i32_at(buf, 8);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Some(Err(BatchError::Invalid("batchLength smaller than the v2 header")));
        }
        Some(Ok(LOG_OVERHEAD + batch_length as usize))
    }

    /// Parses the batch at the start of `buf` without checking the CRC (used by readers
    /// of data the broker already validated). `buf` may extend past the batch.
    pub fn parse_unchecked(buf: &'a [u8]) -> Result<Self, BatchError> {
        let len = match Self::frame_len(buf) {
            None => return Err(BatchError::Truncated("fewer than 12 bytes")),
            Some(r) => r?,
        };
        if buf.len() < len {
            return Err(BatchError::Truncated("batchLength runs past the buffer"));
        }
        let bytes = &buf[..len];
        if bytes[MAGIC_OFFSET] as i8 != 2 {
            return Err(BatchError::BadMagic(bytes[MAGIC_OFFSET] as i8));
        }
        Ok(Self { bytes })
    }

    /// Parses the batch at the start of `buf` with framing, magic, CRC32C and offset/record-
    /// count consistency checked: for batches brokk builds itself (markers, coordinators'
    /// writes) and tests. A client's batch goes through [`crate::log::record::validator`] instead.
    pub fn parse_validated(buf: &'a [u8]) -> Result<Self, BatchError> {
        let h = Self::parse_unchecked(buf)?;
        h.check_crc()?;
        if h.records_count() <= 0 && !h.is_control() {
            return Err(BatchError::Invalid("record batch has no records"));
        }
        if h.last_offset_delta() < 0 {
            return Err(BatchError::Invalid("negative lastOffsetDelta"));
        }
        if !h.is_compressed() && h.records_count() != h.last_offset_delta() + 1 {
            return Err(BatchError::Invalid("recordsCount does not match lastOffsetDelta"));
        }
        Ok(h)
    }

    /// Checks the CRC32C over the bytes from `attributes` on.
    pub fn check_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[ATTRIBUTES_OFFSET..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        Ok(())
    }

    /// Parses a batch read back from the log: framing, magic and CRC32C. Unlike
    /// [`Self::parse_validated`] it accepts what the log cleaner writes: batches with fewer
    /// records than offsets, and empty ones kept for their offsets or producer state.
    pub fn parse_stored(buf: &'a [u8]) -> Result<Self, BatchError> {
        let h = Self::parse_unchecked(buf)?;
        h.check_crc()?;
        if h.last_offset_delta() < 0 || h.records_count() < 0 {
            return Err(BatchError::Invalid("negative lastOffsetDelta or recordsCount"));
        }
        Ok(h)
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The delete horizon the log cleaner stamped on this batch, if any.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes() & DELETE_HORIZON_BIT != 0).then(|| self.base_timestamp())
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id() >= 0
    }
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The leader epoch the leader stamped on the batch at append (-1: none).
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(self.bytes, 12)
    }
    pub fn base_offset(&self) -> i64 {
        i64_at(self.bytes, 0)
    }
    pub fn crc(&self) -> u32 {
        i32_at(self.bytes, CRC_OFFSET) as u32
    }
    pub fn attributes(&self) -> i16 {
        i16_at(self.bytes, ATTRIBUTES_OFFSET)
    }
    pub fn is_compressed(&self) -> bool {
        self.attributes() & 0x07 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }
    /// Offsets this batch occupies.
    pub fn offset_count(&self) -> i64 {
        self.last_offset_delta() as i64 + 1
    }
    pub fn base_timestamp(&self) -> i64 {
        i64_at(self.bytes, BASE_TIMESTAMP_OFFSET)
    }
    pub fn max_timestamp(&self) -> i64 {
        i64_at(self.bytes, MAX_TIMESTAMP_OFFSET)
    }
    pub fn producer_id(&self) -> i64 {
        i64_at(self.bytes, PRODUCER_ID_OFFSET)
    }
    pub fn records_count(&self) -> i32 {
        i32_at(self.bytes, RECORDS_COUNT_OFFSET)
    }
    pub fn producer_epoch(&self) -> i16 {
        i16_at(self.bytes, PRODUCER_EPOCH_OFFSET)
    }
    pub fn base_sequence(&self) -> i32 {
        i32_at(self.bytes, BASE_SEQUENCE_OFFSET)
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    /// The sequence of the batch's last record (sequences wrap from i32::MAX to 0).
    pub fn last_sequence(&self) -> i32 {
        add_sequence(self.base_sequence(), self.last_offset_delta())
    }
}

/// Appends `v` as a zigzag varint (Kafka's record encoding).
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a zigzag varint; `None` on truncation or more than 10 bytes.
fn get_varint(buf: &mut &[u8]) -> Option<i64> {
    let mut z: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        z |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// A transaction marker as Kafka writes it: a control batch (transactional and control
/// attribute bits) from the producer, holding one control record with key
/// `version: i16 = 0, type: i16 (0 abort, 1 commit)` and value
/// `version: i16 = 0, coordinator_epoch: i32`. Its base offset is assigned on append.
pub fn control_batch(producer_id: i64, epoch: i16, commit: bool, coordinator_epoch: i32, timestamp: i64) -> Vec<u8> {
    let mut rec = vec![0u8]; // record attributes
    put_varint(&mut rec, 0); // timestamp delta
    put_varint(&mut rec, 0); // offset delta
    put_varint(&mut rec, 4);
    rec.extend_from_slice(&[0, 0, 0, commit as u8]);
    put_varint(&mut rec, 6);
    rec.extend_from_slice(&[0, 0]);
    rec.extend_from_slice(&coordinator_epoch.to_be_bytes());
    put_varint(&mut rec, 0); // headers
    let mut records = vec![];
    put_varint(&mut records, rec.len() as i64);
    records.extend_from_slice(&rec);
    let mut b = Vec::with_capacity(HEADER_LEN + records.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    b.extend_from_slice(&(CONTROL_BIT | TRANSACTIONAL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // records count
    b.extend_from_slice(&records);
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// For a control batch holding a transaction marker: `Some(true)` for commit,
/// `Some(false)` for abort; `None` if it is not a readable marker.
pub fn marker_is_commit(h: &BatchHeader) -> Option<bool> {
    if !h.is_control() || h.is_compressed() {
        return None;
    }
    let mut r = h.bytes().get(HEADER_LEN..)?;
    get_varint(&mut r)?; // record length
    let (_, rest) = r.split_first()?; // attributes
    r = rest;
    get_varint(&mut r)?; // timestamp delta
    get_varint(&mut r)?; // offset delta
    if get_varint(&mut r)? != 4 {
        return None;
    }
    let key = r.get(..4)?;
    match (
        i16::from_be_bytes([key[0], key[1]]),
        i16::from_be_bytes([key[2], key[3]]),
    ) {
        (0, 0) => Some(false),
        (0, 1) => Some(true),
        _ => None,
    }
}

/// `seq + n` in Kafka's sequence space, which wraps from i32::MAX to 0.
pub fn add_sequence(seq: i32, n: i32) -> i32 {
    if seq > i32::MAX - n {
        seq - (i32::MAX - n) - 1
    } else {
        seq + n
    }
}

/// Patches `baseOffset` of the batch at the start of `batch` (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Stamps `partitionLeaderEpoch` (not covered by the CRC), as the leader does on append.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch as LogAppendTime with `now_ms` as its max timestamp and recomputes the
/// CRC, as Kafka does when `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = i16_at(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Marks the batch CreateTime with `max_timestamp` as its max timestamp and recomputes the
/// CRC, as Kafka's `setMaxTimestamp(CREATE_TIME, ...)` does after validation.
pub fn set_create_time_max(batch: &mut [u8], max_timestamp: i64) {
    let attrs = i16_at(batch, ATTRIBUTES_OFFSET) & !TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    set_crc(batch);
}

/// Recomputes the CRC32C of a batch whose covered bytes changed.
pub fn set_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates the batches in `buf` (stored, already validated data), stopping at the first
/// incomplete or malformed one.
pub fn iter_batches(buf: &[u8]) -> impl Iterator<Item = (usize, BatchHeader<'_>)> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let h = BatchHeader::parse_unchecked(&buf[pos..]).ok()?;
        let at = pos;
        pos += h.len();
        Some((at, h))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::log::test_fixture as fixture;
    use kafka_protocol::records::Compression;

    /// Encodes `n` records (payload `v{i}`) with timestamps `base_ts + i` into one batch.
    pub fn make_batch(n: usize, base_ts: i64, compression: Compression) -> Vec<u8> {
        fixture::batch_of(n, base_ts, compression, |i| format!("v{i}").into_bytes()).to_vec()
    }

    #[test]
    fn validates_a_real_batch() {
        let b = make_batch(3, 1000, Compression::None);
        let h = BatchHeader::parse_validated(&b).expect("valid");
        assert_eq!(h.len(), b.len());
        assert_eq!(h.records_count(), 3);
        assert_eq!(h.last_offset_delta(), 2);
        assert_eq!(h.max_timestamp(), 1002);
        assert!(!h.is_compressed());
    }

    #[test]
    fn control_batches_are_valid_and_readable() {
        for commit in [true, false] {
            let b = control_batch(42, 3, commit, 7, 1_000);
            let h = BatchHeader::parse_validated(&b).expect("valid control batch");
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id(), h.producer_epoch(), h.records_count()), (42, 3, 1));
            assert_eq!(marker_is_commit(&h), Some(commit));
            // kafka-protocol decodes it as one control record.
            let mut bytes = bytes::Bytes::from(b.clone());
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).expect("decodes");
            assert_eq!(set.records.len(), 1);
            assert!(set.records[0].control);
        }
        assert_eq!(
            marker_is_commit(&BatchHeader::parse_validated(&make_batch(1, 0, Compression::None)).unwrap()),
            None
        );
    }

    #[test]
    fn crc_mismatch_is_corruption() {
        let mut b = make_batch(2, 0, Compression::None);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let e = BatchHeader::parse_validated(&b).unwrap_err();
        assert!(matches!(e, BatchError::CrcMismatch { .. }));
        assert!(e.is_corruption());
    }

    #[test]
    fn patching_base_offset_keeps_crc_valid() {
        let mut b = make_batch(2, 0, Compression::None);
        set_base_offset(&mut b, 42);
        let h = BatchHeader::parse_validated(&b).expect("still valid");
        assert_eq!(h.base_offset(), 42);
        assert_eq!(h.last_offset(), 43);
    }

    #[test]
    fn log_append_time_rewrites_crc() {
        let mut b = make_batch(2, 5, Compression::None);
        set_log_append_time(&mut b, 99);
        let h = BatchHeader::parse_validated(&b).expect("valid after crc rewrite");
        assert_eq!(h.max_timestamp(), 99);
        assert_ne!(h.attributes() & TIMESTAMP_TYPE_BIT, 0);
    }

    #[test]
    fn truncated_and_bad_magic() {
        let b = make_batch(1, 0, Compression::None);
        assert!(matches!(
            BatchHeader::parse_validated(&b[..b.len() - 1]),
            Err(BatchError::Truncated(_))
        ));
        let mut m = b.clone();
        m[MAGIC_OFFSET] = 1;
        assert!(matches!(BatchHeader::parse_validated(&m), Err(BatchError::BadMagic(1))));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = BatchHeader::parse_validated(&data);
            let _ = iter_batches(&data).count();
        }
    }
}
