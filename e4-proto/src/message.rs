//! Wire formats of protected topic messages, for every suite.
//!
//! ```text
//! symmetric (E4):   ts(8) | SIV(16) | ct(n)                              24 bytes overhead
//! public key (E4):  ts(8) | sender(16) | SIV(16) | ct(n) | Ed25519 sig(64)  104 bytes
//! kem suites:       ts(8) | suite(1) | sender(16) | SIV(16) | ct(n) | sig(S)  41 + S bytes
//! ```
//!
//! In every format the AES-SIV associated data is the bytes before the
//! sender id or SIV: the timestamp (E4), or timestamp and suite byte (kem
//! suites), so a kem-suite message cannot be reinterpreted under another
//! suite. Signatures cover every byte before them. See `docs/formats.md`.

use crate::crypto::{Signer, Siv, SIV_LEN};
use crate::error::Error;
use crate::ids::{Id, ID_LEN};
use crate::keys::{SymKey, ED25519_SIG_LEN};
use crate::suite::SuiteId;
use crate::time::{self, TIMESTAMP_LEN};

/// Overhead of a symmetric message (and of every E4 command).
pub const SYM_OVERHEAD: usize = TIMESTAMP_LEN + SIV_LEN;
/// Overhead of a public-key message.
pub const PUBKEY_OVERHEAD: usize = TIMESTAMP_LEN + ID_LEN + SIV_LEN + ED25519_SIG_LEN;
/// Overhead of a kem-suite message, without the signature.
pub const KEM_HEADER: usize = TIMESTAMP_LEN + 1 + ID_LEN + SIV_LEN;

/// A symmetric message split into its parts.
#[derive(Debug, Clone, Copy)]
pub struct SymMessage<'a> {
    /// The timestamp bytes (also the associated data).
    pub ad: &'a [u8],
    /// The timestamp.
    pub ts: u64,
    /// The SIV.
    pub siv: &'a [u8; SIV_LEN],
    /// The ciphertext.
    pub ct: &'a [u8],
}

impl<'a> SymMessage<'a> {
    /// Split `msg`; E4 refuses anything of 24 bytes or less (so an empty
    /// payload, which E4 can protect, cannot be unprotected).
    pub fn parse(msg: &'a [u8]) -> Result<SymMessage<'a>, Error> {
        if msg.len() <= SYM_OVERHEAD {
            return Err(Error::TooShortCiphertext);
        }
        Ok(SymMessage {
            ad: &msg[..TIMESTAMP_LEN],
            ts: time::decode(msg),
            siv: msg[TIMESTAMP_LEN..SYM_OVERHEAD]
                .try_into()
                .expect("16 bytes"),
            ct: &msg[SYM_OVERHEAD..],
        })
    }

    /// Decrypt into `out` (at least `ct.len()` bytes) under `key`.
    pub fn open(&self, siv: &dyn Siv, key: &SymKey, out: &mut [u8]) -> Result<usize, Error> {
        open_into(siv, key, self.ad, self.siv, self.ct, out)
    }
}

/// Copy `ct` into `out` and open it in place.
// Always inlined: LLVM's AVR backend reads stack-passed arguments one byte
// off on the ATmega2560 (3-byte return addresses), see benches/avr/README.md.
#[inline(always)]
pub(crate) fn open_into(
    siv: &dyn Siv,
    key: &SymKey,
    ad: &[u8],
    tag: &[u8; SIV_LEN],
    ct: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let buf = out.get_mut(..ct.len()).ok_or(Error::BufferTooSmall)?;
    #[cfg(not(target_arch = "avr"))]
    let opened = siv.open_to(key, ad, tag, ct, buf);
    // On AVR: copy, then open in place, as the default `open_to` does (a
    // six-argument virtual call is where LLVM's AVR stack-argument bug
    // bites, see benches/avr/README.md).
    #[cfg(target_arch = "avr")]
    let opened = {
        buf.copy_from_slice(ct);
        siv.open(key, ad, tag, buf)
    };
    match opened {
        Ok(()) => Ok(ct.len()),
        Err(e) => {
            buf.fill(0);
            Err(e)
        }
    }
}

/// [`Siv::seal_to`] (on AVR: copy, then seal in place, for the reason given
/// in [`open_into`]).
#[inline(always)]
fn seal_to(
    siv: &dyn Siv,
    key: &SymKey,
    ad: &[u8],
    pt: &[u8],
    out: &mut [u8],
) -> Result<[u8; SIV_LEN], Error> {
    #[cfg(not(target_arch = "avr"))]
    return siv.seal_to(key, ad, pt, out);
    #[cfg(target_arch = "avr")]
    {
        if pt.len() != out.len() {
            return Err(Error::BufferTooSmall);
        }
        out.copy_from_slice(pt);
        Ok(siv.seal(key, ad, out))
    }
}

/// Protect `payload` in E4's symmetric format into `out`; returns the length
/// (`payload.len() + 24`).
// Always inlined: LLVM's AVR backend reads stack-passed arguments one byte
// off on the ATmega2560 (3-byte return addresses), see benches/avr/README.md.
#[inline(always)]
pub fn seal_symmetric(
    siv: &dyn Siv,
    key: &SymKey,
    ts: u64,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let len = payload.len() + SYM_OVERHEAD;
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let (head, body) = out.split_at_mut(SYM_OVERHEAD);
    head[..TIMESTAMP_LEN].copy_from_slice(&time::encode(ts));
    let tag = seal_to(siv, key, &head[..TIMESTAMP_LEN], payload, body)?;
    head[TIMESTAMP_LEN..].copy_from_slice(&tag);
    Ok(len)
}

/// A signed message (public-key or kem suite) split into its parts.
///
/// Parsing checks only what is needed to verify the signature; the SIV part
/// is taken after verification with [`SignedMessage::siv_part`], which is
/// how E4 orders its checks.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// The timestamp.
    pub ts: u64,
    /// The associated data of the SIV (timestamp, plus suite byte for kem suites).
    pub ad: &'a [u8],
    /// The sender's id.
    pub sender: Id,
    /// Everything the signature covers.
    pub signed: &'a [u8],
    /// The signature.
    pub sig: &'a [u8],
    header: usize,
}

impl<'a> SignedMessage<'a> {
    /// Split an E4 public-key message. Like e4go, anything of at most 72
    /// bytes is refused before the signature is looked at.
    pub fn parse_pubkey(msg: &'a [u8]) -> Result<SignedMessage<'a>, Error> {
        if msg.len() <= TIMESTAMP_LEN + ED25519_SIG_LEN {
            return Err(Error::InvalidProtectedLen);
        }
        let split = msg.len() - ED25519_SIG_LEN;
        Ok(SignedMessage {
            ts: time::decode(msg),
            ad: &msg[..TIMESTAMP_LEN],
            sender: Id::from_slice(&msg[TIMESTAMP_LEN..TIMESTAMP_LEN + ID_LEN]).expect("16"),
            signed: &msg[..split],
            sig: &msg[split..],
            header: TIMESTAMP_LEN + ID_LEN,
        })
    }

    /// Split a kem-suite message; the suite byte must be `suite`.
    pub fn parse_kem(msg: &'a [u8], suite: SuiteId) -> Result<SignedMessage<'a>, Error> {
        let sig_len = suite.params().signature;
        if msg.len() < KEM_HEADER + sig_len {
            return Err(Error::InvalidProtectedLen);
        }
        if msg[TIMESTAMP_LEN] != suite.code() {
            return Err(Error::UnsupportedSuite);
        }
        let split = msg.len() - sig_len;
        Ok(SignedMessage {
            ts: time::decode(msg),
            ad: &msg[..TIMESTAMP_LEN + 1],
            sender: Id::from_slice(&msg[TIMESTAMP_LEN + 1..TIMESTAMP_LEN + 1 + ID_LEN])
                .expect("16"),
            signed: &msg[..split],
            sig: &msg[split..],
            header: TIMESTAMP_LEN + 1 + ID_LEN,
        })
    }

    /// The SIV and ciphertext, once the signature verified. A message whose
    /// signed part is shorter than its header is refused with
    /// [`Error::InvalidProtectedLen`] (e4go panics on it), and a SIV part of
    /// under 16 bytes with [`Error::TooShortCiphertext`] (as e4go).
    pub fn siv_part(&self) -> Result<(&'a [u8; SIV_LEN], &'a [u8]), Error> {
        let rest = self
            .signed
            .get(self.header..)
            .ok_or(Error::InvalidProtectedLen)?;
        if rest.len() < SIV_LEN {
            return Err(Error::TooShortCiphertext);
        }
        let (tag, ct) = rest.split_at(SIV_LEN);
        Ok((tag.try_into().expect("16"), ct))
    }
}

/// Protect `payload` in a signed format into `out`. With `suite = None` this
/// is E4's public-key format; with a kem suite, ours.
#[allow(clippy::too_many_arguments)]
pub fn seal_signed<S: Signer + ?Sized>(
    siv: &dyn Siv,
    signer: &S,
    suite: Option<SuiteId>,
    sender: &Id,
    key: &SymKey,
    ts: u64,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let header = TIMESTAMP_LEN + usize::from(suite.is_some()) + ID_LEN;
    let sig_len = signer.signature_len();
    let len = header + SIV_LEN + payload.len() + sig_len;
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    out[..TIMESTAMP_LEN].copy_from_slice(&time::encode(ts));
    if let Some(s) = suite {
        out[TIMESTAMP_LEN] = s.code();
    }
    let ad_len = header - ID_LEN;
    out[ad_len..header].copy_from_slice(&sender.0);
    let (signed, sig) = out.split_at_mut(len - sig_len);
    let (head, body) = signed.split_at_mut(header + SIV_LEN);
    let tag = seal_to(siv, key, &head[..ad_len], payload, body)?;
    head[header..].copy_from_slice(&tag);
    signer.sign(signed, sig)?;
    Ok(len)
}
