//! Kafka's rebuild of a produced batch it cannot take in place (`buildRecordsAndAssignOffsets`):
//! another `compression.type`, offset deltas that are not `0..count`, or (brokk only) key or
//! value lengths below -1. Every record is kept, in order, at offset delta = its index,
//! with a null for any negative length; the header's producer fields, transactional bit,
//! base timestamp and counts are kept; under CreateTime the LogAppendTime bit is cleared and
//! the max timestamp is the records' largest.
//!
//! Memory: the decompressed section and the re-encoded records are held whole, so one
//! rebuild runs at a time broker-wide and the section is capped at [`MAX_DECOMPRESSED`]:
//! a rebuild costs at most about three times that, never a multiple of the record count.

use std::io::Read;
use std::sync::Mutex;

use super::record::read_record;
use super::source::{Fail, Slice, Source, varint};
use super::{invalid, undecompressable};
use crate::log::LogError;
use crate::log::record::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, TIMESTAMP_TYPE_BIT, put_varint};
use crate::log::record::codec::compress;
use crate::log::record::records::{MAX_DECOMPRESSED, decompressor};

/// One rebuild at a time (see the module docs).
static REBUILDING: Mutex<()> = Mutex::new(());

const ATTRIBUTES: usize = 21;
const MAX_TIMESTAMP: usize = 35;

/// Re-encodes a record's headers section (validated) with every negative value length -1.
fn put_headers(out: &mut Vec<u8>, headers: &[u8]) -> Result<(), Fail> {
    let mut s = Slice { bytes: headers, pos: 0 };
    let n = varint(&mut s)?;
    put_varint(out, n as i64);
    for _ in 0..n {
        let k = varint(&mut s)?;
        put_varint(out, k as i64);
        let at = s.pos;
        s.skip(k.max(0) as usize)?;
        out.extend_from_slice(&headers[at..s.pos]);
        let v = varint(&mut s)?;
        if v < 0 {
            put_varint(out, -1);
        } else {
            put_varint(out, v as i64);
            let at = s.pos;
            s.skip(v as usize)?;
            out.extend_from_slice(&headers[at..s.pos]);
        }
    }
    Ok(())
}

/// Rebuilds `h` (which passed validation) with codec `codec` at `level`; `create_time`: the
/// topic's timestamp type is CreateTime. Blocking work: call it off the async workers.
pub fn rebuild(h: &BatchHeader<'_>, codec: i16, level: Option<i32>, create_time: bool) -> Result<Vec<u8>, LogError> {
    let _one = REBUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let section = &h.bytes()[HEADER_LEN..];
    let decompressed;
    let plain: &[u8] = match h.attributes() & 0x07 {
        0 => section,
        c => {
            let mut buf = Vec::new();
            decompressor(c, section)
                .and_then(|r| r.take(MAX_DECOMPRESSED + 1).read_to_end(&mut buf))
                .map_err(|e| undecompressable(format!("Failed to decompress record stream: {e}")))?;
            if buf.len() as u64 > MAX_DECOMPRESSED {
                return Err(invalid(format!(
                    "a batch to rebuild decompresses to more than {MAX_DECOMPRESSED} bytes"
                )));
            }
            decompressed = buf;
            &decompressed
        }
    };
    let log_append = h.attributes() & TIMESTAMP_TYPE_BIT != 0;
    let mut src = Slice { bytes: plain, pos: 0 };
    let mut out = Vec::with_capacity(plain.len());
    let mut rec = Vec::new();
    let mut max_timestamp = -1i64;
    let broken = |f: Fail| match f {
        Fail::Invalid(m) => invalid(m),
        Fail::Stop(_) => invalid("Found invalid record structure".into()),
    };
    for index in 0..h.records_count() {
        let r = read_record(&mut src, h, log_append).map_err(broken)?;
        max_timestamp = max_timestamp.max(r.timestamp);
        let bytes = |at: u64, len: i32| (len >= 0).then(|| &plain[at as usize..at as usize + len as usize]);
        rec.clear();
        rec.push(0); // attributes (unused in v2)
        put_varint(&mut rec, r.timestamp.wrapping_sub(h.base_timestamp()));
        put_varint(&mut rec, index as i64);
        for field in [bytes(r.key_at, r.key_len), bytes(r.value_at, r.value_len)] {
            match field {
                None => put_varint(&mut rec, -1),
                Some(b) => {
                    put_varint(&mut rec, b.len() as i64);
                    rec.extend_from_slice(b);
                }
            }
        }
        let headers = &plain[r.headers_at as usize..r.end as usize];
        if r.header_values_canonical {
            rec.extend_from_slice(headers);
        } else {
            put_headers(&mut rec, headers).map_err(broken)?;
        }
        put_varint(&mut out, rec.len() as i64);
        out.extend_from_slice(&rec);
    }
    let section = compress(codec, out, level).map_err(|e| undecompressable(format!("cannot compress: {e}")))?;
    let mut b = Vec::with_capacity(HEADER_LEN + section.len());
    b.extend_from_slice(&h.bytes()[..HEADER_LEN]);
    b.extend_from_slice(&section);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let mut attrs = (h.attributes() & !0x07) | (codec & 0x07);
    if create_time {
        attrs &= !TIMESTAMP_TYPE_BIT;
        b[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    }
    b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch::set_crc(&mut b);
    Ok(b)
}
