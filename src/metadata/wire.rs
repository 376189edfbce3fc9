//! Kafka's flexible ("compact") message encoding, as the metadata records use it: fixed-width
//! big-endian integers, unsigned varints (LEB128), compact strings, bytes and arrays (length
//! plus 1 as an unsigned varint; 0 is null) and the tagged-field section every struct ends
//! with: a count, then `tag, size, data` in ascending tag order.
//!
//! Owns: those primitives. Must not know any record's fields (that is `records/`).
//! Every read is bounds-checked and fails with [`WireError`] on short or bad input.

use uuid::Uuid;

/// Why bytes could not be read as a metadata record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("metadata record truncated")]
    Truncated,
    #[error("malformed metadata record: {0}")]
    Malformed(String),
}

/// A bounds-checked reader of flexible-encoded bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (h, t) = self.buf.split_at(n);
        self.buf = t;
        Ok(h)
    }
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn i8(&mut self) -> Result<i8, WireError> {
        Ok(self.fixed::<1>()?[0] as i8)
    }
    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.i8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(WireError::Malformed(format!("boolean byte {b}"))),
        }
    }
    pub fn i16(&mut self) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.fixed()?))
    }
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.fixed()?))
    }
    pub fn i32(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.fixed()?))
    }
    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.fixed()?))
    }
    pub fn uuid(&mut self) -> Result<Uuid, WireError> {
        Ok(Uuid::from_bytes(self.fixed()?))
    }
    /// An unsigned LEB128 varint of at most 32 bits.
    pub fn uvarint(&mut self) -> Result<u32, WireError> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = self.fixed::<1>()?[0];
            if i == 4 && b > 0x0f {
                return Err(WireError::Malformed("unsigned varint longer than 32 bits".into()));
            }
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Malformed("unsigned varint longer than 5 bytes".into()))
    }
    /// A compact length: `None` for null (0), else the length (`n - 1`).
    fn compact_len(&mut self) -> Result<Option<usize>, WireError> {
        Ok(match self.uvarint()? {
            0 => None,
            n => Some(n as usize - 1),
        })
    }
    pub fn nullable_string(&mut self) -> Result<Option<String>, WireError> {
        let Some(len) = self.compact_len()? else {
            return Ok(None);
        };
        let b = self.take(len)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| WireError::Malformed("string is not UTF-8".into()))
    }
    pub fn string(&mut self) -> Result<String, WireError> {
        self.nullable_string()?
            .ok_or_else(|| WireError::Malformed("null where a string is required".into()))
    }
    pub fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let len = self
            .compact_len()?
            .ok_or_else(|| WireError::Malformed("null where bytes are required".into()))?;
        Ok(self.take(len)?.to_vec())
    }
    /// A compact array whose elements `item` reads; `None` for null. The count is checked
    /// against the bytes left (every element takes at least `min_size` bytes), so a hostile
    /// count cannot make the reader allocate more than the input holds.
    pub fn nullable_array<T>(
        &mut self,
        min_size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Option<Vec<T>>, WireError> {
        let Some(n) = self.compact_len()? else { return Ok(None) };
        if n.saturating_mul(min_size.max(1)) > self.remaining() {
            return Err(WireError::Truncated);
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(item(self)?);
        }
        Ok(Some(v))
    }
    pub fn array<T>(
        &mut self,
        min_size: usize,
        item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        self.nullable_array(min_size, item)?
            .ok_or_else(|| WireError::Malformed("null where an array is required".into()))
    }
    pub fn i32s(&mut self) -> Result<Vec<i32>, WireError> {
        self.array(4, Self::i32)
    }
    pub fn nullable_i32s(&mut self) -> Result<Option<Vec<i32>>, WireError> {
        self.nullable_array(4, Self::i32)
    }
    pub fn uuids(&mut self) -> Result<Vec<Uuid>, WireError> {
        self.array(16, Self::uuid)
    }
    pub fn nullable_uuids(&mut self) -> Result<Option<Vec<Uuid>>, WireError> {
        self.nullable_array(16, Self::uuid)
    }
    /// The tagged-field section: `(tag, data)` in the order written; tags must ascend.
    pub fn tagged(&mut self) -> Result<Vec<(u32, &'a [u8])>, WireError> {
        let n = self.uvarint()? as usize;
        if n.saturating_mul(2) > self.remaining() {
            return Err(WireError::Truncated);
        }
        let mut fields: Vec<(u32, &'a [u8])> = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = self.uvarint()?;
            if fields.last().is_some_and(|(t, _)| *t >= tag) {
                return Err(WireError::Malformed(format!("tagged field {tag} out of order")));
            }
            let size = self.uvarint()? as usize;
            fields.push((tag, self.take(size)?));
        }
        Ok(fields)
    }
    /// Fails unless every byte was read.
    pub fn finish(&self, what: &str) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed(format!("{} byte(s) after {what}", self.buf.len())))
        }
    }
}

/// Reads one tagged field's data completely with `read`.
pub fn tagged_value<'a, T>(
    data: &'a [u8],
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, WireError>,
) -> Result<T, WireError> {
    let mut r = Reader::new(data);
    let v = read(&mut r)?;
    r.finish("a tagged field")?;
    Ok(v)
}

/// A writer of flexible-encoded bytes.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.push(v as u8);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn uuid(&mut self, v: &Uuid) -> &mut Self {
        self.buf.extend_from_slice(v.as_bytes());
        self
    }
    pub fn uvarint(&mut self, mut v: u32) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }
    fn compact_len(&mut self, len: Option<usize>) -> &mut Self {
        let n = len.map_or(0, |l| u32::try_from(l + 1).unwrap_or(u32::MAX));
        self.uvarint(n)
    }
    pub fn nullable_string(&mut self, s: Option<&str>) -> &mut Self {
        self.compact_len(s.map(str::len));
        if let Some(s) = s {
            self.buf.extend_from_slice(s.as_bytes());
        }
        self
    }
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.nullable_string(Some(s))
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.compact_len(Some(b.len()));
        self.buf.extend_from_slice(b);
        self
    }
    pub fn nullable_array<T>(&mut self, v: Option<&[T]>, mut item: impl FnMut(&mut Self, &T)) -> &mut Self {
        self.compact_len(v.map(<[T]>::len));
        for x in v.unwrap_or_default() {
            item(self, x);
        }
        self
    }
    pub fn array<T>(&mut self, v: &[T], item: impl FnMut(&mut Self, &T)) -> &mut Self {
        self.nullable_array(Some(v), item)
    }
    pub fn i32s(&mut self, v: &[i32]) -> &mut Self {
        self.array(v, |w, x| {
            w.i32(*x);
        })
    }
    pub fn nullable_i32s(&mut self, v: Option<&[i32]>) -> &mut Self {
        self.nullable_array(v, |w, x| {
            w.i32(*x);
        })
    }
    pub fn uuids(&mut self, v: &[Uuid]) -> &mut Self {
        self.array(v, |w, x| {
            w.uuid(x);
        })
    }
    pub fn nullable_uuids(&mut self, v: Option<&[Uuid]>) -> &mut Self {
        self.nullable_array(v, |w, x| {
            w.uuid(x);
        })
    }
    /// The tagged-field section: `fields` as `(tag, encoded data)`, sorted here by tag.
    pub fn tagged(&mut self, mut fields: Vec<(u32, Vec<u8>)>) -> &mut Self {
        fields.sort_by_key(|f| f.0);
        self.uvarint(fields.len() as u32);
        for (tag, data) in fields {
            self.uvarint(tag).uvarint(data.len() as u32);
            self.buf.extend_from_slice(&data);
        }
        self
    }
    /// An empty tagged-field section.
    pub fn no_tags(&mut self) -> &mut Self {
        self.uvarint(0)
    }
}

/// The bytes `write` produces (a tagged field's data).
pub fn encoded(write: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    write(&mut w);
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarints_round_trip_and_reject_overlong() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let b = encoded(|w| {
                w.uvarint(v);
            });
            let mut r = Reader::new(&b);
            assert_eq!(r.uvarint().unwrap(), v);
            r.finish("varint").unwrap();
        }
        assert_eq!(
            encoded(|w| {
                w.uvarint(300);
            }),
            vec![0xac, 0x02]
        );
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint().is_err());
        assert_eq!(Reader::new(&[0x80]).uvarint(), Err(WireError::Truncated));
    }

    #[test]
    fn compact_types_round_trip() {
        let id = Uuid::from_u64_pair(1, 2);
        let b = encoded(|w| {
            w.string("tópic")
                .nullable_string(None)
                .i32s(&[1, 2, 3])
                .nullable_i32s(None)
                .uuids(&[id])
                .bytes(b"xy")
                .tagged(vec![(2, vec![9]), (0, vec![])]);
        });
        let mut r = Reader::new(&b);
        assert_eq!(r.string().unwrap(), "tópic");
        assert_eq!(r.nullable_string().unwrap(), None);
        assert_eq!(r.i32s().unwrap(), vec![1, 2, 3]);
        assert_eq!(r.nullable_i32s().unwrap(), None);
        assert_eq!(r.uuids().unwrap(), vec![id]);
        assert_eq!(r.bytes().unwrap(), b"xy");
        assert_eq!(r.tagged().unwrap(), vec![(0, &[][..]), (2, &[9][..])]);
        r.finish("test").unwrap();
    }

    #[test]
    fn hostile_counts_fail_without_allocating() {
        // An array claiming 2^31 elements in 5 bytes.
        let b = encoded(|w| {
            w.uvarint(1 << 31);
        });
        assert_eq!(Reader::new(&b).i32s(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&b).tagged(), Err(WireError::Truncated));
        // Tags out of order.
        let b = encoded(|w| {
            w.uvarint(2).uvarint(3).uvarint(0).uvarint(1).uvarint(0);
        });
        assert!(matches!(Reader::new(&b).tagged(), Err(WireError::Malformed(_))));
    }
}
