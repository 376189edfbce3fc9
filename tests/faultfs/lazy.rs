//! One regular file as a disk with a volatile write cache: what was written since the last
//! fsync lives only in memory (dirty 4 KiB pages, a pending size), the backing file holds
//! what an fsync made durable. A power loss is dropping the `LazyFile`.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

const PAGE: u64 = 4096;

#[derive(Debug)]
pub struct LazyFile {
    /// The backing file: the durable content (kept open, so an unlinked file stays readable).
    backing: File,
    /// The size readers see.
    size: u64,
    /// The lowest size since the last fsync: backing bytes at or above it are stale (a
    /// truncation not yet durable) and read as zeros.
    floor: u64,
    dirty: BTreeMap<u64, Box<[u8]>>,
}

impl LazyFile {
    pub fn new(backing: File) -> std::io::Result<Self> {
        let size = backing.metadata()?.len();
        Ok(Self {
            backing,
            size,
            floor: size,
            dirty: BTreeMap::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes written since the last fsync (what a power loss would drop).
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty.len() as u64 * PAGE
    }

    /// The current content of page `n` (zeros past the durable floor).
    fn page(&self, n: u64) -> std::io::Result<Vec<u8>> {
        if let Some(p) = self.dirty.get(&n) {
            return Ok(p.to_vec());
        }
        let mut buf = vec![0u8; PAGE as usize];
        let start = n * PAGE;
        if start < self.floor {
            let want = (self.floor - start).min(PAGE) as usize;
            let mut got = 0;
            while got < want {
                match self.backing.read_at(&mut buf[got..want], start + got as u64)? {
                    0 => break,
                    k => got += k,
                }
            }
        }
        Ok(buf)
    }

    pub fn read(&self, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        while pos < end {
            let (n, within) = (pos / PAGE, pos % PAGE);
            let take = (PAGE - within).min(end - pos);
            let page = self.page(n)?;
            out.extend_from_slice(&page[within as usize..(within + take) as usize]);
            pos += take;
        }
        Ok(out)
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (n, within) = (pos / PAGE, pos % PAGE);
            let take = ((PAGE - within) as usize).min(rest.len());
            let mut page = self.page(n)?;
            page[within as usize..within as usize + take].copy_from_slice(&rest[..take]);
            self.dirty.insert(n, page.into_boxed_slice());
            pos += take as u64;
            rest = &rest[take..];
        }
        self.size = self.size.max(offset + data.len() as u64);
        Ok(())
    }

    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            self.dirty.retain(|n, _| n * PAGE < size);
            if let Some(p) = self.dirty.get_mut(&(size / PAGE)) {
                p[(size % PAGE) as usize..].fill(0);
            }
            self.floor = self.floor.min(size);
        }
        self.size = size;
    }

    /// Makes the current content durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.backing.set_len(self.floor)?;
        for (n, page) in &self.dirty {
            let start = n * PAGE;
            let len = (self.size.saturating_sub(start)).min(PAGE) as usize;
            self.backing.write_all_at(&page[..len], start)?;
        }
        self.backing.set_len(self.size)?;
        self.backing.sync_all()?;
        self.dirty.clear();
        self.floor = self.size;
        Ok(())
    }

    /// A failed fsync as Linux reports it: the cached writes are marked clean without
    /// reaching the disk, so no later fsync makes them durable (they are lost at the next
    /// power loss).
    pub fn drop_unsynced(&mut self) {
        self.dirty.clear();
        self.floor = self.size.min(self.floor);
    }

    /// A power loss in the middle of write-back: each dirty page, picked by `rng`, reaches
    /// the disk whole, torn after some 512-byte sectors, or not at all; the rest is lost.
    pub fn tear(&mut self, rng: &mut impl FnMut() -> u64) -> std::io::Result<()> {
        for (n, page) in std::mem::take(&mut self.dirty) {
            let sectors = (rng() % 17).saturating_sub(8) as usize; // 0 (half the time) ..= 8
            let start = n * PAGE;
            let len = (sectors * 512).min(self.size.saturating_sub(start) as usize);
            if len > 0 {
                self.backing.write_all_at(&page[..len], start)?;
            }
        }
        self.backing.sync_all()
    }
}
