//! Keys on the command line and key files (mode 0600).
//!
//! A key argument is hex, or a file holding raw bytes or hex: `@FILE` (the
//! convention of `e4c2`) or a plain path.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use e4_proto::Id;
use zeroize::Zeroizing;

use crate::CliError;

/// Mode of every file `e4` writes.
pub const KEY_FILE_MODE: u32 = 0o600;

fn decode_hex(text: &str, len: usize) -> Option<Zeroizing<Vec<u8>>> {
    if text.len() != 2 * len {
        return None;
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    hex::decode_to_slice(text, &mut out[..]).ok()?;
    Some(out)
}

/// A key of exactly `len` bytes, given as `2 * len` hex digits, or as
/// `@FILE` or the path of a file holding the raw bytes or their hex.
pub fn read_key(arg: &str, what: &str, len: usize) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if let Some(file) = arg.strip_prefix('@') {
        if file.is_empty() {
            return Err(CliError::usage(format!(
                "the {what} `@` names no file (write @FILE)"
            )));
        }
        let path = Path::new(file);
        let bytes = Zeroizing::new(fs::read(path).map_err(CliError::io("read", path))?);
        return key_from_file(path, bytes, what, len);
    }
    if let Some(k) = decode_hex(arg, len) {
        return Ok(k);
    }
    let path = Path::new(arg);
    let bytes = match fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(CliError::usage(format!(
                "the {what} `{arg}` is neither {} hex digits nor an existing file (KEY: hex, or a file holding raw bytes or hex, as FILE or @FILE)",
                2 * len
            )))
        }
        Err(e) => return Err(CliError::io("read", path)(e)),
    };
    key_from_file(path, bytes, what, len)
}

/// The key in a file: `len` raw bytes, or `2 * len` hex digits.
fn key_from_file(
    path: &Path,
    bytes: Zeroizing<Vec<u8>>,
    what: &str,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if bytes.len() == len {
        return Ok(Zeroizing::new(bytes.to_vec()));
    }
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
    decode_hex(text, len).ok_or_else(|| {
        CliError::Failed(format!(
            "{}: the {what} must be {len} raw bytes or {} hex digits (the file has {} bytes)",
            path.display(),
            2 * len,
            bytes.len()
        ))
    })
}

/// A fixed-size key.
pub fn read_key_array<const N: usize>(
    arg: &str,
    what: &str,
) -> Result<Zeroizing<[u8; N]>, CliError> {
    let v = read_key(arg, what, N)?;
    let mut out = Zeroizing::new([0u8; N]);
    out.copy_from_slice(&v);
    Ok(out)
}

/// A 16-byte client id in hex.
pub fn parse_id(arg: &str) -> Result<Id, CliError> {
    decode_hex(arg, 16)
        .and_then(|v| Id::from_slice(&v))
        .ok_or_else(|| CliError::usage(format!("the id `{arg}` must be 32 hex digits")))
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Write `bytes` to `path` with mode 0600, atomically. Without `force`, an
/// existing file is never replaced.
pub fn write_key_file(path: &Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    let tmp = with_suffix(path, ".tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(&tmp)
        .map_err(CliError::io("create", &tmp))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(CliError::io("write", &tmp));
    drop(f);
    let placed = written.and_then(|()| {
        if force {
            fs::rename(&tmp, path).map_err(CliError::io("write", path))
        } else {
            // A hard link fails if the target exists: no window in which an
            // existing key could be replaced.
            fs::hard_link(&tmp, path).map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => CliError::Failed(format!(
                    "{} already exists; use --force to replace it",
                    path.display()
                )),
                _ => CliError::io("write", path)(e),
            })
        }
    });
    let _ = fs::remove_file(&tmp);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_from_hex_raw_file_and_hex_file() {
        let dir = tempfile::tempdir().unwrap();
        let hex32 = "11".repeat(32);
        assert_eq!(&read_key(&hex32, "key", 32).unwrap()[..], &[0x11; 32]);
        let raw = dir.path().join("raw");
        fs::write(&raw, [7u8; 32]).unwrap();
        assert_eq!(
            &read_key(raw.to_str().unwrap(), "key", 32).unwrap()[..],
            &[7; 32]
        );
        let hexf = dir.path().join("hex");
        fs::write(&hexf, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(
            &read_key(hexf.to_str().unwrap(), "key", 32).unwrap()[..],
            &[0xab; 32]
        );
        assert!(matches!(
            read_key("nope", "key", 32),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            read_key(raw.to_str().unwrap(), "key", 64),
            Err(CliError::Failed(_))
        ));
        // @FILE, as e4c2 takes it, for raw and hex files.
        let at_raw = format!("@{}", raw.to_str().unwrap());
        assert_eq!(&read_key(&at_raw, "key", 32).unwrap()[..], &[7; 32]);
        let at_hex = format!("@{}", hexf.to_str().unwrap());
        assert_eq!(&read_key(&at_hex, "key", 32).unwrap()[..], &[0xab; 32]);
        let missing = format!("@{}", dir.path().join("missing").to_str().unwrap());
        assert!(matches!(
            read_key(&missing, "key", 32),
            Err(CliError::Io { .. })
        ));
        assert!(matches!(read_key("@", "key", 32), Err(CliError::Usage(_))));
        assert!(parse_id(&"0f".repeat(16)).is_ok());
        assert!(parse_id("0f").is_err());
    }

    #[test]
    fn key_files_are_private_and_never_replaced_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_key_file(&p, b"one", false).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            write_key_file(&p, b"two", false),
            Err(CliError::Failed(_))
        ));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_key_file(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!with_suffix(&p, ".tmp").exists());
    }
}
