//! The bytes a record walk reads: an uncompressed records section as a slice, or a
//! compressed one streamed out of its decompressor through a fixed buffer (at most
//! [`WALK_MAX`] bytes); and Kafka's varint readers over them.

use std::io::{self, Read};

/// Most decompressed bytes a walk reads. Kafka reads any amount (it took a 1 GiB value of
/// zeros in a 1 MiB gzip batch); the walk's memory does not grow with it, only its CPU, so
/// the cap is far above what a producer's batch holds and only stops a decompression bomb.
pub(super) const WALK_MAX: u64 = 4 << 30;

/// Size of the buffer a compressed section is streamed through.
const STREAM_BUFFER: usize = 64 * 1024;

/// Why a read from a [`Source`] stopped.
pub(super) enum Stop {
    Eof,
    /// The decompressor failed.
    Io(io::Error),
    /// More than [`WALK_MAX`] bytes.
    TooLarge,
}

/// Bytes of a records section, read front to back.
pub(super) trait Source {
    fn byte(&mut self) -> Result<u8, Stop>;
    fn skip(&mut self, n: usize) -> Result<(), Stop>;
    /// Bytes read so far.
    fn position(&self) -> u64;
    /// Bytes left, where known without reading (an uncompressed section).
    fn remaining(&self) -> Option<u64>;
    fn at_end(&mut self) -> Result<bool, Stop>;
}

/// An uncompressed records section.
pub(super) struct Slice<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
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
pub(super) struct Stream<R> {
    inner: R,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Bytes before `buf[0]`.
    base: u64,
    /// Most bytes read ([`WALK_MAX`]).
    cap: u64,
}

impl<R: Read> Stream<R> {
    pub(super) fn new(inner: R) -> Self {
        Self::capped(inner, WALK_MAX)
    }

    pub(super) fn capped(inner: R, cap: u64) -> Self {
        Self {
            inner,
            buf: vec![0; STREAM_BUFFER],
            lo: 0,
            hi: 0,
            base: 0,
            cap,
        }
    }

    /// Refills an exhausted buffer; false at the end of the stream.
    #[cold]
    fn fill(&mut self) -> Result<bool, Stop> {
        self.base += self.hi as u64;
        self.lo = 0;
        self.hi = 0;
        // Past the cap, one byte more tells whether there is more, and is not kept.
        let at_cap = self.base >= self.cap;
        let want = if at_cap { 1 } else { self.buf.len() };
        loop {
            match self.inner.read(&mut self.buf[..want]) {
                Ok(0) => return Ok(false),
                Ok(_) if at_cap => return Err(Stop::TooLarge),
                Ok(n) => {
                    self.hi = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
pub(super) enum Fail {
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
pub(super) fn varint<S: Source>(s: &mut S) -> Result<i32, Fail> {
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
pub(super) fn varlong<S: Source>(s: &mut S) -> Result<i64, Fail> {
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

/// Skips a length-prefixed field (negative: null, nothing to skip); returns the length and
/// the position of its first byte.
#[inline]
pub(super) fn field<S: Source>(s: &mut S) -> Result<(i32, u64), Fail> {
    let n = varint(s)?;
    let at = s.position();
    if n > 0 {
        s.skip(n as usize)?;
    }
    Ok((n, at))
}
