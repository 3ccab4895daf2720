//! The state files of `e4c_*_load` / `e4c_*_sync`: libe4's layouts, written
//! atomically (a temporary file renamed over the old one) with mode 0600,
//! without heap allocation.

use core::ffi::c_int;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use crate::{E4_ERROR_PARAMETER_INVALID, E4_ERROR_PERSISTENCE_ERROR, E4_MAX_PATH};

/// A persistence path held in the storage.
pub(crate) struct StatePath {
    buf: [u8; E4_MAX_PATH + 5],
    len: usize,
}

impl StatePath {
    pub(crate) const fn new() -> StatePath {
        StatePath {
            buf: [0; E4_MAX_PATH + 5],
            len: 0,
        }
    }

    /// Set the path (at most `E4_MAX_PATH` bytes, not empty).
    pub(crate) fn set(&mut self, p: &[u8]) -> Result<(), c_int> {
        if p.is_empty() || p.len() > E4_MAX_PATH {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        self.buf[..p.len()].copy_from_slice(p);
        self.len = p.len();
        Ok(())
    }

    pub(crate) fn is_set(&self) -> bool {
        self.len > 0
    }

    fn path(&self) -> &std::path::Path {
        std::path::Path::new(std::ffi::OsStr::from_bytes(&self.buf[..self.len]))
    }

    /// Write the file: `fill` writes the content to the temporary file,
    /// which then replaces the old one.
    pub(crate) fn write(
        &mut self,
        fill: impl FnOnce(&mut Writer) -> std::io::Result<()>,
    ) -> Result<(), c_int> {
        if !self.is_set() {
            return Err(E4_ERROR_PERSISTENCE_ERROR);
        }
        let n = self.len;
        self.buf[n..n + 4].copy_from_slice(b".tmp");
        let tmp = std::path::Path::new(std::ffi::OsStr::from_bytes(&self.buf[..n + 4]));
        let result = (|| {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(tmp)?;
            let mut w = Writer(file);
            fill(&mut w)?;
            w.0.sync_all()?;
            std::fs::rename(tmp, self.path())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        self.buf[n..n + 4].fill(0);
        result.map_err(|_| E4_ERROR_PERSISTENCE_ERROR)
    }

    /// Open the file for reading.
    pub(crate) fn open(&self) -> Result<Reader, c_int> {
        if !self.is_set() {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        File::open(self.path())
            .map(Reader)
            .map_err(|_| E4_ERROR_PERSISTENCE_ERROR)
    }
}

pub(crate) struct Writer(File);

impl Writer {
    pub(crate) fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.0.write_all(b)
    }
}

pub(crate) struct Reader(File);

impl Reader {
    /// Read exactly `N` bytes.
    pub(crate) fn get<const N: usize>(&mut self) -> Result<[u8; N], c_int> {
        let mut b = [0u8; N];
        self.0
            .read_exact(&mut b)
            .map_err(|_| E4_ERROR_PERSISTENCE_ERROR)?;
        Ok(b)
    }

    /// A little-endian u16 (libe4 wrote the host's order: little endian on
    /// x86, ARM and AVR).
    pub(crate) fn u16(&mut self) -> Result<usize, c_int> {
        Ok(u16::from_le_bytes(self.get::<2>()?) as usize)
    }
}
