//! libe4's `util.h` helpers (`e4c_derive_*`, `e4c_hex_decode`), the
//! messages of the result codes, and the clock.

use core::cell::Cell;
use core::ffi::{c_char, c_int};
#[cfg(feature = "std")]
use core::sync::atomic::{AtomicU64, Ordering};

use e4_proto::crypto::CryptoProvider;
use e4_proto::{Clock, ControlTopic, Id, TopicHash};

use crate::*;

/// The provider every function of this library uses.
pub(crate) fn provider() -> &'static CryptoProvider {
    e4_backends::providers::default_provider()
}

#[cfg(feature = "std")]
static TIME_OVERRIDE: AtomicU64 = AtomicU64::new(0);

#[cfg(feature = "std")]
fn time_override() -> u64 {
    TIME_OVERRIDE.load(Ordering::Relaxed)
}

#[cfg(feature = "std")]
fn set_time_override(t: u64) {
    TIME_OVERRIDE.store(t, Ordering::Relaxed)
}

/// `no_std` (8-bit targets have no 64-bit atomics): the time set by
/// [`e4c_set_time`], for a single-threaded program. An interrupt handler
/// that keeps the time must not run during `e4c_set_time` or a protect /
/// unprotect (libe4's AVR `secs1970` has the same rule).
#[cfg(not(feature = "std"))]
struct TimeCell(core::cell::UnsafeCell<u64>);

// SAFETY: see above: single-threaded use only (documented on e4c_set_time).
#[cfg(not(feature = "std"))]
unsafe impl Sync for TimeCell {}

#[cfg(not(feature = "std"))]
static TIME_OVERRIDE: TimeCell = TimeCell(core::cell::UnsafeCell::new(0));

#[cfg(not(feature = "std"))]
fn time_override() -> u64 {
    // SAFETY: single-threaded (see `TimeCell`).
    unsafe { TIME_OVERRIDE.0.get().read_volatile() }
}

#[cfg(not(feature = "std"))]
fn set_time_override(t: u64) {
    // SAFETY: single-threaded (see `TimeCell`).
    unsafe { TIME_OVERRIDE.0.get().write_volatile(t) }
}

/// The system's clock (unix seconds).
#[cfg(feature = "std")]
fn system_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `no_std`: there is no system clock, only [`e4c_set_time`]'s (0 until
/// it is called).
#[cfg(not(feature = "std"))]
fn system_time() -> u64 {
    0
}

/// The clock of a storage: [`e4c_set_time`]'s value when set, else the
/// system's; one call may pin it (`E4_OPTION_IGNORE_TIMESTAMP`).
#[derive(Default)]
pub(crate) struct FfiClock {
    pinned: Cell<Option<u64>>,
}

impl FfiClock {
    pub(crate) fn pin(&self, t: Option<u64>) {
        self.pinned.set(t);
    }
}

impl Clock for FfiClock {
    fn now(&self) -> u64 {
        if let Some(t) = self.pinned.get() {
            return t;
        }
        match time_override() {
            0 => system_time(),
            t => t,
        }
    }
}

/// Set the time (unix seconds) every storage and client of this process
/// uses, for devices without a clock and for tests; 0 returns to the
/// system clock. (libe4 on AVR reads a global `secs1970` instead.) In the
/// `no_std` build (AVR) this is the only clock: call it at start and as
/// time passes, from the main program, not from an interrupt handler that
/// may interrupt a protect or unprotect.
#[no_mangle]
pub extern "C" fn e4c_set_time(unix_seconds: u64) {
    set_time_override(unix_seconds);
}

/// The time this library uses (unix seconds).
#[no_mangle]
pub extern "C" fn e4c_get_time() -> u64 {
    FfiClock::default().now()
}

/// Derive a client id: SHA3-256 of the name, truncated to `E4_ID_LEN`
/// bytes. `clientidlen` must be `E4_ID_LEN`.
///
/// Returns `E4_RESULT_OK`, or `E4_ERROR_PARAMETER_INVALID` for a null
/// pointer or another length (libe4 returned `E4_ID_LEN`).
#[no_mangle]
pub unsafe extern "C" fn e4c_derive_clientid(
    clientid: *mut u8,
    clientidlen: usize,
    clientname: *const c_char,
    clientnamelen: usize,
) -> c_int {
    guard(|| {
        if clientidlen != E4_ID_LEN {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        let out = unsafe { bytes_mut(clientid, clientidlen) }?;
        let name = unsafe { bytes(clientname.cast(), clientnamelen) }?;
        out.copy_from_slice(&Id::from_alias(provider().hash, name).0);
        Ok(E4_RESULT_OK)
    })
}

/// Derive a topic hash: SHA3-256 of the NUL-terminated topic, truncated to
/// `E4_TOPICHASH_LEN` bytes (`topichash_len` must be that).
#[no_mangle]
pub unsafe extern "C" fn e4c_derive_topichash(
    topichash: *mut u8,
    topichash_len: usize,
    topic: *const c_char,
) -> c_int {
    guard(|| {
        if topichash_len != E4_TOPICHASH_LEN {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        let out = unsafe { bytes_mut(topichash, topichash_len) }?;
        let topic = unsafe { cstr(topic) }?;
        out.copy_from_slice(&TopicHash::of(provider().hash, topic).0);
        Ok(E4_RESULT_OK)
    })
}

/// Write the control topic of a `E4_ID_LEN`-byte id, `e4/` and the id in
/// lower-case hex, NUL-terminated, into `topic` (at least
/// `E4_CTRLTOPIC_LEN + 1` bytes, else `E4_ERROR_CIPHERTEXT_TOO_SHORT`;
/// libe4 returned the size needed).
#[no_mangle]
pub unsafe extern "C" fn e4c_derive_control_topic(
    topic: *mut c_char,
    topiclen: usize,
    clientid: *const u8,
) -> c_int {
    guard(|| {
        let id: [u8; E4_ID_LEN] = unsafe { array(clientid) }?;
        nonnull(topic)?;
        if topiclen < E4_CTRLTOPIC_LEN + 1 {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(topic.cast(), topiclen) }?;
        let ct = ControlTopic::new(&id).ok_or(E4_ERROR_INTERNAL)?;
        let s = ct.as_bytes();
        out[..s.len()].copy_from_slice(s);
        out[s.len()] = 0;
        Ok(E4_RESULT_OK)
    })
}

/// Decode `hexstringlen` hex digits into `bytes` (room for `byteslen`).
/// Returns the number of digits decoded, 0 on any error (empty or odd
/// input, a non-hex digit, not enough room), as libe4.
#[no_mangle]
pub unsafe extern "C" fn e4c_hex_decode(
    bytes_out: *mut c_char,
    byteslen: usize,
    hexstring: *const c_char,
    hexstringlen: usize,
) -> c_int {
    let r = guard(|| {
        if hexstringlen == 0 || hexstringlen % 2 != 0 || hexstringlen / 2 > byteslen {
            return Err(0);
        }
        if hexstringlen > c_int::MAX as usize {
            return Err(0);
        }
        let src = unsafe { bytes(hexstring.cast(), hexstringlen) }.map_err(|_| 0 as c_int)?;
        let dst = unsafe { bytes_mut(bytes_out.cast(), byteslen) }.map_err(|_| 0 as c_int)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        for (i, pair) in src.chunks_exact(2).enumerate() {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => dst[i] = (h << 4) | l,
                _ => return Err(0),
            }
        }
        Ok(hexstringlen as c_int)
    });
    if r < 0 {
        0
    } else {
        r
    }
}

/// A static, NUL-terminated English description of a result code (never
/// null; unknown codes have one too).
#[no_mangle]
pub extern "C" fn e4c_strerror(code: c_int) -> *const c_char {
    let s: &'static [u8] = match code {
        E4_RESULT_OK => b"success\0",
        E4_RESULT_OK_CONTROL => b"a control message was processed\0",
        E4_ERROR_INTERNAL => b"internal error\0",
        E4_ERROR_INVALID_TAG => b"invalid authentication tag\0",
        E4_ERROR_TIMESTAMP_IN_FUTURE => b"timestamp in the future\0",
        E4_ERROR_TIMESTAMP_TOO_OLD => b"timestamp too old\0",
        E4_ERROR_CIPHERTEXT_TOO_SHORT => b"ciphertext or buffer too short\0",
        E4_ERROR_TOPICKEY_MISSING => b"no key for this topic\0",
        E4_ERROR_MESSAGE_REPLAYED => b"message replayed\0",
        E4_ERROR_INVALID_COMMAND => b"invalid command\0",
        E4_ERROR_PERSISTENCE_ERROR => b"persistence error\0",
        E4_ERROR_DEVICEPK_MISSING => b"public key of the sender unknown\0",
        E4_ERROR_PK_SIGVERIF_FAILED => b"signature verification failed\0",
        E4_ERROR_PARAMETER_OVERFLOW => b"length overflow\0",
        E4_ERROR_PARAMETER_INVALID => b"invalid parameter\0",
        E4_ERROR_PERSISTENCE_INCOMPATIBLE => b"incompatible storage\0",
        E4_ERROR_STORAGE_FULL => b"storage full\0",
        E4_ERROR_UNSUPPORTED_SUITE => b"suite unknown or not compiled in\0",
        E4_ERROR_UNSUPPORTED_OPERATION => b"operation not supported by this suite\0",
        _ => b"unknown result code\0",
    };
    s.as_ptr().cast()
}
