//! The cleaner's key -> latest offset map over a log's dirty section (Kafka's OffsetMap).
//! Exact keys rather than Kafka's MD5 digests (no collision can drop a record), bounded by
//! `log.cleaner.dedupe.buffer.size` counted as key bytes plus a per-entry overhead: when it
//! is full the round stops there and the rest is cleaned next time.

use std::collections::HashMap;

/// Bytes one entry costs besides its key (the offset and the table's own overhead).
const ENTRY_OVERHEAD: usize = 48;

#[derive(Debug)]
pub struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    bytes: usize,
    limit: usize,
    /// The last offset the map covers (-1: none).
    pub latest: i64,
}

impl OffsetMap {
    pub fn new(limit: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            limit,
            latest: -1,
        }
    }

    /// Whether another key fits.
    pub fn is_full(&self, key_len: usize) -> bool {
        self.bytes + key_len + ENTRY_OVERHEAD > self.limit
    }

    /// Records `offset` as `key`'s latest (the caller checked [`Self::is_full`] for new keys).
    pub fn put(&mut self, key: &[u8], offset: i64) {
        match self.map.get_mut(key) {
            Some(o) => *o = offset,
            None => {
                self.bytes += key.len() + ENTRY_OVERHEAD;
                self.map.insert(key.into(), offset);
            }
        }
        self.latest = offset;
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// `key`'s latest offset, -1 if the dirty section does not have it.
    pub fn get(&self, key: &[u8]) -> i64 {
        self.map.get(key).copied().unwrap_or(-1)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
