//! Beyond libe4: every suite compiled into the library (symmetric,
//! public-key, post-quantum ML-DSA-65 + ML-KEM-768, hybrid) through one
//! opaque handle, `e4c_client`, allocated by `e4c_client_new` or
//! `e4c_client_generate` and released by `e4c_client_free`.
//!
//! Suite negotiation (`docs/negotiation.md`) for gateways:
//! `e4c_client_set_negotiation_callback`, `e4c_client_set_capabilities`,
//! `e4c_client_announce`, `e4c_client_confirm_retry`,
//! `e4c_client_negotiation_status`; the SetSuite command and the first
//! command under the new suite are handled in `e4c_client_unprotect`.

use core::ffi::{c_char, c_int, c_void};

use e4_backends::rng::OsRng;
use e4_proto::client::KemIdentity;
use e4_proto::keys::{Ed25519Secret, SecretBytes};
use e4_proto::negotiation::{Negotiator, Ranking};
use e4_proto::store::{MemStore, Store};
use e4_proto::{Client, Clock, Error, Id, Identity, SuiteId, SuiteSet, SymKey, TopicHash};
use zeroize::Zeroizing;

use crate::util::{provider, FfiClock};
use crate::*;

/// The symmetric suite (AES-SIV), libe4's symmetric mode.
pub const E4C_SUITE_SYMMETRIC: u8 = 0x01;
/// The public-key suite (Ed25519, X25519), libe4's public-key mode.
pub const E4C_SUITE_PUBKEY: u8 = 0x02;
/// Post-quantum: ML-DSA-65 signatures, ML-KEM-768 command keys.
pub const E4C_SUITE_PQ: u8 = 0x10;
/// Hybrid: Ed25519 + ML-DSA-65, X25519 + ML-KEM-768.
pub const E4C_SUITE_HYBRID: u8 = 0x20;

/// Negotiation event: publish `message` (an Announce) on `topic`
/// (`e4c2/announce/<hex id>`); `suite` is the client's current suite.
pub const E4C_NEGOTIATION_ANNOUNCE: c_int = 1;
/// Negotiation event: publish `message` (a Confirm) on `topic`; `suite` is
/// the suite C2 chose, which the client runs after C2's next command.
pub const E4C_NEGOTIATION_CONFIRM: c_int = 2;
/// Negotiation event: the client now runs `suite` (the first command under
/// it arrived; its keys replace the old suite's, topic keys are kept,
/// public keys of other devices are dropped); `message` is NULL.
pub const E4C_NEGOTIATION_SUITE_CHANGED: c_int = 3;

/// `e4c_client_negotiation_status`: nothing outstanding.
pub const E4C_NEGOTIATION_IDLE: c_int = 0;
/// `e4c_client_negotiation_status`: an Announce was published, no answer
/// yet.
pub const E4C_NEGOTIATION_ANNOUNCED: c_int = 1;
/// `e4c_client_negotiation_status`: a SetSuite was accepted and its
/// Confirm published; waiting for C2's first command under the new suite.
pub const E4C_NEGOTIATION_ACCEPTED: c_int = 2;

/// The negotiation callback: `(user, event, suite, topic, message,
/// message_len)`, with `event` an `E4C_NEGOTIATION_*` event, `suite` an
/// `E4C_SUITE_*` value, `topic` a NUL-terminated string and `message` the
/// bytes to publish (both valid during the call only). It is called from
/// `e4c_client_announce`, `e4c_client_confirm_retry` and
/// `e4c_client_unprotect`, after the client's state has changed; it must
/// not call functions on the same client.
pub type e4c_negotiation_callback = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        event: c_int,
        suite: u8,
        topic: *const c_char,
        message: *const u8,
        message_len: usize,
    ),
>;

/// A client of any suite. Opaque: created by `e4c_client_new` or
/// `e4c_client_generate`, released by `e4c_client_free`. Not to be used by
/// two threads at once.
pub struct e4c_client {
    inner: Client<MemStore, FfiClock>,
    /// The suites it may negotiate (empty: it does not negotiate).
    capabilities: SuiteSet,
    /// From the first Announce until the upgrade finishes.
    negotiator: Option<Negotiator>,
    /// The accepted suite and the identity in it, until C2's first command
    /// under it.
    next: Option<(SuiteId, Identity)>,
    callback: e4c_negotiation_callback,
    user: *mut c_void,
}

/// What a negotiation step asks the caller's callback to do.
enum Event {
    Publish(c_int, SuiteId, Vec<u8>),
    SuiteChanged(SuiteId),
}

impl e4c_client {
    /// `e4c2/announce/` and the id in lower-case hex, NUL-terminated.
    fn announce_topic(&self) -> Vec<u8> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = b"e4c2/announce/".to_vec();
        for b in self.inner.id().0 {
            t.push(HEX[(b >> 4) as usize]);
            t.push(HEX[(b & 15) as usize]);
        }
        t.push(0);
        t
    }

    /// Hand `event` to the callback (if any).
    fn emit(&self, event: Event) {
        let Some(cb) = self.callback else { return };
        let topic = self.announce_topic();
        let (kind, suite, msg): (c_int, SuiteId, &[u8]) = match &event {
            Event::Publish(k, s, m) => (*k, *s, m),
            Event::SuiteChanged(s) => (E4C_NEGOTIATION_SUITE_CHANGED, *s, &[]),
        };
        let ptr = if msg.is_empty() {
            core::ptr::null()
        } else {
            msg.as_ptr()
        };
        // SAFETY: the caller's function, given live buffers for the call.
        unsafe {
            cb(
                self.user,
                kind,
                suite as u8,
                topic.as_ptr().cast(),
                ptr,
                msg.len(),
            )
        };
    }

    /// A client of `suite` with `identity` and this client's topic keys
    /// (other devices' public keys are of the old suite's scheme: dropped).
    fn carry_over(
        &self,
        suite: SuiteId,
        identity: Identity,
    ) -> Result<Client<MemStore, FfiClock>, c_int> {
        let mut store = MemStore::new();
        let mut r = Ok(());
        self.inner.store().for_each_topic(&mut |h, e| {
            if r.is_ok() {
                r = store.set_topic(*h, e.clone());
            }
        });
        r.map_err(code)?;
        Client::new(
            provider(),
            suite,
            *self.inner.id(),
            identity,
            store,
            FfiClock::default(),
        )
        .map_err(code)
    }

    /// A message on the control topic: the first command under an accepted
    /// suite (the client switches to it), an E4 command, or a SetSuite
    /// answering the latest Announce (accepted: the Confirm is published).
    fn on_control(&mut self, msg: &[u8]) -> Result<Option<Event>, c_int> {
        let mut scratch = Zeroizing::new(vec![0u8; msg.len()]);
        if let Some((suite, identity)) = &self.next {
            // Built from the current topic keys at the moment C2 commits,
            // so that commands applied meanwhile are carried over.
            let mut candidate = self.carry_over(*suite, identity.clone())?;
            if candidate.process_command(msg, &mut scratch).is_ok() {
                self.inner = candidate;
                self.next = None;
                if let Some(n) = &mut self.negotiator {
                    let _ = n.finish();
                }
                self.negotiator = None;
                return Ok(Some(Event::SuiteChanged(self.inner.suite())));
            }
        }
        match self.inner.process_command(msg, &mut scratch) {
            Ok(_) => Ok(None),
            Err(Error::InvalidCommand) if self.negotiator.is_some() => {
                let n = self.negotiator.as_mut().expect("checked");
                let accepted = n.accept(&self.inner, msg).map_err(code)?;
                // The new client must be buildable before it is kept.
                self.carry_over(accepted.suite, accepted.identity.clone())?;
                self.next = Some((accepted.suite, accepted.identity));
                Ok(Some(Event::Publish(
                    E4C_NEGOTIATION_CONFIRM,
                    accepted.suite,
                    accepted.confirm,
                )))
            }
            Err(e) => Err(code(e)),
        }
    }
}

fn suite_of(suite: u8) -> Result<SuiteId, c_int> {
    let s = match suite {
        E4C_SUITE_SYMMETRIC => SuiteId::Symmetric,
        E4C_SUITE_PUBKEY => SuiteId::PubKey,
        E4C_SUITE_PQ => SuiteId::PostQuantum,
        E4C_SUITE_HYBRID => SuiteId::Hybrid,
        _ => return Err(E4_ERROR_UNSUPPORTED_SUITE),
    };
    provider().suite(s).map_err(code)?;
    Ok(s)
}

/// The identity from the secret blob of `e4c_client_new`.
fn identity(suite: SuiteId, secret: &[u8], c2: &[u8]) -> Result<Identity, c_int> {
    match suite {
        SuiteId::Symmetric => {
            let k = SymKey::from_slice(secret).ok_or(E4_ERROR_PARAMETER_INVALID)?;
            Ok(Identity::Symmetric(k))
        }
        SuiteId::PubKey => Ok(Identity::PubKey {
            signing: Ed25519Secret::from_slice(secret).ok_or(E4_ERROR_PARAMETER_INVALID)?,
            c2_public: c2.try_into().map_err(|_| E4_ERROR_PARAMETER_INVALID)?,
        }),
        _ => {
            let p = suite.params();
            let lens = [
                p.sig_secret_key,
                p.sig_public_key,
                p.kem_secret_key,
                p.kem_public_key,
            ];
            if secret.len() != lens.iter().sum::<usize>() || c2.len() != p.c2_public_key {
                return Err(E4_ERROR_PARAMETER_INVALID);
            }
            let (sig_sk, rest) = secret.split_at(lens[0]);
            let (sig_pk, rest) = rest.split_at(lens[1]);
            let (kem_sk, kem_pk) = rest.split_at(lens[2]);
            Ok(Identity::Kem(KemIdentity {
                sig_sk: SecretBytes::from_slice(sig_sk),
                sig_pk: sig_pk.to_vec(),
                kem_sk: SecretBytes::from_slice(kem_sk),
                kem_pk: kem_pk.to_vec(),
                c2_sig_pk: c2.to_vec(),
            }))
        }
    }
}

fn make(
    suite: SuiteId,
    id: Id,
    identity: Identity,
    out: *mut *mut e4c_client,
) -> Result<c_int, c_int> {
    let inner = Client::new(
        provider(),
        suite,
        id,
        identity,
        MemStore::new(),
        FfiClock::default(),
    )
    .map_err(code)?;
    let b = Box::new(e4c_client {
        inner,
        capabilities: SuiteSet::EMPTY,
        negotiator: None,
        next: None,
        callback: None,
        user: core::ptr::null_mut(),
    });
    unsafe { put(out, Box::into_raw(b)) }?;
    Ok(E4_RESULT_OK)
}

/// Create a client of `suite` (an `E4C_SUITE_*`) with id `id`
/// (`E4_ID_LEN` bytes) from its key material; `*out` receives the handle.
///
/// `secret`: symmetric: the 32-byte client key; public-key: the 64-byte
/// Ed25519 key (seed, public key); post-quantum and hybrid: the signature
/// secret key, signature public key, KEM secret key and KEM public key,
/// concatenated (`e4c_client_export_secret` writes it).
/// `c2_public`: symmetric: none (NULL, 0); public-key: C2's 32-byte X25519
/// key; post-quantum and hybrid: C2's signature public key.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_new(
    suite: u8,
    id: *const u8,
    secret: *const u8,
    secret_len: usize,
    c2_public: *const u8,
    c2_public_len: usize,
    out: *mut *mut e4c_client,
) -> c_int {
    guard(|| {
        nonnull(out)?;
        unsafe { put(out, core::ptr::null_mut()) }?;
        let suite = suite_of(suite)?;
        let id = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        let secret = unsafe { bytes(secret, secret_len) }?;
        let c2 = unsafe { bytes(c2_public, c2_public_len) }?;
        make(suite, id, identity(suite, secret, c2)?, out)
    })
}

/// Create a client of `suite` with fresh keys from the system's random
/// generator (`c2_public` as for `e4c_client_new`). The public keys to give
/// C2 come from `e4c_client_public_key` and `e4c_client_kem_public_key`.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_generate(
    suite: u8,
    id: *const u8,
    c2_public: *const u8,
    c2_public_len: usize,
    out: *mut *mut e4c_client,
) -> c_int {
    guard(|| {
        nonnull(out)?;
        unsafe { put(out, core::ptr::null_mut()) }?;
        let suite = suite_of(suite)?;
        let id = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        let c2 = unsafe { bytes(c2_public, c2_public_len) }?;
        let s = provider().suite(suite).map_err(code)?;
        let mut rng = OsRng;
        let secret = match suite {
            SuiteId::Symmetric => {
                let mut k = Zeroizing::new(vec![0u8; E4_KEY_LEN]);
                e4_proto::crypto::Rng::fill(&mut rng, &mut k);
                k
            }
            _ => {
                let sig = s.sig().map_err(code)?;
                let mut sig_sk = Zeroizing::new(vec![0u8; sig.secret_key_len()]);
                let mut sig_pk = vec![0u8; sig.public_key_len()];
                sig.generate(&mut rng, &mut sig_sk, &mut sig_pk)
                    .map_err(code)?;
                let mut blob = Zeroizing::new(Vec::new());
                if suite == SuiteId::PubKey {
                    // seed ‖ public key
                    blob.extend_from_slice(&sig_sk[..32]);
                    blob.extend_from_slice(&sig_pk);
                } else {
                    let kem = s.kem().map_err(code)?;
                    let mut kem_sk = Zeroizing::new(vec![0u8; kem.secret_key_len()]);
                    let mut kem_pk = vec![0u8; kem.public_key_len()];
                    kem.generate(&mut rng, &mut kem_sk, &mut kem_pk)
                        .map_err(code)?;
                    blob.extend_from_slice(&sig_sk);
                    blob.extend_from_slice(&sig_pk);
                    blob.extend_from_slice(&kem_sk);
                    blob.extend_from_slice(&kem_pk);
                }
                blob
            }
        };
        make(suite, id, identity(suite, &secret, c2)?, out)
    })
}

/// Release a client (its keys are zeroized). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_free(client: *mut e4c_client) {
    if client.is_null() {
        return;
    }
    let _ = catch_unwind_free(client);
}

fn catch_unwind_free(client: *mut e4c_client) -> std::thread::Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: a handle from e4c_client_new/generate, freed once.
        drop(unsafe { Box::from_raw(client) });
    }))
}

unsafe fn handle<'a>(client: *mut e4c_client) -> Result<&'a mut e4c_client, c_int> {
    nonnull(client)?;
    // SAFETY: a live handle from e4c_client_new/generate.
    Ok(unsafe { &mut *client })
}

/// Copy `src` to `out` (room for `max`), its length to `*len`.
unsafe fn give(src: &[u8], out: *mut u8, max: usize, len: *mut usize) -> Result<c_int, c_int> {
    nonnull(len)?;
    unsafe { put(len, src.len()) }?;
    if max < src.len() {
        return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
    }
    unsafe { bytes_mut(out, src.len()) }?.copy_from_slice(src);
    Ok(E4_RESULT_OK)
}

/// The client's suite (an `E4C_SUITE_*` value, positive), or an error code.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_suite(client: *mut e4c_client) -> c_int {
    guard(|| Ok(unsafe { handle(client) }?.inner.suite() as u8 as c_int))
}

/// Bytes `e4c_client_protect` adds to a payload in this client's suite.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_overhead(client: *mut e4c_client) -> usize {
    let r = guard(|| Ok(unsafe { handle(client) }?.inner.overhead() as c_int));
    r.max(0) as usize
}

/// Write the client's key material, as `e4c_client_new` takes it, to `out`
/// (room for `max` bytes); `*len` receives its length (also when `max` is
/// too small, with `E4_ERROR_CIPHERTEXT_TOO_SHORT`). Secret: wipe it after
/// use.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_export_secret(
    client: *mut e4c_client,
    out: *mut u8,
    max: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        let blob = Zeroizing::new(match c.inner.identity() {
            Identity::Symmetric(k) => k.as_bytes().to_vec(),
            Identity::PubKey { signing, .. } => signing.as_bytes().to_vec(),
            Identity::Kem(k) => [
                k.sig_sk.as_bytes(),
                &k.sig_pk,
                k.kem_sk.as_bytes(),
                &k.kem_pk,
            ]
            .concat(),
        });
        unsafe { give(&blob, out, max, len) }
    })
}

/// The client's signature public key, which other devices need
/// (`e4c_client_set_pubkey`) and C2 distributes: Ed25519 (32 bytes), ML-DSA
/// or the hybrid composite. `E4_ERROR_UNSUPPORTED_OPERATION` in the
/// symmetric suite.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_public_key(
    client: *mut e4c_client,
    out: *mut u8,
    max: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        match c.inner.identity() {
            Identity::Symmetric(_) => Err(E4_ERROR_UNSUPPORTED_OPERATION),
            Identity::PubKey { signing, .. } => unsafe { give(&signing.public(), out, max, len) },
            Identity::Kem(k) => unsafe { give(&k.sig_pk, out, max, len) },
        }
    })
}

/// The client's KEM public key, which C2 encapsulates commands to
/// (post-quantum and hybrid suites; `E4_ERROR_UNSUPPORTED_OPERATION`
/// otherwise).
#[no_mangle]
pub unsafe extern "C" fn e4c_client_kem_public_key(
    client: *mut e4c_client,
    out: *mut u8,
    max: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        match c.inner.identity() {
            Identity::Kem(k) => unsafe { give(&k.kem_pk, out, max, len) },
            _ => Err(E4_ERROR_UNSUPPORTED_OPERATION),
        }
    })
}

/// Set the key (`E4_KEY_LEN` bytes) of a topic, given by name.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_set_topic_key(
    client: *mut e4c_client,
    topic: *const c_char,
    key: *const u8,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        let topic = unsafe { cstr(topic) }?;
        let key = SymKey::new(unsafe { array::<E4_KEY_LEN>(key) }?);
        let hash = TopicHash::of(provider().hash, topic);
        c.inner.set_topic_key(&hash, &key).map_err(code)?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the signature public key of the device `id` (`E4_ID_LEN` bytes),
/// whose messages this client then accepts (signed suites only).
#[no_mangle]
pub unsafe extern "C" fn e4c_client_set_pubkey(
    client: *mut e4c_client,
    id: *const u8,
    key: *const u8,
    key_len: usize,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        let id = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        let key = unsafe { bytes(key, key_len) }?;
        c.inner.set_pubkey(&id, key).map_err(code)?;
        Ok(E4_RESULT_OK)
    })
}

/// Protect `message` for `topic` into `ciphertext` (room for
/// `ciphertext_max_len` bytes, at least `message_len` +
/// `e4c_client_overhead`); `*ciphertext_len` receives the length.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_protect(
    client: *mut e4c_client,
    ciphertext: *mut u8,
    ciphertext_max_len: usize,
    ciphertext_len: *mut usize,
    message: *const u8,
    message_len: usize,
    topic: *const c_char,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        nonnull(ciphertext_len)?;
        unsafe { put(ciphertext_len, 0) }?;
        let need = message_len
            .checked_add(c.inner.overhead())
            .ok_or(E4_ERROR_PARAMETER_OVERFLOW)?;
        let payload = unsafe { bytes(message, message_len) }?;
        let topic = unsafe { cstr(topic) }?;
        nonnull(ciphertext)?;
        if ciphertext_max_len < need {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(ciphertext, need) }?;
        let hash = TopicHash::of(provider().hash, topic);
        let n = c.inner.protect_hashed(&hash, payload, out).map_err(code)?;
        unsafe { put(ciphertext_len, n) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Unprotect `ciphertext` received on `topic` into `message` (room for
/// `message_max_len` bytes, at least `ciphertext_len` -
/// `e4c_client_overhead`). On the client's control topic the message is a
/// command from C2, applied to the client: `E4_RESULT_OK_CONTROL`,
/// `*message_len` 0. With a negotiation under way, that includes C2's
/// SetSuite (accepted: the callback gets `E4C_NEGOTIATION_CONFIRM`) and the
/// first command under the accepted suite (the client switches to it: the
/// callback gets `E4C_NEGOTIATION_SUITE_CHANGED`).
#[no_mangle]
pub unsafe extern "C" fn e4c_client_unprotect(
    client: *mut e4c_client,
    message: *mut u8,
    message_max_len: usize,
    message_len: *mut usize,
    ciphertext: *const u8,
    ciphertext_len: usize,
    topic: *const c_char,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        nonnull(message_len)?;
        unsafe { put(message_len, 0) }?;
        let msg = unsafe { bytes(ciphertext, ciphertext_len) }?;
        let topic = unsafe { cstr(topic) }?;
        if c.inner.client_id().is_control_topic(topic) {
            if let Some(event) = c.on_control(msg)? {
                c.emit(event);
            }
            return Ok(E4_RESULT_OK_CONTROL);
        }
        let overhead = c.inner.overhead();
        if msg.len() < overhead {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let plain_len = msg.len() - overhead;
        nonnull(message)?;
        if message_max_len < plain_len {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(message, plain_len) }?;
        let hash = TopicHash::of(provider().hash, topic);
        let n = c.inner.unprotect_hashed(&hash, msg, out).map_err(code)?;
        unsafe { put(message_len, n) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the negotiation callback and its user data (NULL: none). See
/// `e4c_negotiation_callback`.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_set_negotiation_callback(
    client: *mut e4c_client,
    callback: e4c_negotiation_callback,
    user: *mut c_void,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        c.callback = callback;
        c.user = user;
        Ok(E4_RESULT_OK)
    })
}

/// Set the suites the client may run (`count` `E4C_SUITE_*` values; none:
/// it does not negotiate, the default). An Announce offers those ranked
/// above the current suite (symmetric < public key < post-quantum <
/// hybrid). Changing them drops an Announce not answered yet; an accepted
/// upgrade goes on. `E4_ERROR_UNSUPPORTED_SUITE` for a suite unknown or not
/// compiled in.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_set_capabilities(
    client: *mut e4c_client,
    suites: *const u8,
    count: usize,
) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        let list = unsafe { bytes(suites, count) }?;
        let mut set = SuiteSet::EMPTY;
        for &s in list {
            set = set.with(suite_of(s)?);
        }
        if set != c.capabilities {
            c.capabilities = set;
            if c.negotiator
                .as_ref()
                .is_some_and(|n| n.accepted_suite().is_none())
            {
                c.negotiator = None;
            }
        }
        Ok(E4_RESULT_OK)
    })
}

/// Build an Announce (fresh keys for each offered suite, authenticated
/// with the current suite's keys; it supersedes the previous one) and hand
/// it to the callback (`E4C_NEGOTIATION_ANNOUNCE`) to publish on
/// `e4c2/announce/<hex id>`. Within the second of the latest Announce, that
/// one is handed again (C2 accepts only strictly newer ones). With
/// capabilities but none above the current suite the Announce offers
/// nothing (it tells C2 the device negotiates; no answer comes). Call it
/// after each connection and again when no SetSuite arrives.
///
/// `E4_ERROR_PARAMETER_INVALID` without a callback or without
/// capabilities; `E4_ERROR_INVALID_COMMAND` once a SetSuite was accepted
/// (use `e4c_client_confirm_retry`).
#[no_mangle]
pub unsafe extern "C" fn e4c_client_announce(client: *mut e4c_client) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        if c.callback.is_none() || c.capabilities.is_empty() {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        if let Some(n) = &c.negotiator {
            if n.accepted_suite().is_some() {
                return Err(code(
                    e4_proto::negotiation::NegotiationError::AlreadyAccepted.into(),
                ));
            }
            if let Some(a) = n.latest_announce().filter(|a| a.len() >= 8) {
                let ts = u64::from_le_bytes(a[..8].try_into().expect("8 bytes"));
                if ts >= c.inner.clock().now() {
                    let bytes = a.to_vec();
                    let suite = c.inner.suite();
                    c.emit(Event::Publish(E4C_NEGOTIATION_ANNOUNCE, suite, bytes));
                    return Ok(E4_RESULT_OK);
                }
            }
        }
        let mut n =
            Negotiator::for_client(&c.inner, c.capabilities, Ranking::DEFAULT).map_err(code)?;
        let bytes = n.announce(&c.inner, &mut OsRng).map_err(code)?;
        c.negotiator = Some(n);
        let suite = c.inner.suite();
        c.emit(Event::Publish(E4C_NEGOTIATION_ANNOUNCE, suite, bytes));
        Ok(E4_RESULT_OK)
    })
}

/// Sign the Confirm of the accepted SetSuite again, now, and hand it to
/// the callback (`E4C_NEGOTIATION_CONFIRM`): to resend while no command
/// arrives under the new suite. `E4_ERROR_INVALID_COMMAND` when no
/// SetSuite was accepted, `E4_ERROR_PARAMETER_INVALID` without a callback.
#[no_mangle]
pub unsafe extern "C" fn e4c_client_confirm_retry(client: *mut e4c_client) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        if c.callback.is_none() {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        let n = c.negotiator.as_ref().ok_or(E4_ERROR_INVALID_COMMAND)?;
        let suite = n.accepted_suite().ok_or(E4_ERROR_INVALID_COMMAND)?;
        let bytes = n.confirm(c.inner.clock().now()).map_err(code)?;
        c.emit(Event::Publish(E4C_NEGOTIATION_CONFIRM, suite, bytes));
        Ok(E4_RESULT_OK)
    })
}

/// Where the client is in a negotiation: `E4C_NEGOTIATION_IDLE`,
/// `E4C_NEGOTIATION_ANNOUNCED` or `E4C_NEGOTIATION_ACCEPTED` (or an error
/// code).
#[no_mangle]
pub unsafe extern "C" fn e4c_client_negotiation_status(client: *mut e4c_client) -> c_int {
    guard(|| {
        let c = unsafe { handle(client) }?;
        Ok(match &c.negotiator {
            None => E4C_NEGOTIATION_IDLE,
            Some(n) if n.accepted_suite().is_some() => E4C_NEGOTIATION_ACCEPTED,
            Some(n) if n.latest_announce().is_some() => E4C_NEGOTIATION_ANNOUNCED,
            Some(_) => E4C_NEGOTIATION_IDLE,
        })
    })
}
