//! C2 side: protecting commands for a device of any suite.

use crate::command;
use crate::crypto::{CryptoProvider, Rng};
use crate::error::Error;
use crate::ids::Id;
use crate::keys::SymKey;
use crate::message;
use crate::suite::SuiteId;

/// What C2 knows of a device to protect commands for it.
#[derive(Clone, Copy)]
pub enum DeviceKey<'a> {
    /// Symmetric suite: the device's key.
    Symmetric(&'a SymKey),
    /// Public-key suite: the device's Ed25519 public key.
    PubKey(&'a [u8; 32]),
    /// Kem suites: the device's KEM encapsulation key.
    Kem(&'a [u8]),
}

/// C2's own secret for a suite.
#[derive(Clone, Copy)]
pub enum C2Secret<'a> {
    /// Symmetric suite: none.
    None,
    /// Public-key suite: C2's Curve25519 secret.
    X25519(&'a [u8; 32]),
    /// Kem suites: C2's signature secret key.
    Signing(&'a [u8]),
}

/// Length of the protected form of `cmd_len` command bytes in `suite`.
pub const fn protected_command_len(suite: SuiteId, cmd_len: usize) -> usize {
    suite.command_overhead() + cmd_len
}

/// The E4 command key C2 shares with a symmetric or public-key device.
pub fn e4_command_key(
    provider: &CryptoProvider,
    suite: SuiteId,
    device: DeviceKey<'_>,
    c2: C2Secret<'_>,
) -> Result<SymKey, Error> {
    let s = provider.suite(suite)?;
    match (suite, device, c2) {
        (SuiteId::Symmetric, DeviceKey::Symmetric(k), _) => Ok(k.clone()),
        (SuiteId::PubKey, DeviceKey::PubKey(ed), C2Secret::X25519(sk)) => {
            let curve = s
                .x25519()?
                .public_from_ed25519(ed)
                .ok_or(Error::InvalidArgument)?;
            command::pubkey_command_key(provider, s, sk, &curve)
        }
        _ => Err(Error::InvalidArgument),
    }
}

/// Protect command bytes for a device into `out`; returns the length
/// ([`protected_command_len`]).
#[allow(clippy::too_many_arguments)]
pub fn seal_command(
    provider: &CryptoProvider,
    suite: SuiteId,
    device_id: &Id,
    device: DeviceKey<'_>,
    c2: C2Secret<'_>,
    ts: u64,
    cmd: &[u8],
    rng: &mut dyn Rng,
    out: &mut [u8],
) -> Result<usize, Error> {
    if cmd.is_empty() {
        return Err(Error::InvalidCommand);
    }
    match (device, c2) {
        (DeviceKey::Kem(kem_pk), C2Secret::Signing(sig_sk)) if suite.is_kem_suite() => {
            command::seal_kem_command(
                provider,
                provider.suite(suite)?,
                sig_sk,
                device_id,
                kem_pk,
                ts,
                cmd,
                rng,
                out,
            )
        }
        _ => {
            let key = e4_command_key(provider, suite, device, c2)?;
            message::seal_symmetric(provider.siv, &key, ts, cmd, out)
        }
    }
}

/// [`seal_command`] into a new vector.
#[cfg(feature = "alloc")]
#[allow(clippy::too_many_arguments)]
pub fn seal_command_vec(
    provider: &CryptoProvider,
    suite: SuiteId,
    device_id: &Id,
    device: DeviceKey<'_>,
    c2: C2Secret<'_>,
    ts: u64,
    cmd: &[u8],
    rng: &mut dyn Rng,
) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut out = alloc::vec![0u8; protected_command_len(suite, cmd.len())];
    let n = seal_command(
        provider, suite, device_id, device, c2, ts, cmd, rng, &mut out,
    )?;
    out.truncate(n);
    Ok(out)
}
