//! Walking the records inside a stored batch, for ListOffsets only (never on the produce or
//! fetch path): the first record at or after a timestamp, or carrying the max timestamp.
//!
//! Owns: decompression and record parsing that stays bounded whatever the (client-written)
//! bytes say. Records are streamed: memory is O(1) per record (skipped fields are read into
//! a sink), decompressed output is capped at [`MAX_DECOMPRESSED`], and a batch claiming more
//! records than it holds simply ends. A compression bomb or a huge header count costs at
//! most the cap's worth of CPU, never memory.
//!
//! Record layout (v2, inside the possibly compressed records section):
//! `length varint | attributes i8 | timestampDelta varlong | offsetDelta varint | key | value | headers`.

use std::io::{self, Read};

use crate::log::record::batch::{BatchHeader, HEADER_LEN, TIMESTAMP_TYPE_BIT};

/// Most decompressed bytes one lookup will walk.
pub const MAX_DECOMPRESSED: u64 = 128 << 20;

/// Kafka's "xerial" snappy framing: magic, version, compatible version, then
/// `u32 length | raw snappy block` chunks.
const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Streams the decompressed blocks of a snappy records section (xerial-framed or raw).
struct SnappyReader<'a> {
    input: &'a [u8],
    block: Vec<u8>,
    at: usize,
    raw_done: bool,
}

impl<'a> SnappyReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        let xerial = input.len() >= 16 && input.starts_with(XERIAL_MAGIC);
        Self {
            input: if xerial { &input[16..] } else { input },
            block: vec![],
            at: 0,
            raw_done: xerial,
        }
    }

    /// Decompresses the next block into `self.block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let compressed = if !self.raw_done {
            // Unframed: the whole section is one raw snappy block.
            self.raw_done = true;
            std::mem::take(&mut self.input)
        } else {
            if self.input.len() < 4 {
                return Ok(false);
            }
            let n = u32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]]) as usize;
            let rest = &self.input[4..];
            if n > rest.len() {
                return Err(bad("truncated xerial block"));
            }
            let (block, tail) = rest.split_at(n);
            self.input = tail;
            block
        };
        if compressed.is_empty() {
            return Ok(false);
        }
        let len = snap::raw::decompress_len(compressed).map_err(|e| bad(&e.to_string()))?;
        // Snappy expands at most ~21x: a larger claim is a lie; check before allocating.
        if len as u64 > MAX_DECOMPRESSED || len > 22 * compressed.len() + 32 {
            return Err(bad("snappy block claims an impossible size"));
        }
        self.block.resize(len, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(|e| bad(&e.to_string()))?;
        self.at = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader over the decompressed records section, capped at [`MAX_DECOMPRESSED`].
pub(super) fn records_reader<'a>(codec: i16, section: &'a [u8]) -> io::Result<Box<dyn Read + 'a>> {
    Ok(Box::new(decompressor(codec, section)?.take(MAX_DECOMPRESSED)))
}

/// The decompressed records section of codec `codec` (0 none ... 4 zstd), uncapped.
pub(super) fn decompressor<'a>(codec: i16, section: &'a [u8]) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        0 => Box::new(section),
        1 => Box::new(flate2::read::GzDecoder::new(section)),
        2 => Box::new(SnappyReader::new(section)),
        3 => Box::new(lz4::Decoder::new(section)?),
        4 => Box::new(zstd::stream::read::Decoder::new(section)?),
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "unknown compression codec")),
    })
}

fn read_u8(r: &mut dyn Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// A zigzag varint of up to 10 bytes, and how many bytes it took.
fn read_varlong(r: &mut dyn Read) -> io::Result<(i64, usize)> {
    let mut raw = 0u64;
    for i in 0..10 {
        let b = read_u8(r)?;
        raw |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "varint too long"))
}

/// The first record whose timestamp is `>= target` (`None`: the first record carrying the
/// batch's max timestamp), as (offset, timestamp). `None` if there is none or the batch is
/// unreadable.
pub fn find_record(batch: &[u8], target: Option<i64>) -> Option<(i64, i64)> {
    let h = BatchHeader::parse_unchecked(batch).ok()?;
    if h.attributes() & TIMESTAMP_TYPE_BIT != 0 {
        // LogAppendTime: every record carries the batch's max timestamp.
        let ts = h.max_timestamp();
        return match target {
            Some(t) if ts < t => None,
            _ => Some((h.base_offset(), ts)),
        };
    }
    let wanted = |ts: i64| match target {
        Some(t) => ts >= t,
        None => ts == h.max_timestamp(),
    };
    let mut r = records_reader(h.attributes() & 0x07, batch.get(HEADER_LEN..)?).ok()?;
    for _ in 0..h.records_count().max(0) {
        let (len, _) = read_varlong(&mut r).ok()?;
        if len <= 0 || len as u64 > MAX_DECOMPRESSED {
            return None;
        }
        read_u8(&mut r).ok()?; // attributes
        let (ts_delta, a) = read_varlong(&mut r).ok()?;
        let (off_delta, b) = read_varlong(&mut r).ok()?;
        let ts = h.base_timestamp().saturating_add(ts_delta);
        if wanted(ts) {
            // The delta is client-written: it must lie inside the batch's offset range.
            if !(0..=h.last_offset_delta() as i64).contains(&off_delta) {
                return None;
            }
            return Some((h.base_offset() + off_delta, ts));
        }
        let rest = (len as u64).checked_sub((1 + a + b) as u64)?;
        let skipped = io::copy(&mut (&mut r).take(rest), &mut io::sink()).ok()?;
        if skipped != rest {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::batch::tests::make_batch;
    use kafka_protocol::records::Compression;

    #[test]
    fn every_codec_finds_by_timestamp_and_max() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = make_batch(50, 1000, c);
            assert_eq!(find_record(&b, Some(1020)), Some((20, 1020)), "{c:?}");
            assert_eq!(find_record(&b, Some(0)), Some((0, 1000)), "{c:?}");
            assert_eq!(find_record(&b, Some(5000)), None, "{c:?}");
            assert_eq!(find_record(&b, None), Some((49, 1049)), "{c:?}");
        }
    }

    #[test]
    fn a_lying_record_count_is_harmless() {
        let mut b = make_batch(3, 1000, Compression::None);
        // recordsCount = i32::MAX: the walk ends at the real end of the data.
        b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(find_record(&b, Some(5000)), None);
        assert_eq!(find_record(&b, Some(1002)), Some((2, 1002)));
    }

    #[test]
    fn a_zstd_bomb_is_streamed_not_allocated() {
        // One record claiming 200 MiB, followed by 1 GiB of zeros, compressed to a few
        // hundred KiB. The walk skips through it with O(1) memory and stops at the cap.
        let mut plain = vec![];
        let mut z = (200u64 << 20) << 1;
        while z >= 0x80 {
            plain.push((z as u8) | 0x80);
            z >>= 7;
        }
        plain.push(z as u8);
        plain.extend_from_slice(&[0, 0, 0]); // attributes, timestampDelta, offsetDelta
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        std::io::Write::write_all(&mut enc, &plain).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            std::io::Write::write_all(&mut enc, &zeros).unwrap();
        }
        let compressed = enc.finish().unwrap();
        let mut b = make_batch(1, 1000, Compression::None)[..HEADER_LEN].to_vec();
        b.extend_from_slice(&compressed);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[21..23].copy_from_slice(&4i16.to_be_bytes());
        b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(find_record(&b, Some(5000)), None);
    }

    #[test]
    fn offset_deltas_outside_the_batch_are_rejected() {
        let mut b = make_batch(3, 1000, Compression::None);
        // The header now says the batch spans one offset; records claim deltas 0..=2.
        b[23..27].copy_from_slice(&0i32.to_be_bytes());
        assert_eq!(find_record(&b, Some(1000)), Some((0, 1000)));
        assert_eq!(find_record(&b, Some(1002)), None);
    }

    #[test]
    fn an_impossible_snappy_size_claim_is_refused_before_allocating() {
        let mut b = make_batch(1, 1000, Compression::None)[..HEADER_LEN].to_vec();
        b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x01]); // raw snappy: "2^28 bytes follow"
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[21..23].copy_from_slice(&2i16.to_be_bytes());
        assert_eq!(find_record(&b, Some(0)), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_garbage(data in proptest::collection::vec(proptest::num::u8::ANY, 61..400), codec in 0i16..5) {
            let mut b = data;
            b[16] = 2;
            b[21..23].copy_from_slice(&codec.to_be_bytes());
            let len = (b.len() - 12) as i32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
            let _ = find_record(&b, Some(0));
            let _ = find_record(&b, None);
        }
    }
}
