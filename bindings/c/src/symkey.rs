//! libe4's symmetric-key mode: the caller-allocated `e4storage_symkey` and
//! the `e4c_symkey_*` functions. No heap allocation anywhere in this mode.

use core::ffi::{c_char, c_int, c_void};

use e4_proto::crypto::Siv;
use e4_proto::message;
use e4_proto::store::{FixedStore, Store, TopicEntry};
use e4_proto::{Client, Id, Identity, SuiteId, SymKey, TopicHash};

#[cfg(feature = "std")]
use crate::persist::StatePath;
use crate::util::{provider, FfiClock};
use crate::*;

/// Size of [`e4storage_symkey`] in 8-byte words.
#[cfg(not(feature = "small-storage"))]
pub const E4_STORAGE_SYMKEY_WORDS: usize = 2048;
/// Size of [`e4storage_symkey`] in 8-byte words: the small storage
/// (`E4_SMALL_STORAGE`, 4 topics, 8 remembered messages): 896 bytes, for
/// the `no_std` build on 16-bit targets (the AVR state is 882 bytes; a
/// 64-bit build needs more and fails to compile with `small-storage`).
#[cfg(feature = "small-storage")]
pub const E4_STORAGE_SYMKEY_WORDS: usize = 112;

/// The state of a symmetric-key client: allocate it (static, stack or
/// heap), then call `e4c_symkey_init` on it before anything else. Its
/// content is private; its size is fixed (16 KiB: 100 topic keys with
/// their previous keys during a key transition, the replay cache, the
/// persistence path; with `E4_SMALL_STORAGE` defined, the size of the
/// `no_std` build for 8-bit devices: 4 topic keys, see the README).
/// `e4c_symkey_destroy` wipes it.
#[repr(C)]
pub struct e4storage_symkey {
    /// Opaque.
    pub opaque: [u64; E4_STORAGE_SYMKEY_WORDS],
}

const MAGIC: u64 = u64::from_le_bytes(*b"e4rsSYM1");
/// Messages remembered to refuse replays.
#[cfg(not(feature = "small-storage"))]
const REPLAY_SLOTS: usize = 32;
#[cfg(feature = "small-storage")]
const REPLAY_SLOTS: usize = 8;
/// Largest command message (SetTopicKey: 24 + 1 + 32 + 16 bytes).
const COMMAND_MAX: usize = 128;
#[cfg(feature = "std")]
const FILE_MAGIC: &[u8; 4] = b"E41P";

type Topics = FixedStore<E4_TOPICS_MAX, 0>;
type SymClient = Client<Topics, FfiClock, REPLAY_SLOTS>;

// Both variants live in the caller's storage: no boxing, no heap.
#[allow(clippy::large_enum_variant)]
enum Core {
    /// Id or key not set yet.
    Parts {
        id: Option<Id>,
        key: Option<SymKey>,
        topics: Topics,
    },
    Ready(SymClient),
}

pub(crate) struct SymState {
    core: Core,
    #[cfg(feature = "std")]
    path: StatePath,
}

const _: () = assert!(
    core::mem::size_of::<Slot<SymState>>() <= core::mem::size_of::<e4storage_symkey>()
        && core::mem::align_of::<Slot<SymState>>() <= core::mem::align_of::<e4storage_symkey>(),
    "the state does not fit e4storage_symkey (small-storage is sized for the no_std build on 16-bit targets such as AVR)"
);

fn assemble(id: Option<Id>, key: Option<SymKey>, topics: Topics) -> Core {
    match (id, key) {
        (Some(id), Some(key)) if !key.is_zero() => {
            // Probe with an empty store first: a failing `Client::new`
            // drops the store it was given.
            match Client::<FixedStore<0, 0>, FfiClock, 0>::new(
                provider(),
                SuiteId::Symmetric,
                id,
                Identity::Symmetric(key.clone()),
                FixedStore::new(),
                FfiClock::default(),
            ) {
                Ok(_) => Core::Ready(
                    Client::new(
                        provider(),
                        SuiteId::Symmetric,
                        id,
                        Identity::Symmetric(key),
                        topics,
                        FfiClock::default(),
                    )
                    .expect("checked above"),
                ),
                Err(_) => Core::Parts {
                    id: Some(id),
                    key: Some(key),
                    topics,
                },
            }
        }
        (id, key) => Core::Parts { id, key, topics },
    }
}

impl SymState {
    fn new() -> SymState {
        SymState {
            core: Core::Parts {
                id: None,
                key: None,
                topics: Topics::new(),
            },
            #[cfg(feature = "std")]
            path: StatePath::new(),
        }
    }

    fn topics(&self) -> &Topics {
        match &self.core {
            Core::Parts { topics, .. } => topics,
            Core::Ready(c) => c.store(),
        }
    }

    fn id(&self) -> Option<Id> {
        match &self.core {
            Core::Parts { id, .. } => *id,
            Core::Ready(c) => Some(*c.id()),
        }
    }

    #[cfg(feature = "std")]
    fn key(&self) -> Option<SymKey> {
        match &self.core {
            Core::Parts { key, .. } => key.clone(),
            Core::Ready(c) => match c.identity() {
                Identity::Symmetric(k) => Some(k.clone()),
                _ => None,
            },
        }
    }

    /// Take the state apart, change it, put it together again.
    fn edit<R>(
        &mut self,
        f: impl FnOnce(&mut Option<Id>, &mut Option<SymKey>, &mut Topics) -> R,
    ) -> R {
        let old = core::mem::replace(
            &mut self.core,
            Core::Parts {
                id: None,
                key: None,
                topics: Topics::new(),
            },
        );
        let (mut id, mut key, mut topics) = match old {
            Core::Parts { id, key, topics } => (id, key, topics),
            Core::Ready(c) => {
                let (id, identity, topics) = c.into_parts();
                let key = match identity {
                    Identity::Symmetric(k) => Some(k),
                    _ => None,
                };
                (Some(id), key, topics)
            }
        };
        let r = f(&mut id, &mut key, &mut topics);
        self.core = assemble(id, key, topics);
        r
    }

    /// Save to the configured file, if there is one.
    #[cfg(feature = "std")]
    fn autosync(&mut self) -> Result<(), c_int> {
        if self.path.is_set() {
            self.sync()
        } else {
            Ok(())
        }
    }

    /// `no_std`: no files, nothing to save.
    #[cfg(not(feature = "std"))]
    fn autosync(&mut self) -> Result<(), c_int> {
        Ok(())
    }

    #[cfg(feature = "std")]
    fn sync(&mut self) -> Result<(), c_int> {
        let id = self.id().map(|i| i.0).unwrap_or([0; E4_ID_LEN]);
        let key =
            zeroize::Zeroizing::new(self.key().map(|k| *k.as_bytes()).unwrap_or([0; E4_KEY_LEN]));
        let topics = match &self.core {
            Core::Parts { topics, .. } => topics,
            Core::Ready(c) => c.store(),
        };
        self.path.write(|w| {
            w.put(FILE_MAGIC)?;
            w.put(&id)?;
            w.put(&key[..])?;
            w.put(&(topics.topic_count() as u16).to_le_bytes())?;
            let mut r = Ok(());
            topics.for_each_topic(&mut |h, e| {
                if r.is_ok() {
                    r = w.put(&h.0).and_then(|_| w.put(e.key.as_bytes()));
                }
            });
            r
        })
    }

    #[cfg(feature = "std")]
    fn load(&mut self) -> Result<(), c_int> {
        let mut f = self.path.open()?;
        if &f.get::<4>()? != FILE_MAGIC {
            return Err(E4_ERROR_PERSISTENCE_INCOMPATIBLE);
        }
        let id = Id(f.get::<E4_ID_LEN>()?);
        let key = SymKey::new(f.get::<E4_KEY_LEN>()?);
        let count = f.u16()?;
        if count > E4_TOPICS_MAX {
            return Err(E4_ERROR_PERSISTENCE_ERROR);
        }
        let mut topics = Topics::new();
        for _ in 0..count {
            let hash = TopicHash(f.get::<E4_TOPICHASH_LEN>()?);
            let key = SymKey::new(f.get::<E4_KEY_LEN>()?);
            topics
                .set_topic(
                    hash,
                    TopicEntry {
                        key,
                        previous: None,
                    },
                )
                .map_err(|_| E4_ERROR_PERSISTENCE_ERROR)?;
        }
        let id = (id.0 != [0; E4_ID_LEN]).then_some(id);
        let key = (!key.is_zero()).then_some(key);
        self.core = assemble(id, key, topics);
        Ok(())
    }
}

unsafe fn state<'a>(storage: *mut c_void) -> Result<&'a mut SymState, c_int> {
    unsafe { slot::<SymState>(storage, MAGIC) }
}

/// Initialise a storage: no id, no key, no topic, no file. Must be called
/// first; calling it again on an initialised storage wipes it.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_init(store: *mut c_void) -> c_int {
    guard(|| {
        unsafe { slot_init(store, MAGIC, SymState::new()) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Wipe a storage (keys zeroized); `e4c_symkey_init` makes it usable again.
/// Not in libe4.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_destroy(store: *mut c_void) -> c_int {
    guard(|| {
        unsafe { slot_destroy::<SymState>(store, MAGIC) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Set the state file: `params` is a NUL-terminated path of at most
/// `E4_MAX_PATH` bytes. Once set, every change (API or command) is saved.
/// Without files (the `no_std` build, AVR) it only checks its arguments
/// and returns `E4_RESULT_OK`, as libe4's memory storage (`E4_STORE_NONE`).
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_configure_storage(
    store: *mut c_void,
    params: *const c_void,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let path = unsafe { cstr(params.cast()) }?;
        #[cfg(feature = "std")]
        s.path.set(path)?;
        #[cfg(not(feature = "std"))]
        let _ = (s, path);
        Ok(E4_RESULT_OK)
    })
}

/// Set the client id (`E4_ID_LEN` bytes).
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_set_id(store: *mut c_void, id: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let new = Id(unsafe { array::<E4_ID_LEN>(id) }?);
        s.edit(|id, _, _| *id = Some(new));
        Ok(E4_RESULT_OK)
    })
}

/// Copy the client id (`E4_ID_LEN` bytes; zeros if not set) to `id`.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_get_id(store: *mut c_void, id: *mut u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let out = unsafe { bytes_mut(id, E4_ID_LEN) }?;
        out.copy_from_slice(&s.id().map(|i| i.0).unwrap_or([0; E4_ID_LEN]));
        Ok(E4_RESULT_OK)
    })
}

/// Set the client key (`E4_KEY_LEN` bytes, not all zero), which protects
/// the commands of the control topic.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_set_idkey(store: *mut c_void, key: *const u8) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let new = SymKey::new(unsafe { array::<E4_KEY_LEN>(key) }?);
        if new.is_zero() {
            return Err(E4_ERROR_PARAMETER_INVALID);
        }
        s.edit(|_, key, _| *key = Some(new));
        Ok(E4_RESULT_OK)
    })
}

/// Set the key of a topic given by its hash (`E4_TOPICHASH_LEN` bytes);
/// an existing key stays valid for the 3600 s key transition.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_set_topic_key(
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
            Core::Parts { topics, .. } => topics
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
pub unsafe extern "C" fn e4c_symkey_remove_topic(
    store: *mut c_void,
    topic_hash: *const u8,
) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        let hash = TopicHash(unsafe { array::<E4_TOPICHASH_LEN>(topic_hash) }?);
        if s.topics().topic(&hash).is_none() {
            return Err(E4_ERROR_TOPICKEY_MISSING);
        }
        s.edit(|_, _, topics| topics.remove_topic(&hash));
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Remove every topic key.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_reset_topics(store: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        s.edit(|_, _, topics| topics.clear_topics());
        s.autosync()?;
        Ok(E4_RESULT_OK)
    })
}

/// Load the state from `path` (NUL-terminated; NULL: the configured path),
/// which becomes the configured path. The file is libe4's `E41P` layout.
/// On error the storage is unchanged (but for the path). Without files
/// (the `no_std` build) the storage is left as it is and the result is
/// `E4_RESULT_OK`, as libe4's memory storage.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_load(store: *mut c_void, path: *const c_char) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        #[cfg(feature = "std")]
        {
            if !path.is_null() {
                let p = unsafe { cstr(path) }?;
                s.path.set(p)?;
            }
            s.load()?;
        }
        #[cfg(not(feature = "std"))]
        let _ = (s, path);
        Ok(E4_RESULT_OK)
    })
}

/// Save the state to the configured file (`E4_ERROR_PERSISTENCE_ERROR` if
/// none is configured). Without files (the `no_std` build) it does nothing
/// and returns `E4_RESULT_OK`, as libe4's memory storage.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_sync(store: *mut c_void) -> c_int {
    guard(|| {
        let s = unsafe { state(store) }?;
        #[cfg(feature = "std")]
        s.sync()?;
        #[cfg(not(feature = "std"))]
        let _ = s;
        Ok(E4_RESULT_OK)
    })
}

/// Protect `message` (`message_len` bytes) for `topic_name` into
/// `ciphertext` (room for `ciphertext_max_len` bytes, at least
/// `message_len + E4_MSGHDR_LEN`); `*ciphertext_len` receives the length.
/// `proto_opts` is unused.
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_protect_message(
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
            .checked_add(E4_MSGHDR_LEN)
            .ok_or(E4_ERROR_PARAMETER_OVERFLOW)?;
        let payload = unsafe { bytes(message, message_len) }?;
        let topic = unsafe { cstr(topic_name) }?;
        nonnull(ciphertext)?;
        if ciphertext_max_len < need {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let out = unsafe { bytes_mut(ciphertext, need) }?;
        let p = provider();
        let hash = TopicHash::of(p.hash, topic);
        let entry = s.topics().topic(&hash).ok_or(E4_ERROR_TOPICKEY_MISSING)?;
        let siv: &dyn Siv = p.siv;
        let n = message::seal_symmetric(
            siv,
            &entry.key,
            e4_proto::Clock::now(&FfiClock::default()),
            payload,
            out,
        )
        .map_err(code)?;
        unsafe { put(ciphertext_len, n) }?;
        Ok(E4_RESULT_OK)
    })
}

/// Unprotect `ciphertext` received on `topic_name` into `message` (room for
/// `message_max_len` bytes, at least `ciphertext_len - E4_MSGHDR_LEN`);
/// `*message_len` receives the length. On the client's control topic the
/// message is a command: it is applied to the storage (and saved if a file
/// is configured), `*message_len` is 0 and the result
/// `E4_RESULT_OK_CONTROL`. `E4_OPTION_IGNORE_TIMESTAMP` in `proto_opts`
/// accepts application messages of any age (never commands). Needs the id
/// and the client key (`E4_ERROR_PARAMETER_INVALID` otherwise).
#[no_mangle]
pub unsafe extern "C" fn e4c_symkey_unprotect_message(
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
        if msg.len() < E4_MSGHDR_LEN {
            return Err(E4_ERROR_CIPHERTEXT_TOO_SHORT);
        }
        let Core::Ready(client) = &mut s.core else {
            return Err(E4_ERROR_PARAMETER_INVALID);
        };
        if client.client_id().is_control_topic(topic) {
            if msg.len() > COMMAND_MAX {
                return Err(E4_ERROR_INVALID_COMMAND);
            }
            let mut scratch = [0u8; COMMAND_MAX];
            client.process_command(msg, &mut scratch).map_err(code)?;
            s.autosync()?;
            return Ok(E4_RESULT_OK_CONTROL);
        }
        let plain_len = msg.len() - E4_MSGHDR_LEN;
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
