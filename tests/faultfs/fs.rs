//! The FUSE side: a pass-through of a backing directory whose regular files are
//! [`LazyFile`]s, with injected errors.
//!
//! Namespace changes (create, mkdir, unlink, rmdir, rename) reach the backing directory at
//! once, so they survive a power loss whether or not the directory was fsynced: the model
//! is a filesystem that journals metadata in order (ext4's default), and only file data and
//! sizes are lost unless fsynced.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::lazy::LazyFile;

const TTL: Duration = Duration::from_secs(1);

/// A file operation errors can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// write(2), and the write-back of pages written through a shared mapping.
    Write,
    /// fsync(2), fdatasync(2), msync(MS_SYNC).
    Fsync,
    /// fallocate(2) / posix_fallocate(3).
    Allocate,
    /// Creating a file.
    Create,
}

/// Fail the next `times` operations `op` on paths containing `path_contains` with `errno`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub op: Op,
    pub path_contains: String,
    pub errno: i32,
    pub times: u32,
}

#[derive(Debug)]
struct Node {
    /// `None` once unlinked (open descriptors and mappings keep working).
    path: Option<PathBuf>,
    file: Option<LazyFile>,
}

#[derive(Debug)]
pub struct State {
    root_ino: u64,
    nodes: HashMap<u64, Node>,
    pub rules: Vec<Rule>,
    pub injected: u64,
}

impl State {
    pub fn new(backing: &Path) -> std::io::Result<Self> {
        let root_ino = std::fs::metadata(backing)?.ino();
        let mut nodes = HashMap::new();
        nodes.insert(
            INodeNo::ROOT.0,
            Node {
                path: Some(backing.to_path_buf()),
                file: None,
            },
        );
        Ok(Self {
            root_ino,
            nodes,
            rules: vec![],
            injected: 0,
        })
    }

    /// Tears every file's unsynced pages onto the disk (see [`LazyFile::tear`]).
    pub fn tear(&mut self, seed: u64) -> std::io::Result<()> {
        let mut x = seed | 1;
        let mut rng = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in self.nodes.values_mut() {
            if let Some(f) = n.file.as_mut() {
                f.tear(&mut rng)?;
            }
        }
        Ok(())
    }

    /// Bytes written and not yet fsynced, in all files.
    pub fn dirty_bytes(&self) -> u64 {
        self.nodes
            .values()
            .filter_map(|n| n.file.as_ref())
            .map(LazyFile::dirty_bytes)
            .sum()
    }

    fn ino_of(&self, meta: &Metadata) -> u64 {
        if meta.ino() == self.root_ino {
            INodeNo::ROOT.0
        } else {
            meta.ino() + 1
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.nodes.get(&ino.0).and_then(|n| n.path.clone()).ok_or(Errno::ENOENT)
    }

    /// The injected error for `op` on `ino`, if a rule matches (and is used up by it).
    fn fault(&mut self, op: Op, ino: INodeNo) -> Result<(), Errno> {
        let path = self.nodes.get(&ino.0).and_then(|n| n.path.clone()).unwrap_or_default();
        self.fault_at(op, &path)
    }

    fn fault_at(&mut self, op: Op, path: &Path) -> Result<(), Errno> {
        let path = path.to_string_lossy();
        let Some(rule) = self
            .rules
            .iter_mut()
            .find(|r| r.op == op && r.times > 0 && path.contains(&r.path_contains))
        else {
            return Ok(());
        };
        rule.times -= 1;
        self.injected += 1;
        Err(Errno::from_i32(rule.errno))
    }

    /// The lazy file of `ino`, opening its backing file on first use.
    fn file(&mut self, ino: INodeNo) -> Result<&mut LazyFile, Errno> {
        let node = self.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
        if node.file.is_none() {
            let path = node.path.as_ref().ok_or(Errno::ENOENT)?;
            let f = OpenOptions::new().read(true).write(true).open(path)?;
            node.file = Some(LazyFile::new(f)?);
        }
        Ok(node.file.as_mut().expect("just opened"))
    }

    fn attr(&self, ino: u64, meta: &Metadata) -> FileAttr {
        let size = self
            .nodes
            .get(&ino)
            .and_then(|n| n.file.as_ref())
            .map_or(meta.len(), LazyFile::size);
        let kind = if meta.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        };
        let time = |s: i64| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64);
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime()),
            mtime: time(meta.mtime()),
            ctime: time(meta.ctime()),
            crtime: UNIX_EPOCH,
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn attr_of(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        let node = self.nodes.get(&ino.0).ok_or(Errno::ENOENT)?;
        let meta = match (&node.path, &node.file) {
            (Some(p), _) => std::fs::symlink_metadata(p)?,
            (None, Some(_)) => return Err(Errno::ENOENT),
            (None, None) => return Err(Errno::ENOENT),
        };
        Ok(self.attr(ino.0, &meta))
    }

    /// Registers `path` (just looked up or created) and returns its attributes.
    fn enter(&mut self, path: PathBuf) -> Result<FileAttr, Errno> {
        let meta = std::fs::symlink_metadata(&path)?;
        let ino = self.ino_of(&meta);
        self.nodes
            .entry(ino)
            .and_modify(|n| n.path = Some(path.clone()))
            .or_insert(Node {
                path: Some(path),
                file: None,
            });
        Ok(self.attr(ino, &meta))
    }

    fn forget_path(&mut self, path: &Path) {
        for n in self.nodes.values_mut() {
            if n.path.as_deref() == Some(path) {
                n.path = None;
            }
        }
    }
}

/// The `fuser::Filesystem` over a shared [`State`].
pub struct FaultFsImpl(pub Arc<Mutex<State>>);

impl FaultFsImpl {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Filesystem for FaultFsImpl {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.state();
        match st.path(parent).and_then(|p| st.enter(p.join(name))) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().attr_of(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.state();
        let result = (|| {
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(st.path(ino)?, std::fs::Permissions::from_mode(mode))?;
            }
            if let Some(size) = size {
                st.file(ino)?.set_size(size);
            }
            st.attr_of(ino)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let mut st = self.state();
        let result = st.path(parent).and_then(|p| {
            let path = p.join(name);
            std::fs::DirBuilder::new()
                .mode(mode & !umask)
                .create(&path)
                .map_err(Errno::from)?;
            st.enter(path)
        });
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.state();
        let result = st.path(parent).and_then(|p| {
            let path = p.join(name);
            std::fs::remove_file(&path)?;
            st.forget_path(&path);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.state();
        let result = st.path(parent).and_then(|p| {
            let path = p.join(name);
            std::fs::remove_dir(&path)?;
            st.forget_path(&path);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.state();
        let result = (|| {
            let from = st.path(parent)?.join(name);
            let to = st.path(newparent)?.join(newname);
            std::fs::rename(&from, &to)?;
            st.forget_path(&to);
            for n in st.nodes.values_mut() {
                if let Some(p) = &n.path
                    && let Ok(rest) = p.strip_prefix(&from)
                {
                    n.path = Some(if rest.as_os_str().is_empty() {
                        to.clone()
                    } else {
                        to.join(rest)
                    });
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.state();
        let is_dir = st.attr_of(ino).map(|a| a.kind == FileType::Directory);
        match is_dir.and_then(|d| if d { Ok(()) } else { st.file(ino).map(|_| ()) }) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.state();
        let result = (|| {
            let path = st.path(parent)?.join(name);
            st.fault_at(Op::Create, &path)?;
            let f: File = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(mode & !umask)
                .open(&path)?;
            let attr = st.enter(path)?;
            let node = st.nodes.get_mut(&attr.ino.0).ok_or(Errno::ENOENT)?;
            if node.file.is_none() {
                node.file = Some(LazyFile::new(f)?);
            }
            st.attr_of(attr.ino)
        })();
        match result {
            Ok(attr) => reply.created(&TTL, &attr, Generation(0), FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self
            .state()
            .file(ino)
            .and_then(|f| f.read(offset, size as u64).map_err(Errno::from))
        {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.state();
        let result = st
            .fault(Op::Write, ino)
            .and_then(|()| st.file(ino)?.write(offset, data).map_err(Errno::from));
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut st = self.state();
        let result = match st.fault(Op::Fsync, ino) {
            // The cached writes are lost for good, as Linux marks them clean.
            Err(e) => st.file(ino).map(LazyFile::drop_unsynced).and(Err(e)),
            Ok(()) => st.file(ino).and_then(|f| f.sync().map_err(Errno::from)),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return reply.error(Errno::from_i32(libc::EOPNOTSUPP));
        }
        let mut st = self.state();
        let result = st.fault(Op::Allocate, ino).and_then(|()| {
            let f = st.file(ino)?;
            if mode & libc::FALLOC_FL_KEEP_SIZE == 0 && offset + length > f.size() {
                f.set_size(offset + length);
            }
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let st = self.state();
        let Ok(path) = st.path(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let mut entries: Vec<(u64, FileType, std::ffi::OsString)> = vec![
            (ino.0, FileType::Directory, ".".into()),
            (INodeNo::ROOT.0, FileType::Directory, "..".into()),
        ];
        let mut names = match std::fs::read_dir(&path) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    let kind = if meta.is_dir() {
                        FileType::Directory
                    } else {
                        FileType::RegularFile
                    };
                    Some((st.ino_of(&meta), kind, e.file_name()))
                })
                .collect::<Vec<_>>(),
            Err(e) => return reply.error(Errno::from(e)),
        };
        names.sort_by(|a, b| a.2.cmp(&b.2));
        entries.extend(names);
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let Ok(root) = self.state().path(INodeNo::ROOT) else {
            return reply.error(Errno::ENOENT);
        };
        let c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: statvfs(3) fills the zeroed struct for a NUL-terminated path.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return reply.error(Errno::EIO);
        }
        reply.statfs(
            s.f_blocks,
            s.f_bfree,
            s.f_bavail,
            s.f_files,
            s.f_ffree,
            s.f_bsize as u32,
            s.f_namemax as u32,
            s.f_frsize as u32,
        );
    }
}
