//! One record read as Kafka's `DefaultRecord.readFrom` reads it, with its checks.

use super::source::{Fail, Source, Stop, field, varint, varlong};
use crate::log::record::batch::BatchHeader;

/// One record's fields that the rules look at.
pub(super) struct RecordView {
    /// The record's timestamp (the batch's max timestamp under LogAppendTime).
    pub timestamp: i64,
    pub offset_delta: i32,
    /// Lengths as sent (any negative one is null) and where the bytes start.
    pub key_len: i32,
    pub key_at: u64,
    pub value_len: i32,
    pub value_at: u64,
    /// Where the header count starts, and where the record ends.
    pub headers_at: u64,
    pub end: u64,
    /// Every header value length is -1 (null) or more.
    pub header_values_canonical: bool,
}

/// Reads one record (`DefaultRecord.readFrom`'s checks).
#[inline]
pub(super) fn read_record<S: Source>(s: &mut S, h: &BatchHeader<'_>, log_append: bool) -> Result<RecordView, Fail> {
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
        let (key_len, key_at) = field(s)?;
        let (value_len, value_at) = field(s)?;
        let headers_at = s.position();
        let headers = varint(s)?;
        let mut header_values_canonical = true;
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
            header_values_canonical &= field(s)?.0 >= -1;
        }
        let end = s.position();
        let timestamp = if log_append {
            h.max_timestamp()
        } else {
            h.base_timestamp().wrapping_add(ts_delta)
        };
        Ok(RecordView {
            timestamp,
            offset_delta,
            key_len,
            key_at,
            value_len,
            value_at,
            headers_at,
            end,
            header_values_canonical,
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
