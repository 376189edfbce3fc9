//! faultfs: a FUSE filesystem for storage-fault tests (issue 14), mounted by the test process
//! over a backing directory, with brokk as a child process writing through it.
//!
//! - **Power loss.** File data is held as a disk's volatile cache holds it: writes and
//!   size changes stay in memory until the file is fsynced (fsync, fdatasync, msync), then
//!   go to the backing file. [`FaultFs::power_loss`] unmounts and drops the memory: the
//!   backing directory is then what a machine that lost power would find on its disk,
//!   and brokk is restarted on it directly. Namespace changes (create, rename, unlink) are
//!   durable at once (a metadata-journaling filesystem); see `fs.rs`.
//! - **I/O errors.** [`FaultFs::fail`] makes the next N writes, fsyncs, allocations or
//!   creates of matching paths fail with an errno (EIO, ENOSPC, EDQUOT, ...).
//!
//! The mount needs root and `/dev/fuse` (fuser mounts directly, no fusermount).

#![allow(dead_code)]

mod fs;
mod lazy;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use fs::{Op, Rule};

pub struct FaultFs {
    state: Arc<Mutex<fs::State>>,
    session: Option<fuser::BackgroundSession>,
    pub mountpoint: PathBuf,
    pub backing: PathBuf,
}

/// Whether a faultfs can be mounted here (root and `/dev/fuse`); a test that needs one and
/// finds neither says so and does nothing, as `tests/disk_full.rs` does without root.
pub fn available(test: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && Path::new("/dev/fuse").exists();
    // CI sets it: there a missing FUSE is a failure, not a skip.
    if !ok && std::env::var_os("BROKK_REQUIRE_FAULTFS").is_some() {
        panic!("{test}: BROKK_REQUIRE_FAULTFS is set but faultfs needs root and /dev/fuse");
    }
    if !ok {
        eprintln!("{test}: faultfs needs root and /dev/fuse; the test does nothing here");
    }
    ok
}

impl FaultFs {
    /// Mounts a faultfs of `backing` at `mountpoint` (both existing directories).
    pub fn mount(backing: &Path, mountpoint: &Path) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(fs::State::new(backing)?));
        let session = Self::spawn(&state, mountpoint)?;
        Ok(Self {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
            backing: backing.to_path_buf(),
        })
    }

    fn spawn(state: &Arc<Mutex<fs::State>>, mountpoint: &Path) -> std::io::Result<fuser::BackgroundSession> {
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("brokk-faultfs".into()),
            fuser::MountOption::DefaultPermissions,
        ];
        config.n_threads = Some(2);
        fuser::spawn_mount(fs::FaultFsImpl(state.clone()), mountpoint, &config)
    }

    /// Unmounts and mounts again, keeping everything (unsynced writes too): the disk of a
    /// machine that did not lose power, remounted. A fresh mount forgets the write-back
    /// errors Linux would report to the next syncfs (see `tests/disk_faults.rs`).
    pub fn remount(&mut self) -> std::io::Result<()> {
        self.unmount();
        self.session = Some(Self::spawn(&self.state, &self.mountpoint)?);
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, fs::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails the next `times` `op`s on paths containing `path_contains` with `errno`.
    pub fn fail(&self, op: Op, path_contains: &str, errno: i32, times: u32) {
        self.state().rules.push(Rule {
            op,
            path_contains: path_contains.to_string(),
            errno,
            times,
        });
    }

    /// Removes every rule (pending faults are not injected).
    pub fn clear_faults(&self) {
        self.state().rules.clear();
    }

    /// How many errors were injected so far.
    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// Bytes written and not yet fsynced (what a power loss now would drop).
    pub fn dirty_bytes(&self) -> u64 {
        self.state().dirty_bytes()
    }

    /// Loses power: unmounts and drops everything not fsynced. Kill the processes using
    /// the mount first (their descriptors are closed by the kernel on exit).
    pub fn power_loss(mut self) {
        self.unmount();
    }

    /// Loses power in the middle of write-back: unsynced pages reach the disk whole, torn
    /// at a 512-byte sector or not at all (a pseudo-random choice from `seed`), then
    /// everything else is dropped.
    pub fn torn_power_loss(mut self, seed: u64) {
        self.unmount();
        self.state().tear(seed).expect("tear pages onto the backing files");
    }

    fn unmount(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        self.unmount();
    }
}
