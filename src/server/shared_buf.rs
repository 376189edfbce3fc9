//! A response buffer that shares large payloads instead of copying them.
//!
//! kafka-protocol encodes a message by calling `put_slice` for every field, records
//! included. [`SharedBuf`] is told beforehand which `Bytes` the message holds (a Fetch
//! response's record sets, slices of the segment mappings) and in which order the encoder
//! will meet them; when `put_slice` is handed exactly one of those, the buffer keeps a
//! clone of the `Bytes` (a reference count) as its own part instead of copying it. Every
//! other field is written into a small owned part. The result is a list of parts for a
//! vectored write, byte-for-byte the encoding kafka-protocol would have produced.

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

/// Collects an encoded message as owned and shared parts.
pub struct SharedBuf {
    parts: Vec<Bytes>,
    /// Bytes in `parts`.
    done: usize,
    /// The owned part being written.
    cur: BytesMut,
    /// Payloads still to be met, in encoding order.
    shared: std::vec::IntoIter<Bytes>,
    next: Option<Bytes>,
    /// Stands in for a range that does not lie in `cur` (see [`SharedBuf::range`]).
    scratch: Vec<u8>,
    misused: bool,
}

impl SharedBuf {
    /// A buffer expecting `shared` (in encoding order) and about `owned` bytes of other fields.
    pub fn new(owned: usize, shared: Vec<Bytes>) -> SharedBuf {
        let mut shared = shared.into_iter();
        let next = shared.next();
        SharedBuf {
            parts: Vec::new(),
            done: 0,
            cur: BytesMut::with_capacity(owned),
            shared,
            next,
            scratch: Vec::new(),
            misused: false,
        }
    }

    /// The parts, in order; `None` if the encoder reached back into an already shared
    /// stretch (kafka-protocol's gap fill-ins do that; no message sent this way uses them).
    pub fn finish(mut self) -> Option<Vec<Bytes>> {
        if self.misused {
            return None;
        }
        if !self.cur.is_empty() {
            self.parts.push(self.cur.split().freeze());
        }
        Some(self.parts)
    }

    fn flush_owned(&mut self) {
        if !self.cur.is_empty() {
            let part = self.cur.split().freeze();
            self.done += part.len();
            self.parts.push(part);
        }
    }
}

// SAFETY: every method forwards to the owned `BytesMut` part, whose contract it keeps;
// `put_slice` only adds whole parts before the owned part's unwritten capacity.
unsafe impl BufMut for SharedBuf {
    fn remaining_mut(&self) -> usize {
        self.cur.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut()`, which is `cur`'s.
        unsafe { self.cur.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.cur.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if let Some(next) = &self.next
            && !src.is_empty()
            && src.as_ptr() == next.as_ptr()
            && src.len() == next.len()
        {
            self.flush_owned();
            let part = self.next.take().unwrap_or_default();
            self.done += part.len();
            self.parts.push(part);
            self.next = self.shared.next();
            return;
        }
        self.cur.extend_from_slice(src);
    }
}

impl ByteBufMut for SharedBuf {
    fn offset(&self) -> usize {
        self.done + self.cur.len()
    }

    fn seek(&mut self, offset: usize) {
        match offset.checked_sub(self.done) {
            Some(at) => self.cur.resize(at, 0),
            None => self.misused = true,
        }
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        let start = r.start.checked_sub(self.done);
        let end = r.end.checked_sub(self.done);
        match (start, end) {
            (Some(s), Some(e)) if s <= e && e <= self.cur.len() => &mut self.cur[s..e],
            _ => {
                self.misused = true;
                self.scratch.clear();
                self.scratch.resize(r.len(), 0);
                &mut self.scratch
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_registered_payloads_and_copies_the_rest() {
        let big = Bytes::from(vec![7u8; 4096]);
        let lookalike = vec![7u8; 4096];
        let mut b = SharedBuf::new(64, vec![big.clone()]);
        b.put_i32(5);
        b.put_slice(&lookalike); // same contents, different memory: copied
        b.put_slice(&big);
        b.put_u8(1);
        let parts = b.finish().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].len(), 4 + 4096);
        assert_eq!(parts[1].as_ptr(), big.as_ptr());
        assert_eq!(&parts[2][..], &[1]);
    }

    #[test]
    fn a_gap_behind_a_shared_part_is_refused_not_corrupted() {
        let big = Bytes::from(vec![1u8; 100]);
        let mut b = SharedBuf::new(8, vec![big.clone()]);
        b.put_i32(0);
        b.put_slice(&big);
        b.range(0..4).copy_from_slice(&[9, 9, 9, 9]);
        assert!(b.finish().is_none());
    }
}
