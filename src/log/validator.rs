//! Kafka's `LogValidator` for a client's RecordBatch: the batch-level rules
//! (`validateBatch`) and a walk over every record (`DefaultRecord.readFrom` and the record
//! iterator's count checks), before anything is appended.
//!
//! Owns: deciding whether a produced batch's records are readable and follow the rules, and
//! what Kafka fixes in place (the max timestamp, offsets that are not `0..count`). It never
//! appends and never allocates per record.
//!
//! Two sources feed one walk: the records section itself for an uncompressed batch (a slice,
//! no copy, no allocation), or the codec's decompressor streamed through a fixed buffer for a
//! compressed one, stopped at [`MAX_DECOMPRESSED`] bytes, so a compression bomb costs bounded
//! CPU and no memory.
//!
//! What brokk refuses, with Kafka's error codes (INVALID_RECORD unless said otherwise):
//! - batch rules: an offset range that is empty, a count of zero or less, a count that does
//!   not match the offset range, a control batch, a producer id without a base sequence;
//! - structure: a record length that disagrees with the fields it holds or with the bytes
//!   left, a field running past the section, a negative header count or header key length, a
//!   varint of more than 5 (10 for a varlong) bytes, fewer records than the count (premature
//!   EOF), bytes left after the counted records;
//! - UNKNOWN_SERVER_ERROR, as Kafka's decompressor failing: a records section that does not
//!   decompress, a codec id above 4;
//! - per record, collected as `record_errors` with the record's index: a keyless record on a
//!   compacted topic, a CreateTime timestamp outside `message.timestamp.before/after.max.ms`
//!   and a producer-set LogAppendTime (INVALID_TIMESTAMP when any timestamp error is present).
//!
//! Where Kafka stores bytes that consumers mis-read, brokk takes the batch as Kafka does (the
//! producer gets Kafka's answer) but stores a form every consumer reads (checked against
//! Kafka 4.1.1 with `compat/kafka`):
//! - offset deltas that are not `0..count`: Kafka keeps an uncompressed batch as sent (a Java
//!   consumer then skips the next batch) and fails a compressed one with
//!   UNKNOWN_SERVER_ERROR (its rebuild reads keys its skip-iterator skipped); brokk rebuilds
//!   both with offsets `0..count`, as Kafka's rebuild path means to;
//! - a key or value length below -1: Kafka reads and stores it as null, and librdkafka then
//!   refetches that offset forever; brokk rebuilds the batch with -1.
//!
//! And one place is stricter: Kafka's skip-iterator for compressed batches does not compare
//! a record's length with its fields; brokk checks every record's length in every codec.

use std::io::{self, Read};

use super::LogError;
use super::batch::{BatchError, BatchHeader, HEADER_LEN, TIMESTAMP_TYPE_BIT};
use super::config::TimestampType;
use super::records::{MAX_DECOMPRESSED, decompressor};

/// Record errors kept for the response; the message counts all of them.
const MAX_RECORD_ERRORS: usize = 10_000;

/// Size of the buffer a compressed section is streamed through.
const STREAM_BUFFER: usize = 64 * 1024;

/// The topic's rules a batch is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `topic-partition`, as Kafka's messages name it.
    pub topic_partition: &'a str,
    pub compacted: bool,
    pub timestamp_type: TimestampType,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    pub now_ms: i64,
}

/// What the walk learnt, for Kafka's in-place fix-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// The largest record timestamp (-1 if none): Kafka's batch max timestamp under CreateTime.
    pub max_timestamp: i64,
    /// Every record's offset delta is its index; otherwise Kafka rebuilds the batch with
    /// offsets `0..count`.
    pub offsets_in_order: bool,
    /// Every key and value length is -1 (null) or more; otherwise the batch is rebuilt.
    pub canonical_lengths: bool,
}

impl Walked {
    /// The batch must be stored rebuilt rather than as sent.
    pub fn needs_rebuild(&self) -> bool {
        !self.offsets_in_order || !self.canonical_lengths
    }
}

fn invalid(m: String) -> LogError {
    LogError::CorruptBatch(BatchError::InvalidRecord(m))
}

fn undecompressable(m: String) -> LogError {
    LogError::CorruptBatch(BatchError::Undecompressable(m))
}

/// Kafka's `validateBatch` for a client's v2 batch (the header fields only).
pub fn check_batch(h: &BatchHeader<'_>, tp: &str) -> Result<(), LogError> {
    let (base, last, count) = (h.base_offset(), h.last_offset(), h.records_count());
    if h.last_offset_delta() < 0 {
        return Err(invalid(format!(
            "Batch has an invalid offset range: [{base}, {last}] in topic partition {tp}"
        )));
    }
    if count <= 0 {
        return Err(invalid(format!(
            "Invalid reported count for record batch: {count} in topic partition {tp}"
        )));
    }
    if h.offset_count() != count as i64 {
        return Err(invalid(format!(
            "Inconsistent batch offset range [{base}, {last}] and count of records {count} in topic partition {tp}"
        )));
    }
    if h.is_control() {
        return Err(invalid(format!(
            "Clients are not allowed to write control records in topic partition {tp}"
        )));
    }
    if h.has_producer_id() && h.base_sequence() < 0 {
        return Err(invalid(format!(
            "Invalid sequence number {} in record batch with producerId {} in topic partition {tp}",
            h.base_sequence(),
            h.producer_id()
        )));
    }
    Ok(())
}

/// Why a read from a [`Source`] stopped.
enum Stop {
    Eof,
    /// The decompressor failed.
    Io(io::Error),
    /// More than [`MAX_DECOMPRESSED`] bytes.
    TooLarge,
}

/// Bytes of a records section, read front to back.
trait Source {
    fn byte(&mut self) -> Result<u8, Stop>;
    fn skip(&mut self, n: usize) -> Result<(), Stop>;
    /// Bytes read so far.
    fn position(&self) -> u64;
    /// Bytes left, where known without reading (an uncompressed section).
    fn remaining(&self) -> Option<u64>;
    fn at_end(&mut self) -> Result<bool, Stop>;
}

/// An uncompressed records section.
struct Slice<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Source for Slice<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.bytes.get(self.pos).ok_or(Stop::Eof)?;
        self.pos += 1;
        Ok(b)
    }
    #[inline]
    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        if n > self.bytes.len() - self.pos {
            self.pos = self.bytes.len();
            return Err(Stop::Eof);
        }
        self.pos += n;
        Ok(())
    }
    fn position(&self) -> u64 {
        self.pos as u64
    }
    fn remaining(&self) -> Option<u64> {
        Some((self.bytes.len() - self.pos) as u64)
    }
    fn at_end(&mut self) -> Result<bool, Stop> {
        Ok(self.pos == self.bytes.len())
    }
}

/// A compressed records section, decompressed through a fixed buffer.
struct Stream<R> {
    inner: R,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Bytes before `buf[0]`.
    base: u64,
}

impl<R: Read> Stream<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; STREAM_BUFFER],
            lo: 0,
            hi: 0,
            base: 0,
        }
    }

    /// Refills an exhausted buffer; false at the end of the stream.
    #[cold]
    fn fill(&mut self) -> Result<bool, Stop> {
        self.base += self.hi as u64;
        self.lo = 0;
        self.hi = 0;
        if self.base >= MAX_DECOMPRESSED {
            // Is there more? One byte tells, and is not kept.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one) {
                Ok(0) => Ok(false),
                Ok(_) => Err(Stop::TooLarge),
                Err(e) => Err(Stop::Io(e)),
            };
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.hi = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A truncated stream is a premature end, as Kafka's EOFException.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(Stop::Io(e)),
            }
        }
    }
}

impl<R: Read> Source for Stream<R> {
    #[inline]
    fn byte(&mut self) -> Result<u8, Stop> {
        if self.lo == self.hi && !self.fill()? {
            return Err(Stop::Eof);
        }
        let b = self.buf[self.lo];
        self.lo += 1;
        Ok(b)
    }
    fn skip(&mut self, mut n: usize) -> Result<(), Stop> {
        loop {
            let here = n.min(self.hi - self.lo);
            self.lo += here;
            n -= here;
            if n == 0 {
                return Ok(());
            }
            if !self.fill()? {
                return Err(Stop::Eof);
            }
        }
    }
    fn position(&self) -> u64 {
        self.base + self.lo as u64
    }
    fn remaining(&self) -> Option<u64> {
        None
    }
    fn at_end(&mut self) -> Result<bool, Stop> {
        Ok(self.lo == self.hi && !self.fill()?)
    }
}

/// A read that failed: what the walk reports.
enum Fail {
    Stop(Stop),
    Invalid(String),
}

impl From<Stop> for Fail {
    fn from(s: Stop) -> Self {
        Fail::Stop(s)
    }
}

/// Kafka's `ByteUtils.readVarint`: a zigzag int of at most 5 bytes (bits past 32 dropped).
#[inline]
fn varint<S: Source>(s: &mut S) -> Result<i32, Fail> {
    let mut raw = 0u32;
    let mut shift = 0;
    loop {
        let b = s.byte()?;
        if b & 0x80 == 0 {
            raw |= (b as u32).wrapping_shl(shift);
            return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
        raw |= ((b & 0x7f) as u32).wrapping_shl(shift);
        shift += 7;
        if shift > 28 {
            return Err(Fail::Invalid(
                "Varint is too long, the most significant bit in the 5th byte is set".into(),
            ));
        }
    }
}

/// Kafka's `ByteUtils.readVarlong`: a zigzag long of at most 10 bytes.
#[inline]
fn varlong<S: Source>(s: &mut S) -> Result<i64, Fail> {
    let mut raw = 0u64;
    let mut shift = 0;
    loop {
        let b = s.byte()?;
        if b & 0x80 == 0 {
            raw |= (b as u64).wrapping_shl(shift);
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
        raw |= ((b & 0x7f) as u64).wrapping_shl(shift);
        shift += 7;
        if shift > 63 {
            return Err(Fail::Invalid(
                "Varlong is too long, most significant bit in the 10th byte is set".into(),
            ));
        }
    }
}

/// Skips a length-prefixed field (negative: null, nothing to skip); returns the length.
#[inline]
fn field<S: Source>(s: &mut S) -> Result<i32, Fail> {
    let n = varint(s)?;
    if n > 0 {
        s.skip(n as usize)?;
    }
    Ok(n)
}

/// Per-record rule breaks, as Kafka's `RecordError`s.
struct RecordErrors {
    kept: Vec<(i32, String)>,
    total: usize,
    timestamp: bool,
}

impl RecordErrors {
    fn push(&mut self, index: i32, message: String, timestamp: bool) {
        self.total += 1;
        self.timestamp |= timestamp;
        if self.kept.len() < MAX_RECORD_ERRORS {
            self.kept.push((index, message));
        }
    }

    fn into_result(self) -> Result<(), LogError> {
        if self.total == 0 {
            return Ok(());
        }
        let message = if self.timestamp {
            "One or more records have been rejected due to invalid timestamp".to_string()
        } else {
            let shown: Vec<String> = self
                .kept
                .iter()
                .take(3)
                .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
                .collect();
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                self.total,
                shown.join(", ")
            )
        };
        Err(LogError::RecordErrors {
            errors: self.kept,
            message,
            invalid_timestamp: self.timestamp,
        })
    }
}

/// One record's fields that the rules look at.
struct RecordView {
    timestamp: i64,
    offset_delta: i32,
    key_len: i32,
    value_len: i32,
}

/// Reads one record (`DefaultRecord.readFrom`'s checks).
#[inline]
fn read_record<S: Source>(s: &mut S, h: &BatchHeader<'_>, log_append: bool) -> Result<RecordView, Fail> {
    let len = varint(s)?;
    if let Some(rem) = s.remaining()
        && len >= 0
        && rem < len as u64
    {
        return Err(Fail::Invalid(format!(
            "Invalid record size: expected {len} bytes in record payload, but instead the buffer has only {rem} remaining bytes."
        )));
    }
    let start = s.position();
    let body = (|| -> Result<RecordView, Fail> {
        s.byte()?; // attributes (unused in v2)
        let ts_delta = varlong(s)?;
        let offset_delta = varint(s)?;
        let key_len = field(s)?;
        let value_len = field(s)?;
        let headers = varint(s)?;
        if headers < 0 {
            return Err(Fail::Invalid(format!(
                "Found invalid number of record headers {headers}"
            )));
        }
        let left = (start + len.max(0) as u64).saturating_sub(s.position());
        if headers as u64 > left {
            return Err(Fail::Invalid(format!(
                "Found invalid number of record headers. {headers} is larger than the remaining size of the buffer"
            )));
        }
        for _ in 0..headers {
            let k = varint(s)?;
            if k < 0 {
                return Err(Fail::Invalid(format!("Invalid negative header key size {k}")));
            }
            s.skip(k as usize)?;
            field(s)?;
        }
        let timestamp = if log_append {
            h.max_timestamp()
        } else {
            h.base_timestamp().wrapping_add(ts_delta)
        };
        Ok(RecordView {
            timestamp,
            offset_delta,
            key_len,
            value_len,
        })
    })();
    let view = match body {
        Ok(v) => v,
        Err(Fail::Stop(Stop::Eof)) if s.remaining().is_none() => {
            return Err(Fail::Invalid(format!(
                "Invalid record size: expected {len} bytes in record payload, but the record payload reached EOF."
            )));
        }
        Err(Fail::Stop(Stop::Eof)) => return Err(Fail::Invalid("Found invalid record structure".into())),
        Err(e) => return Err(e),
    };
    let read = s.position() - start;
    if read != len as i64 as u64 {
        return Err(Fail::Invalid(format!(
            "Invalid record size: expected to read {len} bytes in record payload, but instead read {read}"
        )));
    }
    Ok(view)
}

/// Walks every record of `h` (which passed [`check_batch`]) against `rules`.
fn walk<S: Source>(s: &mut S, h: &BatchHeader<'_>, rules: &Rules<'_>) -> Result<Walked, LogError> {
    let log_append = h.attributes() & TIMESTAMP_TYPE_BIT != 0;
    let create_time = rules.timestamp_type == TimestampType::CreateTime;
    let lowest = rules.now_ms.wrapping_sub(rules.timestamp_before_max_ms);
    let highest = rules.now_ms.wrapping_add(rules.timestamp_after_max_ms);
    let mut errors = RecordErrors {
        kept: Vec::new(),
        total: 0,
        timestamp: false,
    };
    let mut walked = Walked {
        max_timestamp: -1,
        offsets_in_order: true,
        canonical_lengths: true,
    };
    let fail = |f: Fail| match f {
        Fail::Invalid(m) => invalid(m),
        Fail::Stop(Stop::Eof) => invalid("Incorrect declared batch size, premature EOF reached".into()),
        Fail::Stop(Stop::Io(e)) => undecompressable(format!("Failed to decompress record stream: {e}")),
        Fail::Stop(Stop::TooLarge) => invalid(format!(
            "the records section decompresses to more than {MAX_DECOMPRESSED} bytes"
        )),
    };
    for index in 0..h.records_count() {
        if s.at_end().map_err(|e| fail(e.into()))? {
            return Err(fail(Fail::Stop(Stop::Eof)));
        }
        let r = read_record(s, h, log_append).map_err(fail)?;
        walked.max_timestamp = walked.max_timestamp.max(r.timestamp);
        walked.offsets_in_order &= r.offset_delta == index;
        walked.canonical_lengths &= r.key_len >= -1 && r.value_len >= -1;
        if rules.compacted && r.key_len < 0 {
            let m = format!(
                "Compacted topic cannot accept message without key in topic partition {}",
                rules.topic_partition
            );
            errors.push(index, m, false);
        } else if create_time && r.timestamp != -1 {
            let diff = rules.now_ms.wrapping_sub(r.timestamp);
            if diff > rules.timestamp_before_max_ms || diff.wrapping_neg() > rules.timestamp_after_max_ms {
                let m = format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{lowest}, {highest}]",
                    r.timestamp,
                    h.base_offset().wrapping_add(r.offset_delta as i64)
                );
                errors.push(index, m, true);
            }
        } else if log_append {
            let m = format!(
                "Invalid timestamp type in message DefaultRecord(offset={}, timestamp={}, key={} bytes, value={} bytes). Producer should not set timestamp type to LogAppendTime.",
                h.base_offset().wrapping_add(r.offset_delta as i64),
                r.timestamp,
                r.key_len.max(0),
                r.value_len.max(0)
            );
            errors.push(index, m, true);
        }
    }
    if !s.at_end().map_err(|e| fail(e.into()))? {
        return Err(invalid(
            "Incorrect declared batch size, records still remaining in file".into(),
        ));
    }
    errors.into_result()?;
    Ok(walked)
}

/// Validates every record of a client's batch that passed [`check_batch`] and its CRC.
pub fn validate_records(h: &BatchHeader<'_>, rules: &Rules<'_>) -> Result<Walked, LogError> {
    let section = &h.bytes()[HEADER_LEN..];
    match h.attributes() & 0x07 {
        0 => walk(&mut Slice { bytes: section, pos: 0 }, h, rules),
        // What Java's GZIPInputStream checks first (ZipException, before any EOF).
        1 if section.len() < 3 || section[..3] != [0x1f, 0x8b, 8] => Err(undecompressable(
            "Not in GZIP format, or an unsupported compression method".into(),
        )),
        codec => {
            let reader = decompressor(codec, section).map_err(|e| undecompressable(format!("{e}")))?;
            walk(&mut Stream::new(reader), h, rules)
        }
    }
}

#[cfg(test)]
#[path = "validator_tests.rs"]
mod tests;
