//! libe4's public-key mode: the caller-allocated `e4storage_pubkey` and the
//! `e4c_pubkey_*` functions (Ed25519 signatures, commands under a key
//! derived from the device's key and C2's X25519 key). No heap allocation.

use core::ffi::{c_char, c_int, c_void};

use e4_proto::keys::Ed25519Secret;
use e4_proto::store::{FixedStore, Store, TopicEntry};
use e4_proto::{Client, Id, Identity, SuiteId, SymKey, TopicHash};

use crate::persist::StatePath;
use crate::util::{provider, FfiClock};
use crate::*;

/// Size of [`e4storage_pubkey`] in 8-byte words.
pub const E4_STORAGE_PUBKEY_WORDS: usize = 2560;

/// The state of a public-key client: allocate it, then call
/// `e4c_pubkey_init` on it first. Content private, size fixed (20 KiB: 100
/// topic keys, 100 device public keys, the replay cache, the path).
#[repr(C)]
pub struct e4storage_pubkey {
    /// Opaque.
    pub opaque: [u64; E4_STORAGE_PUBKEY_WORDS],
}

const MAGIC: u64 = u64::from_le_bytes(*b"e4rsPUB1");
const REPLAY_SLOTS: usize = 32;
/// Largest command message (SetIdKey: 24 + 1 + 64 bytes).
const COMMAND_MAX: usize = 128;
const FILE_MAGIC: &[u8; 4] = b"E42P";
/// Bytes a public-key message adds to its payload.
const PK_OVERHEAD: usize = E4_PK_TOPICMSGHDR_LEN + E4_PK_EDDSA_SIG_LEN;

type Keys = FixedStore<E4_TOPICS_MAX, E4_DEVICES_MAX>;
type PkClient = Client<Keys, FfiClock, REPLAY_SLOTS>;

#[derive(Default)]
struct Ident {
    id: Option<Id>,
    signing: Option<Ed25519Secret>,
    c2: Option<[u8; E4_PK_X25519_PUBKEY_LEN]>,
}

// Both variants live in the caller's storage: no boxing, no heap.
#[allow(clippy::large_enum_variant)]
enum Core {
    /// Id, secret key or C2 key not set yet.
    Parts(Ident, Keys),
    Ready(PkClient),
}

pub(crate) struct PkState {
    core: Core,
    path: StatePath,
}

const _: () = assert!(
    core::mem::size_of::<Slot<PkState>>() <= core::mem::size_of::<e4storage_pubkey>()
        && core::mem::align_of::<Slot<PkState>>() <= core::mem::align_of::<e4storage_pubkey>()
);

fn identity(i: &Ident) -> Option<(Id, Identity)> {
    Some((
        i.id?,
        Identity::PubKey {
            signing: i.signing.clone()?,
            c2_public: i.c2?,
        },
    ))
}

fn assemble(ident: Ident, keys: Keys) -> Core {
    let Some((id, identity)) = identity(&ident) else {
        return Core::Parts(ident, keys);
    };
    // Probe with an empty store first: a failing `Client::new` drops the
    // store it was given.
    let probe = Client::<FixedStore<0, 0>, FfiClock, 0>::new(
        provider(),
        SuiteId::PubKey,
        id,
        identity.clone(),
        FixedStore::new(),
        FfiClock::default(),
    );
    match probe {
        Ok(_) => Core::Ready(
            Client::new(
                provider(),
                SuiteId::PubKey,
                id,
                identity,
                keys,
                FfiClock::default(),
            )
            .expect("probed"),
        ),
        Err(_) => Core::Parts(ident, keys),
    }
}

impl PkState {
    fn new() -> PkState {
        PkState {
            core: Core::Parts(Ident::default(), Keys::new()),
            path: StatePath::new(),
        }
    }

    fn keys(&self) -> &Keys {
        match &self.core {
            Core::Parts(_, k) => k,
            Core::Ready(c) => c.store(),
        }
    }

    fn ident(&self) -> Ident {
        match &self.core {
            Core::Parts(i, _) => Ident {
                id: i.id,
                signing: i.signing.clone(),
                c2: i.c2,
            },
            Core::Ready(c) => match c.identity() {
                Identity::PubKey { signing, c2_public } => Ident {
                    id: Some(*c.id()),
                    signing: Some(signing.clone()),
                    c2: Some(*c2_public),
                },
                _ => Ident::default(),
            },
        }
    }

    fn edit<R>(&mut self, f: impl FnOnce(&mut Ident, &mut Keys) -> R) -> R {
        let old = core::mem::replace(&mut self.core, Core::Parts(Ident::default(), Keys::new()));
        let (mut ident, mut keys) = match old {
            Core::Parts(i, k) => (i, k),
            Core::Ready(c) => {
                let (id, identity, keys) = c.into_parts();
                let ident = match identity {
                    Identity::PubKey { signing, c2_public } => Ident {
                        id: Some(id),
                        signing: Some(signing),
                        c2: Some(c2_public),
                    },
                    _ => Ident::default(),
                };
                (ident, keys)
            }
        };
        let r = f(&mut ident, &mut keys);
        self.core = assemble(ident, keys);
        r
    }

    fn autosync(&mut self) -> Result<(), c_int> {
        if self.path.is_set() {
            self.sync()
        } else {
            Ok(())
        }
    }

    fn sync(&mut self) -> Result<(), c_int> {
        let ident = self.ident();
        let id = ident.id.map(|i| i.0).unwrap_or([0; E4_ID_LEN]);
        let sk = zeroize::Zeroizing::new(
            ident
                .signing
                .as_ref()
                .map(|k| *k.as_bytes())
                .unwrap_or([0; E4_PK_EDDSA_PRIVKEY_LEN]),
        );
        let pk = ident
            .signing
            .as_ref()
            .map(|k| k.public())
            .unwrap_or([0; 32]);
        let c2 = ident.c2.unwrap_or([0; 32]);
        let keys = match &self.core {
            Core::Parts(_, k) => k,
            Core::Ready(c) => c.store(),
        };
        self.path.write(|w| {
            w.put(FILE_MAGIC)?;
            w.put(&id)?;
            w.put(&sk[..])?;
            w.put(&pk)?;
            w.put(&c2)?;
            w.put(&(keys.topic_count() as u16).to_le_bytes())?;
            let mut r = Ok(());
            keys.for_each_topic(&mut |h, e| {
                if r.is_ok() {
                    r = w.put(&h.0).and_then(|_| w.put(e.key.as_bytes()));
                }
            });
            r?;
            w.put(&(keys.pubkey_count() as u16).to_le_bytes())?;
            let mut r = Ok(());
            keys.for_each_pubkey(&mut |id, pk| {
                if r.is_ok() {
                    r = w.put(&id.0).and_then(|_| w.put(pk));
                }
            });
            r
        })
    }

    fn load(&mut self) -> Result<(), c_int> {
        let mut f = self.path.open()?;
        if &f.get::<4>()? != FILE_MAGIC {
            return Err(E4_ERROR_PERSISTENCE_INCOMPATIBLE);
        }
        let id = Id(f.get::<E4_ID_LEN>()?);
        let sk = Ed25519Secret::new(f.get::<E4_PK_EDDSA_PRIVKEY_LEN>()?);
        let _pk = f.get::<E4_PK_EDDSA_PUBKEY_LEN>()?;
        let c2 = f.get::<E4_PK_X25519_PUBKEY_LEN>()?;
        let mut keys = Keys::new();
        let count = f.u16()?;
        if count > E4_TOPICS_MAX {
            return Err(E4_ERROR_PERSISTENCE_ERROR);
        }
        for _ in 0..count {
            let hash = TopicHash(f.get::<E4_TOPICHASH_LEN>()?);
            let key = SymKey::new(f.get::<E4_KEY_LEN>()?);
            keys.set_topic(
                hash,
                TopicEntry {
                    key,
                    previous: None,
                },
            )
            .map_err(|_| E4_ERROR_PERSISTENCE_ERROR)?;
        }
        let count = f.u16()?;
        if count > E4_DEVICES_MAX {
            return Err(E4_ERROR_PERSISTENCE_ERROR);
        }
        for _ in 0..count {
            let id = Id(f.get::<E4_ID_LEN>()?);
            let pk = f.get::<E4_PK_EDDSA_PUBKEY_LEN>()?;
            keys.set_pubkey(id, &pk)
                .map_err(|_| E4_ERROR_PERSISTENCE_ERROR)?;
        }
        let ident = Ident {
            id: (id.0 != [0; E4_ID_LEN]).then_some(id),
            signing: (sk.as_bytes() != &[0; 64]).then_some(sk),
            c2: (c2 != [0; 32]).then_some(c2),
        };
        self.core = assemble(ident, keys);
        Ok(())
    }
}

unsafe fn state<'a>(storage: *mut c_void) -> Result<&'a mut PkState, c_int> {
    unsafe { slot::<PkState>(storage, MAGIC) }
}

/// Initialise a storage (no id, no keys, no file). Must be called first;
/// calling it again on an initialised storage wipes it.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_init(store: *mut c_void) -> c_int {
    guard(|| {
        unsafe { slot_init(store, MAGIC, PkState::new()) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Wipe a storage (keys zeroized). Not in libe4.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_destroy(store: *mut c_void) -> c_int {
    guard(|| {
        unsafe { slot_destroy::<PkState>(store, MAGIC) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the state file (`params`: a NUL-terminated path of at most
/// `E4_MAX_PATH` bytes); every later change is saved to it.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_configure_storage(
    store: *mut c_void,
    params: *const c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let path = unsafe { cstr(params.cast()) }?;
        s.path.set(path)?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the client id (`E4_ID_LEN` bytes).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_id(store: *mut c_void, id: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let new = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        s.edit(|i, _| i.id = Some(new));
        Ok(E4_RESULT_OK)
    })
}

/// Copy the client id (zeros if not set) to `id` (`E4_ID_LEN` bytes).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_get_id(store: *mut c_void, id: *mut u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let out = unsafe { bytes_mut(id, E4_ID_LEN) }?;
        out.copy_from_slice(&s.ident().id.map(|i| i.0).unwrap_or([0; E4_ID_LEN]));
        Ok(E4_RESULT_OK)
    })
}

/// Set the device's Ed25519 secret key: `E4_PK_EDDSA_PRIVKEY_LEN` bytes,
/// the 32-byte seed then the public key (e4go's and the `e4` tool's
/// format; libe4 took its own expanded form).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_idseckey(store: *mut c_void, key: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let sk = Ed25519Secret::new(unsafe { array::<E4_PK_EDDSA_PRIVKEY_LEN>(key) }?);
        if sk.as_bytes() == &[0; 64] {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        s.edit(|i, _| i.signing = Some(sk));
        Ok(E4_RESULT_OK)
    })
}

/// Check the device's Ed25519 public key (`E4_PK_EDDSA_PUBKEY_LEN` bytes)
/// against the secret key, whose second half it is: `E4_RESULT_OK` if
/// equal or if no secret key is set yet, `E4_ERROR_PARAMETER_INVALID`
/// otherwise. Nothing is stored: the secret key carries the public key.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_idpubkey(store: *mut c_void, pubkey: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let pk = unsafe { array::<E4_PK_EDDSA_PUBKEY_LEN>(pubkey) }?;
        match s.ident().signing {
            Some(sk) if !bool::from(subtle::ConstantTimeEq::ct_eq(&sk.public()[..], &pk[..])) => {
                Err(E4_ERROR_PARAMETER_INVALID)
            }
            _ => Ok(E4_RESULT_OK),
        }
    })
}

/// Copy the device's Ed25519 public key (zeros if no secret key is set).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_get_idpubkey(store: *mut c_void, key: *mut u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let out = unsafe { bytes_mut(key, E4_PK_EDDSA_PUBKEY_LEN) }?;
        out.copy_from_slice(&s.ident().signing.map(|k| k.public()).unwrap_or([0; 32]));
        Ok(E4_RESULT_OK)
    })
}

/// Set C2's X25519 public key (`E4_PK_X25519_PUBKEY_LEN` bytes).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_c2_pubkey(store: *mut c_void, key: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let c2 = unsafe { array::<E4_PK_X25519_PUBKEY_LEN>(key) }?;
        if c2 == [0; 32] {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        s.edit(|i, _| i.c2 = Some(c2));
        Ok(E4_RESULT_OK)
    })
}

/// libe4 derived and stored the command key here; it is derived whenever
/// the secret key or C2's key changes. Returns `E4_RESULT_OK` when the
/// id, the secret key and C2's key are all set (the storage can then
/// unprotect), `E4_ERROR_PARAMETER_INVALID` otherwise.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_c2sharedsecret_derivestore(storage: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(storage) }?;
        match s.core {
            Core::Ready(_) => Ok(E4_RESULT_OK),
            Core::Parts(..) => Err(E4_ERROR_PARAMETER_INVALID),
        }
    })
}

/// Set the key of a topic given by its hash (the previous key stays valid
/// for the 3600 s key transition).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_topic_key(
    store: *mut c_void,
    topic_hash: *const u8,
    key: *const u8,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let hash = TopicHash(unsafe { array::<E4_TOPICHASH_LEN>(topic_hash) }?);
        let key = SymKey::new(unsafe { array::<E4_KEY_LEN>(key) }?);
        match &mut s.core {
            Core::Ready(c) => c.set_topic_key(&hash, &key).map_err(code)?,
            Core::Parts(_, keys) => keys
                .set_topic(
                    hash,
                    TopicEntry {
                        key,
                        previous: None,
                    },
                )
                .map_err(code)?,
        }
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Remove a topic's key; `E4_ERROR_TOPICKEY_MISSING` if there was none.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_remove_topic(
    store: *mut c_void,
    topic_hash: *const u8,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let hash = TopicHash(unsafe { array::<E4_TOPICHASH_LEN>(topic_hash) }?);
        if s.keys().topic(&hash).is_none() {
            return Err(E4_ERROR_TOPICKEY_MISSING);
        }
        s.edit(|_, keys| keys.remove_topic(&hash));
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Remove every topic key.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_reset_topics(store: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        s.edit(|_, keys| keys.clear_topics());
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the Ed25519 public key (`E4_PK_EDDSA_PUBKEY_LEN` bytes) of the device
/// `id` (`E4_ID_LEN` bytes), whose messages it verifies.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_set_device_key(
    store: *mut c_void,
    id: *const u8,
    key: *const u8,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let id = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        let pk = unsafe { array::<E4_PK_EDDSA_PUBKEY_LEN>(key) }?;
        if pk == [0; 32] {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        match &mut s.core {
            Core::Ready(c) => c.set_pubkey(&id, &pk).map_err(code)?,
            Core::Parts(_, keys) => keys.set_pubkey(id, &pk).map_err(code)?,
        }
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Remove a device's public key; `E4_ERROR_DEVICEPK_MISSING` if there was
/// none.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_remove_device(store: *mut c_void, id: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let id = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        if s.keys().pubkey(&id).is_none() {
            return Err(E4_ERROR_DEVICEPK_MISSING);
        }
        s.edit(|_, keys| keys.remove_pubkey(&id));
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Remove every device public key.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_reset_devices(store: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        s.edit(|_, keys| keys.clear_pubkeys());
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Load the state from `path` (NULL: the configured path), libe4's `E42P`
/// layout (with the secret key as seed and public key). On error the
/// storage is unchanged (but for the path).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_load(store: *mut c_void, path: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        if !path.is_null() {
            let p = unsafe { cstr(path) }?;
            s.path.set(p)?;
        }
        s.load()?;
        Ok(E4_RESULT_OK)
    })
}

/// Save the state to the configured file.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_sync(store: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        s.sync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Protect `message` for `topic_name`: timestamp, id, AES-SIV under the
/// topic key, Ed25519 signature; `ciphertext_max_len` must be at least
/// `message_len + E4_PK_TOPICMSGHDR_LEN + E4_PK_EDDSA_SIG_LEN`. Needs the
/// id, the secret key and C2's key.
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_protect_message(
    ciphertext: *mut u8,
    ciphertext_max_len: usize,
    ciphertext_len: *mut usize,
    message: *const u8,
    message_len: usize,
    topic_name: *const c_char,
    storage: *mut c_void,
    proto_opts: u32,
) -> c_int {
    let _ = proto_opts;
    guard(|| {
        let s = unsafe { state(storage) }?;
        nonnull(ciphertext_len)?;
        unsafe { put(ciphertext_len, 0) }?;
        let need = message_len
            .checked_add(PK_OVERHEAD)
            .ok_or(E4_ERROR_PARAMETER_OVERFLOW)?;
        let payload = unsafe { bytes(message, message_len) }?;
        let topic = unsafe { cstr(topic_name) }?;
        nonnull(ciphertext)?;
        if ciphertext_max_len < need {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(ciphertext, need) }?;
        let hash = TopicHash::of(provider().hash, topic);
        let Core::Ready(client) = &s.core else {
            return Err(if s.keys().topic(&hash).is_none() {
                E4_ERROR_TOPICKEY_MISSING
            } else {
                E4_ERROR_PARAMETER_INVALID
            });
        };
        let n = client.protect_hashed(&hash, payload, out).map_err(code)?;
        unsafe { put(ciphertext_len, n) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Unprotect a message received on `topic_name`: a command from C2 on the
/// control topic (applied, `E4_RESULT_OK_CONTROL`), else a signed message
/// from a device whose public key is known. `message_max_len` must be at
/// least `ciphertext_len - E4_PK_TOPICMSGHDR_LEN - E4_PK_EDDSA_SIG_LEN`.
/// `E4_OPTION_IGNORE_TIMESTAMP` accepts application messages of any age;
/// `E4_OPTION_IGNORE_MISSING_PUBKEY` is ignored (an unverifiable message is
/// refused).
#[no_mangle]
pub unsafe extern "C" fn e4c_pubkey_unprotect_message(
    message: *mut u8,
    message_max_len: usize,
    message_len: *mut usize,
    ciphertext: *const u8,
    ciphertext_len: usize,
    topic_name: *const c_char,
    storage: *mut c_void,
    proto_opts: u32,
) -> c_int {
    guard(|| {
        let s = unsafe { state(storage) }?;
        nonnull(message_len)?;
        unsafe { put(message_len, 0) }?;
        let msg = unsafe { bytes(ciphertext, ciphertext_len) }?;
        let topic = unsafe { cstr(topic_name) }?;
        let Core::Ready(client) = &mut s.core else {
            return Err(E4_ERROR_PARAMETER_INVALID);
        };
        if client.client_id().is_control_topic(topic) {
            if msg.len() < E4_MSGHDR_LEN {
                return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
            }
            if msg.len() > COMMAND_MAX {
                return Err(E4_ERROR_INVALID_COMMAND);
            }
            let mut scratch = [0u8; COMMAND_MAX];
            client.process_command(msg, &mut scratch).map_err(code)?;
            s.autosync()?;
            return Ok(E4_RESULT_OK_CONTROL);
        }
        if msg.len() < PK_OVERHEAD {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let plain_len = msg.len() - PK_OVERHEAD;
        nonnull(message)?;
        if message_max_len < plain_len {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(message, plain_len) }?;
        let hash = TopicHash::of(provider().hash, topic);
        if proto_opts & E4_OPTION_IGNORE_TIMESTAMP != 0 {
            let ts = u64::from_le_bytes(msg[..E4_TIMESTAMP_LEN].try_into().expect("8 bytes"));
            client.clock().pin(Some(ts));
        }
        let r = client.unprotect_hashed(&hash, msg, out);
        client.clock().pin(None);
        let n = r.map_err(code)?;
        unsafe { put(message_len, n) }?;
        Ok(E4_RESULT_OK)
    })
}
