//! Every record of a stored batch, decoded; and a batch built from records. Used off the
//! fetch path only: by the log cleaner, which rewrites batches keeping some of their
//! records, and by produce validation on compacted topics (every record needs a key).
//!
//! Owns: the v2 record encoding (see `records.rs` for the layout) and the five codecs'
//! compressors, writing what Kafka's own broker writes: gzip, xerial-framed snappy, LZ4
//! frames with independent 64 KiB blocks, zstd frames.

use std::io::{self, Read, Write};
use std::ops::Range;

use crate::log::record::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, put_varint};
use crate::log::record::records::{self, MAX_DECOMPRESSED};

/// One decoded record; `key`, `value` and `headers` are ranges of [`DecodedBatch::buf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub attributes: u8,
    pub timestamp: i64,
    pub offset: i64,
    pub key: Option<Range<usize>>,
    /// `None` is a tombstone.
    pub value: Option<Range<usize>>,
    /// The header count and headers, as encoded.
    pub headers: Range<usize>,
}

/// A batch's records over its decompressed records section.
#[derive(Debug)]
pub struct DecodedBatch {
    pub buf: Vec<u8>,
    pub records: Vec<Record>,
}

impl DecodedBatch {
    pub fn key(&self, r: &Record) -> Option<&[u8]> {
        r.key.clone().map(|k| &self.buf[k])
    }
}

fn invalid(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// Reads a zigzag varint from `buf` at `*pos`.
fn varint(buf: &[u8], pos: &mut usize) -> io::Result<i64> {
    let mut z = 0u64;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or_else(|| invalid("truncated varint"))?;
        *pos += 1;
        z |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(invalid("varint too long"))
}

/// A length-prefixed field (-1 = null) at `*pos`.
fn nullable(buf: &[u8], pos: &mut usize, end: usize) -> io::Result<Option<Range<usize>>> {
    let n = varint(buf, pos)?;
    if n < 0 {
        return Ok(None);
    }
    let r = *pos..pos
        .checked_add(n as usize)
        .filter(|e| *e <= end)
        .ok_or_else(|| invalid("field runs past its record"))?;
    *pos = r.end;
    Ok(Some(r))
}

/// Decodes every record of `h` (decompressing at most [`MAX_DECOMPRESSED`] bytes). Offsets
/// outside the batch's range, or a record count that does not match the data, are errors.
pub fn decode(h: &BatchHeader<'_>) -> io::Result<DecodedBatch> {
    let section = &h.bytes()[HEADER_LEN..];
    let mut buf = Vec::new();
    records::records_reader(h.attributes() & 0x07, section)?.read_to_end(&mut buf)?;
    if buf.len() as u64 >= MAX_DECOMPRESSED {
        return Err(invalid("records section decompresses past the limit"));
    }
    let count = h.records_count().max(0) as usize;
    let mut out = Vec::with_capacity(count.min(buf.len()));
    let mut pos = 0usize;
    for _ in 0..count {
        let len = varint(&buf, &mut pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|e| *e <= buf.len() && len > 0)
            .ok_or_else(|| invalid("record length runs past the section"))?;
        let attributes = buf[pos];
        pos += 1;
        let ts_delta = varint(&buf, &mut pos)?;
        let off_delta = varint(&buf, &mut pos)?;
        if !(0..=h.last_offset_delta() as i64).contains(&off_delta) {
            return Err(invalid("record offset delta outside its batch"));
        }
        let key = nullable(&buf, &mut pos, end)?;
        let value = nullable(&buf, &mut pos, end)?;
        if pos > end {
            return Err(invalid("record fields run past its length"));
        }
        out.push(Record {
            attributes,
            timestamp: h.base_timestamp().saturating_add(ts_delta),
            offset: h.base_offset() + off_delta,
            key,
            value,
            headers: pos..end,
        });
        pos = end;
    }
    if pos != buf.len() {
        return Err(invalid("bytes after the last record"));
    }
    Ok(DecodedBatch { buf, records: out })
}

/// The header fields of a batch to build; records are given separately.
#[derive(Debug, Clone)]
pub struct BatchFields {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    /// All attribute bits but the codec's (which `build` sets from `codec`).
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchFields {
    /// The fields of an existing batch.
    pub fn of(h: &BatchHeader<'_>) -> Self {
        let b = h.bytes();
        Self {
            base_offset: h.base_offset(),
            partition_leader_epoch: i32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            attributes: h.attributes() & !0x07,
            last_offset_delta: h.last_offset_delta(),
            base_timestamp: h.base_timestamp(),
            max_timestamp: h.max_timestamp(),
            producer_id: h.producer_id(),
            producer_epoch: h.producer_epoch(),
            base_sequence: h.base_sequence(),
        }
    }
}

fn put_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Encodes `records` (from `src`) relative to `f`'s base offset and timestamp.
fn encode_records<'a>(
    f: &BatchFields,
    src: &DecodedBatch,
    records: impl Iterator<Item = &'a Record>,
) -> (Vec<u8>, i32) {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut n = 0;
    for r in records {
        rec.clear();
        rec.push(r.attributes);
        put_varint(&mut rec, r.timestamp - f.base_timestamp);
        put_varint(&mut rec, r.offset - f.base_offset);
        put_nullable(&mut rec, r.key.clone().map(|k| &src.buf[k]));
        put_nullable(&mut rec, r.value.clone().map(|v| &src.buf[v]));
        rec.extend_from_slice(&src.buf[r.headers.clone()]);
        put_varint(&mut out, rec.len() as i64);
        out.extend_from_slice(&rec);
        n += 1;
    }
    (out, n)
}

/// Kafka's xerial snappy framing: magic, version 1, compatible version 1, then
/// `u32 length | raw snappy block` for each 32 KiB of input.
fn snappy_xerial(plain: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1];
    let mut enc = snap::raw::Encoder::new();
    for chunk in plain.chunks(32 * 1024) {
        let block = enc.compress_vec(chunk).map_err(|e| invalid(&e.to_string()))?;
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

/// Compresses a records section with Kafka codec `codec` (0 none ... 4 zstd), at `level`
/// (`None`: the codec's default, as Kafka's).
pub fn compress(codec: i16, plain: Vec<u8>, level: Option<i32>) -> io::Result<Vec<u8>> {
    Ok(match codec {
        0 => plain,
        1 => {
            let l = level.map_or(flate2::Compression::default(), |l| {
                flate2::Compression::new(l.clamp(0, 9) as u32)
            });
            let mut e = flate2::write::GzEncoder::new(Vec::new(), l);
            e.write_all(&plain)?;
            e.finish()?
        }
        2 => snappy_xerial(&plain)?,
        3 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .level(level.unwrap_or(9).max(0) as u32)
                .build(Vec::new())?;
            e.write_all(&plain)?;
            let (out, r) = e.finish();
            r?;
            out
        }
        4 => zstd::stream::encode_all(&plain[..], level.unwrap_or(3))?,
        _ => return Err(invalid("unknown compression codec")),
    })
}

/// Builds a v2 batch of `records` with header `f`, compressed with `codec`; the CRC is
/// computed. The records keep their offsets and timestamps (deltas are recomputed).
pub fn build<'a>(
    f: &BatchFields,
    codec: i16,
    level: Option<i32>,
    src: &DecodedBatch,
    records: impl Iterator<Item = &'a Record>,
) -> io::Result<Vec<u8>> {
    let (plain, count) = encode_records(f, src, records);
    let section = compress(codec, plain, level)?;
    let mut b = Vec::with_capacity(HEADER_LEN + section.len());
    b.extend_from_slice(&f.base_offset.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + section.len()) as i32).to_be_bytes());
    b.extend_from_slice(&f.partition_leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&((f.attributes & !0x07) | (codec & 0x07)).to_be_bytes());
    b.extend_from_slice(&f.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&f.base_timestamp.to_be_bytes());
    b.extend_from_slice(&f.max_timestamp.to_be_bytes());
    b.extend_from_slice(&f.producer_id.to_be_bytes());
    b.extend_from_slice(&f.producer_epoch.to_be_bytes());
    b.extend_from_slice(&f.base_sequence.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&section);
    batch::set_crc(&mut b);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::batch::tests::make_batch;
    use kafka_protocol::records::Compression;

    #[test]
    fn every_codec_round_trips_a_subset() {
        for (codec, c) in [
            (0, Compression::None),
            (1, Compression::Gzip),
            (2, Compression::Snappy),
            (3, Compression::Lz4),
            (4, Compression::Zstd),
        ] {
            let mut b = make_batch(20, 1000, c);
            batch::set_base_offset(&mut b, 100);
            let h = BatchHeader::parse_validated(&b).unwrap();
            let d = decode(&h).unwrap();
            assert_eq!(d.records.len(), 20);
            assert_eq!(d.records[7].offset, 107);
            assert_eq!(d.records[7].timestamp, 1007);
            let kept: Vec<_> = d.records.iter().filter(|r| r.offset % 3 == 0).collect();
            let f = BatchFields::of(&h);
            let out = build(&f, codec, None, &d, kept.iter().copied()).unwrap();
            let h2 = BatchHeader::parse_unchecked(&out).unwrap();
            assert_eq!(crc32c::crc32c(&out[21..]), h2.crc(), "{c:?}");
            assert_eq!((h2.base_offset(), h2.last_offset()), (100, 119));
            let d2 = decode(&h2).unwrap();
            assert_eq!(d2.records.len(), kept.len());
            for (a, b) in d2.records.iter().zip(&kept) {
                assert_eq!((a.offset, a.timestamp), (b.offset, b.timestamp));
                assert_eq!(d2.key(a), d.key(b));
                assert_eq!(a.value.clone().map(|v| &d2.buf[v]), b.value.clone().map(|v| &d.buf[v]));
                assert_eq!(&d2.buf[a.headers.clone()], &d.buf[b.headers.clone()]);
            }
            // kafka-protocol (what clients use) reads what was built.
            let mut bytes = bytes::Bytes::from(out);
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
            assert_eq!(set.records.len(), kept.len(), "{c:?}");
            assert_eq!(set.records[1].offset, kept[1].offset);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut b = make_batch(3, 1000, Compression::None);
        b[57..61].copy_from_slice(&5i32.to_be_bytes());
        assert!(decode(&BatchHeader::parse_unchecked(&b).unwrap()).is_err());
        let mut b = make_batch(3, 1000, Compression::None);
        b[23..27].copy_from_slice(&0i32.to_be_bytes());
        assert!(decode(&BatchHeader::parse_unchecked(&b).unwrap()).is_err());
    }
}
