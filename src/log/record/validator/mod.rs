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
//! compressed one, stopped at 4 GiB, so a compression bomb costs bounded CPU and no memory.
//! A batch Kafka would change is rebuilt by [`rebuild`].
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
//! - a key, value or header value length below -1: Kafka reads and stores it as null, and
//!   librdkafka then refetches that offset forever (kafka-protocol refuses the batch); brokk
//!   rebuilds the batch with -1.
//!
//! And one place is stricter: Kafka's skip-iterator for compressed batches does not compare
//! a record's length with its fields; brokk checks every record's length in every codec.

mod rebuild;
mod record;
mod source;

pub use rebuild::rebuild;

use crate::log::LogError;
use crate::log::config::TimestampType;
use crate::log::record::batch::{BatchError, BatchHeader, HEADER_LEN, TIMESTAMP_TYPE_BIT};
use crate::log::record::records::decompressor;
use record::read_record;
use source::{Fail, Slice, Source, Stop, Stream, WALK_MAX};

/// Record errors kept for the response; the message counts all of them.
const MAX_RECORD_ERRORS: usize = 10_000;

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
    /// Every key, value and header value length is -1 (null) or more; otherwise the batch
    /// is rebuilt.
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
    let (base, count) = (h.base_offset(), h.records_count());
    let last = base.wrapping_add(h.last_offset_delta() as i64);
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

/// Per-record rule breaks, as Kafka's `RecordError`s.
struct RecordErrors {
    kept: Vec<(i32, String)>,
    total: usize,
    timestamp: bool,
}

impl RecordErrors {
    /// Counts one; its message is only built while it is kept.
    fn push(&mut self, index: i32, message: impl FnOnce() -> String, timestamp: bool) {
        self.total += 1;
        self.timestamp |= timestamp;
        if self.kept.len() < MAX_RECORD_ERRORS {
            self.kept.push((index, message()));
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
        // A stream cut short inside the records is Kafka's EOFException: premature EOF.
        Fail::Stop(Stop::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            invalid("Incorrect declared batch size, premature EOF reached".into())
        }
        Fail::Stop(Stop::Io(e)) => undecompressable(format!("Failed to decompress record stream: {e}")),
        Fail::Stop(Stop::TooLarge) => invalid(format!(
            "the records section decompresses to more than {WALK_MAX} bytes"
        )),
    };
    for index in 0..h.records_count() {
        if s.at_end().map_err(|e| fail(e.into()))? {
            return Err(fail(Fail::Stop(Stop::Eof)));
        }
        let r = read_record(s, h, log_append).map_err(fail)?;
        walked.max_timestamp = walked.max_timestamp.max(r.timestamp);
        walked.offsets_in_order &= r.offset_delta == index;
        walked.canonical_lengths &= r.key_len >= -1 && r.value_len >= -1 && r.header_values_canonical;
        if rules.compacted && r.key_len < 0 {
            let m = || {
                format!(
                    "Compacted topic cannot accept message without key in topic partition {}",
                    rules.topic_partition
                )
            };
            errors.push(index, m, false);
        } else if create_time && r.timestamp != -1 {
            let diff = rules.now_ms.wrapping_sub(r.timestamp);
            if diff > rules.timestamp_before_max_ms || diff.wrapping_neg() > rules.timestamp_after_max_ms {
                let m = || {
                    format!(
                        "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{lowest}, {highest}]",
                        r.timestamp,
                        h.base_offset().wrapping_add(r.offset_delta as i64)
                    )
                };
                errors.push(index, m, true);
            }
        } else if log_append {
            let m = || {
                format!(
                    "Invalid timestamp type in message DefaultRecord(offset={}, timestamp={}, key={} bytes, value={} bytes). Producer should not set timestamp type to LogAppendTime.",
                    h.base_offset().wrapping_add(r.offset_delta as i64),
                    r.timestamp,
                    r.key_len.max(0),
                    r.value_len.max(0)
                )
            };
            errors.push(index, m, true);
        }
    }
    // After the last record any decompression failure, a cut-off stream included, is
    // Kafka's "Error checking for remaining bytes" (UNKNOWN_SERVER_ERROR): a consumer's
    // decompressor would fail on it too.
    let end = s.at_end().map_err(|e| match e {
        Stop::Io(e) => undecompressable(format!("Error checking for remaining bytes after reading batch: {e}")),
        other => fail(other.into()),
    })?;
    if !end {
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
mod tests;
