//! The state file: locked, written atomically, never half-updated.
//!
//! A save writes the whole state to `<file>.tmp` (created with mode 0600),
//! fsyncs it, renames it over `<file>` and fsyncs the directory. A process
//! killed at any moment therefore leaves either the previous state or the
//! new one, never a mixture; a leftover `<file>.tmp` is deleted the next
//! time the state is opened. An exclusive lock on `<file>.lock` keeps a
//! second process from using the same state at the same time.
//!
//! A state file that is truncated, damaged, of another format or version,
//! or readable by group or others is refused with a [`StateError`] and left
//! untouched: it is never silently replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use e4_proto::crypto::CryptoProvider;
use zeroize::Zeroizing;

use crate::error::StateError;
use crate::state::{self, DecodeError, Snapshot, StateRef};

/// Permission bits of state files.
pub const STATE_FILE_MODE: u32 = 0o600;

/// Retries of a busy lock (5 ms apart) before [`StateError::Locked`].
const LOCK_ATTEMPTS: u32 = 20;

/// A failed save.
#[derive(Debug)]
pub(crate) struct SaveError {
    pub error: StateError,
    /// The new state is in place; only its durability is in doubt.
    pub committed: bool,
}

/// A state file held by this process.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    tmp: PathBuf,
    _lock: File,
    /// This process created the lock file (for a new state).
    new_lock: bool,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn secret_file_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(STATE_FILE_MODE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    o
}

impl FileStore {
    /// Claim `path` for a new state: fails if it already exists.
    pub fn create(path: impl AsRef<Path>) -> Result<FileStore, StateError> {
        let store = FileStore::lock(path.as_ref())?;
        if fs::symlink_metadata(&store.path).is_ok() {
            let path = store.path.clone();
            store.drop_new_lock();
            return Err(StateError::AlreadyExists(path));
        }
        Ok(store)
    }

    /// Claim the existing state at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore, StateError> {
        let store = FileStore::lock(path.as_ref())?;
        match fs::symlink_metadata(&store.path) {
            Ok(_) => Ok(store),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(StateError::NotFound(store.path.clone()))
            }
            Err(e) => Err(io_err("inspect", &store.path)(e)),
        }
    }

    fn lock(path: &Path) -> Result<FileStore, StateError> {
        let lock_path = with_suffix(path, ".lock");
        let new_lock = fs::symlink_metadata(&lock_path).is_err();
        let lock = secret_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("create lock file", &lock_path))?;
        // A process being spawned by another thread holds copies of this
        // process's descriptors until it executes its program; if one of
        // them is a just-closed lock of this file, the lock looks taken for
        // a few microseconds. So a busy lock is retried briefly before it is
        // reported.
        let mut attempts = 0;
        loop {
            match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(e) if e == rustix::io::Errno::WOULDBLOCK && attempts < LOCK_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    return Err(StateError::Locked(path.to_owned()))
                }
                Err(e) => return Err(io_err("lock", &lock_path)(e.into())),
            }
        }
        let store = FileStore {
            path: path.to_owned(),
            tmp: with_suffix(path, ".tmp"),
            _lock: lock,
            new_lock,
        };
        // A leftover from a save that was interrupted: it may hold keys.
        match fs::remove_file(&store.tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                let err = io_err("remove stale", &store.tmp)(e);
                store.drop_new_lock();
                return Err(err);
            }
        }
        Ok(store)
    }

    /// Give up a new state that could not be written: the lock file this
    /// process created is removed (while still locked), so a failed
    /// creation leaves nothing behind.
    pub fn abandon(self) {
        if fs::symlink_metadata(&self.path).is_err() {
            self.drop_new_lock();
        }
    }

    /// Remove the lock file if this process created it.
    fn drop_new_lock(self) {
        if self.new_lock {
            let _ = fs::remove_file(with_suffix(&self.path, ".lock"));
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read and validate the state.
    pub(crate) fn load(&self, p: &'static CryptoProvider) -> Result<Snapshot, StateError> {
        let path = &self.path;
        let mut file = secret_file_options()
            .read(true)
            .open(path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => StateError::NotFound(path.clone()),
                _ => io_err("open", path)(e),
            })?;
        let meta = file.metadata().map_err(io_err("inspect", path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StateError::InsecurePermissions {
                path: path.clone(),
                mode,
            });
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
        file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
        state::decode(p, &bytes).map_err(|e| match e {
            DecodeError::NotAStateFile(reason) => StateError::NotAStateFile {
                path: path.clone(),
                reason,
            },
            DecodeError::UnsupportedVersion(found) => StateError::UnsupportedVersion {
                path: path.clone(),
                found,
                supported: state::VERSION,
            },
            DecodeError::Corrupt(reason) => StateError::Corrupt {
                path: path.clone(),
                reason,
            },
            DecodeError::SuiteNotCompiled(suite) => StateError::SuiteNotCompiled {
                path: path.clone(),
                suite,
            },
        })
    }

    /// Replace the state atomically (temp file, fsync, rename, fsync of
    /// the directory). On failure, [`SaveError::committed`] tells whether
    /// the new state had already replaced the old one (only the final
    /// directory sync failed).
    pub(crate) fn save(&self, p: &CryptoProvider, s: &StateRef<'_>) -> Result<(), SaveError> {
        let bytes = state::encode(p, s);
        let result = self.write_tmp(&bytes).and_then(|()| {
            fs::rename(&self.tmp, &self.path).map_err(io_err("replace", &self.path))
        });
        if let Err(error) = result {
            let _ = fs::remove_file(&self.tmp);
            return Err(SaveError {
                error,
                committed: false,
            });
        }
        self.sync_dir().map_err(|error| SaveError {
            error,
            committed: true,
        })
    }

    fn write_tmp(&self, bytes: &[u8]) -> Result<(), StateError> {
        let tmp = &self.tmp;
        let mut f = secret_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)
            .map_err(io_err("create", tmp))?;
        // The mode given at creation does not apply to a file that existed.
        f.set_permissions(fs::Permissions::from_mode(STATE_FILE_MODE))
            .map_err(io_err("set permissions of", tmp))?;
        f.write_all(bytes).map_err(io_err("write", tmp))?;
        f.sync_all().map_err(io_err("sync", tmp))
    }

    fn sync_dir(&self) -> Result<(), StateError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync directory", dir))
    }
}
