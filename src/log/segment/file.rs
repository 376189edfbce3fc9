//! A file handle that can be closed while its memory mappings stay in use.
//!
//! Owns: the descriptor of one segment or index file. Sealed segments release theirs (the
//! mapping keeps serving reads), index files hold none at all (they are opened for the
//! rare allocation, trim or fsync), and an active log gives its descriptor up while no
//! append comes (reopened by the next one), so descriptors grow with the partitions being
//! written, not with the partitions there are.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::LogError;

#[derive(Debug)]
pub struct ReleasableFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl ReleasableFile {
    pub fn new(path: &Path, file: File) -> Self {
        Self {
            path: path.to_path_buf(),
            file: Mutex::new(Some(file)),
        }
    }

    /// Runs `op` on the open file; an error if it was released.
    pub fn with<R>(&self, op: impl FnOnce(&File) -> Result<R, LogError>) -> Result<R, LogError> {
        let guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(f) => op(f),
            None => Err(LogError::Invalid(format!(
                "{} is sealed and its file closed",
                self.path.display()
            ))),
        }
    }

    /// A handle with no descriptor yet (see [`Self::with_reopened`]).
    pub fn closed(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            file: Mutex::new(None),
        }
    }

    /// Runs `op` on the file, opening it just for `op` when no descriptor is held (files
    /// that are rarely touched, such as index files between allocations, hold none).
    pub fn with_reopened<R>(&self, op: impl FnOnce(&File) -> Result<R, LogError>) -> Result<R, LogError> {
        let guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(f) => op(f),
            None => {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| LogError::io(&self.path, e))?;
                op(&f)
            }
        }
    }

    /// Opens the file again if its descriptor was released (an idle active log about to
    /// be appended to, sealed or trimmed).
    pub fn reopen(&self) -> Result<(), LogError> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(|source| LogError::Reopen {
                    path: self.path.clone(),
                    source,
                })?;
            *guard = Some(f);
        }
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// fsyncs data and length, if still open.
    pub fn sync_if_open(&self) -> Result<(), LogError> {
        match self.file.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(f) => f.sync_all().map_err(|e| LogError::io(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Closes the descriptor.
    pub fn release(&self) {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
