//! A segment's mapped `.log` file, shared with every `Bytes` handed to fetchers, and the
//! bound on how much of all mappings stays resident in brokk's address space.
//!
//! Pages touched through a shared file mapping count in the process's resident set until
//! they are unmapped, so without a bound a consumer reading a 10 GB log from the start
//! would leave the broker "using" 10 GB. Every byte read or written through a mapping is
//! counted; each time [`RESIDENT_BUDGET`] bytes have gone through the mappings, every
//! mapping touched since the last trim gets `MADV_DONTNEED`. That drops page table entries
//! only: the pages stay in the page cache (dirty ones are still written back and
//! `msync`ed), and the next access maps them again with a minor fault. Readers and the
//! writer never notice; the file's contents are what any later access sees.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use memmap2::MmapRaw;

/// Bytes that may go through the mappings between two trims.
pub const RESIDENT_BUDGET: usize = 128 << 20;

/// Bytes gone through any mapping since the last trim.
static SINCE_TRIM: AtomicUsize = AtomicUsize::new(0);
/// Mappings touched since the last trim.
static TOUCHED: Mutex<Vec<Weak<LogMap>>> = Mutex::new(Vec::new());

/// One mapped `.log` file.
#[derive(Debug)]
pub struct LogMap {
    map: MmapRaw,
    capacity: usize,
    /// In [`TOUCHED`].
    listed: AtomicBool,
}

impl LogMap {
    pub fn new(map: MmapRaw, capacity: usize) -> Arc<LogMap> {
        Arc::new(LogMap {
            map,
            capacity,
            listed: AtomicBool::new(false),
        })
    }

    /// The mapped length.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }

    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The underlying mapping (flushing).
    pub fn raw(&self) -> &MmapRaw {
        &self.map
    }

    /// A `Bytes` over `[start, start+len)`, keeping the mapping alive. The caller
    /// guarantees the range is published data, never rewritten while mapped.
    pub fn slice(self: &Arc<Self>, start: usize, len: usize) -> Bytes {
        debug_assert!(start + len <= self.capacity);
        Bytes::from_owner(MapSlice {
            map: self.clone(),
            start,
            len,
        })
    }

    /// Counts `n` bytes read or written through this mapping; trims every touched mapping
    /// once [`RESIDENT_BUDGET`] bytes have gone through them.
    pub fn touch(self: &Arc<Self>, n: usize) {
        if !self.listed.swap(true, Ordering::Relaxed) {
            lock_touched().push(Arc::downgrade(self));
        }
        let before = SINCE_TRIM.fetch_add(n, Ordering::Relaxed);
        if before + n >= RESIDENT_BUDGET && SINCE_TRIM.swap(0, Ordering::Relaxed) >= RESIDENT_BUDGET {
            // Off the caller's thread: an append calls this under its partition's lock.
            if std::thread::Builder::new()
                .name("brokk-trim".into())
                .spawn(trim_touched)
                .is_err()
            {
                trim_touched();
            }
        }
    }

    fn trim(&self) {
        // Unlisted first: a touch from now on lists the mapping again for the next trim.
        self.listed.store(false, Ordering::Relaxed);
        // SAFETY: the mapping is MAP_SHARED over a file, where MADV_DONTNEED discards no
        // data (only private or anonymous mappings are zeroed by it).
        let _ = unsafe { self.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    }
}

fn lock_touched() -> std::sync::MutexGuard<'static, Vec<Weak<LogMap>>> {
    TOUCHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Trims every mapping touched since the last trim.
fn trim_touched() {
    let maps = std::mem::take(&mut *lock_touched());
    for m in maps.iter().filter_map(Weak::upgrade) {
        m.trim();
    }
}

/// Owner of a `Bytes` slice of a mapping.
struct MapSlice {
    map: Arc<LogMap>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the slice was cut below the segment's published size, which never exceeds
        // the mapping's capacity, and published bytes are never written again while mapped.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.start), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// This process's resident KB of `map`, from /proc/self/smaps.
    fn resident_kb(map: &LogMap) -> usize {
        let start = format!("{:x}-", map.as_ptr() as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        lines
            .find(|l| l.starts_with("Rss:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Trimming keeps the data: slices taken before and after read the file's contents.
    #[test]
    fn trimmed_mappings_still_read_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let raw = memmap2::MmapOptions::new().len(data.len()).map_raw(&f).unwrap();
        let m = LogMap::new(raw, data.len());
        let before = m.slice(4096, 8192);
        assert_eq!(&m.slice(0, data.len())[..], &data[..]);
        assert_eq!(resident_kb(&m), 1024, "every page read is mapped");
        m.touch(data.len());
        m.trim();
        assert_eq!(resident_kb(&m), 0, "trimmed");
        assert!(!m.listed.load(Ordering::Relaxed));
        assert_eq!(&before[..], &data[4096..4096 + 8192]);
        assert_eq!(&m.slice(0, data.len())[..], &data[..]);
    }
}
