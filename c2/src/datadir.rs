//! The data directory: SQLite database, TLS files, admin token, generated
//! passphrase, the process lock and the addresses of a running server.

use crate::error::{C2Error, C2Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Paths inside the data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The directory.
    pub root: PathBuf,
}

/// Addresses of a running server (`server.json`), read by the CLI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoints {
    /// gRPC address.
    pub grpc: String,
    /// REST address.
    pub http: String,
    /// MQTT broker URL.
    pub mqtt: String,
}

impl DataDir {
    /// Open (creating with mode 0700) a data directory.
    pub fn open(root: &Path) -> C2Result<DataDir> {
        std::fs::create_dir_all(root)
            .map_err(|e| C2Error::invalid(format!("data directory {}: {e}", root.display())))?;
        let _ = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700));
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The default SQLite database file.
    pub fn sqlite_file(&self) -> PathBuf {
        self.root.join("c2.db")
    }
    /// The default SQLite URL.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.sqlite_file().display())
    }
    /// Create an empty file readable by its owner only (0600) if it does
    /// not exist; an existing file is left as it is.
    pub fn create_private(&self, path: &Path) -> C2Result<()> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(C2Error::internal(format!("{}: {e}", path.display()))),
        }
    }
    /// TLS directory.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }
    /// The admin token file.
    pub fn token_file(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    /// C2's own MQTT password (user `e4c2`).
    pub fn mqtt_password_file(&self) -> PathBuf {
        self.root.join("mqtt.password")
    }
    /// The generated passphrase file.
    pub fn passphrase_file(&self) -> PathBuf {
        self.root.join("passphrase")
    }
    /// `server.json`.
    pub fn endpoints_file(&self) -> PathBuf {
        self.root.join("server.json")
    }

    /// Take the exclusive process lock (one server, or one offline command,
    /// per data directory).
    pub fn lock(&self) -> C2Result<File> {
        let path = self.root.join("e4c2.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| C2Error::internal(format!("{}: {e}", path.display())))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(_) => Err(C2Error::DataDirInUse(format!(
                "another e4c2 process uses the data directory {} (stop it first, or give another --data-dir)",
                self.root.display()
            ))),
        }
    }

    /// Record the addresses of this server.
    pub fn write_endpoints(&self, e: &Endpoints) -> C2Result<()> {
        let json = serde_json::to_vec_pretty(e).map_err(|e| C2Error::internal(e.to_string()))?;
        std::fs::write(self.endpoints_file(), json)
            .map_err(|e| C2Error::internal(format!("server.json: {e}")))
    }

    /// Read the addresses of a running server.
    pub fn read_endpoints(&self) -> Option<Endpoints> {
        let bytes = std::fs::read(self.endpoints_file()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Write a file readable by its owner only (0600), atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> C2Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Write a file with permissions `mode` (subject to the umask), atomically.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> C2Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| C2Error::internal(format!("{}: {e}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| C2Error::internal(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| C2Error::internal(format!("{}: {e}", path.display())))
}

/// Read a secret file, trimming one trailing newline.
pub fn read_secret(path: &Path) -> C2Result<zeroize::Zeroizing<String>> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| C2Error::invalid(format!("{}: {e}", path.display())))?;
    let s = zeroize::Zeroizing::new(s);
    Ok(zeroize::Zeroizing::new(
        s.strip_suffix('\n')
            .unwrap_or(&s)
            .trim_end_matches('\r')
            .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        let p = dir.path().join("s");
        write_private(&p, b"secret\n").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(&*read_secret(&p).unwrap(), "secret");
        let l = d.lock().unwrap();
        assert!(d.lock().is_err());
        drop(l);
        assert!(d.lock().is_ok());
    }
}
