//! The C API driven from Rust where C2's side is needed: commands sealed
//! by `e4_proto::c2` in both modes, applied through `e4c_*_unprotect_message`
//! (libe4's command bugs fixed), key transition, persistence of commands;
//! suite negotiation of an `e4c_client` against C2's side of
//! `e4_proto::negotiation`.

use core::ffi::{c_char, c_void};

use e4::pubkey::*;
use e4::symkey::*;
use e4::util::*;
use e4::*;
use e4_proto::c2::{seal_command_vec, C2Secret, DeviceKey};
use e4_proto::crypto::Rng;
use e4_proto::{Id, SuiteId, SymKey, TopicHash};

struct NoRng;
impl Rng for NoRng {
    fn fill(&mut self, dest: &mut [u8]) {
        dest.fill(7);
    }
}

fn provider() -> &'static e4_proto::CryptoProvider {
    e4_backends::providers::default_provider()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn c(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

fn hash(topic: &str) -> [u8; 16] {
    TopicHash::of(provider().hash, topic.as_bytes()).0
}

fn control_topic(id: &[u8; 16]) -> std::ffi::CString {
    let mut t = [0 as c_char; E4_CTRLTOPIC_LEN + 1];
    assert_eq!(
        unsafe { e4c_derive_control_topic(t.as_mut_ptr(), t.len(), id.as_ptr()) },
        0
    );
    unsafe { std::ffi::CStr::from_ptr(t.as_ptr()) }.to_owned()
}

const SEED_A: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PK_A: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const PK_B: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const C2_SK: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const C2_PK: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

struct Pk {
    store: Box<e4storage_pubkey>,
    id: [u8; 16],
}

impl Pk {
    fn new() -> Pk {
        let mut store = Box::new(e4storage_pubkey {
            opaque: [0; E4_STORAGE_PUBKEY_WORDS],
        });
        let s = &mut *store as *mut e4storage_pubkey as *mut c_void;
        let id = Id::from_alias(provider().hash, b"meter-a").0;
        let sk = [hex(SEED_A), hex(PK_A)].concat();
        unsafe {
            assert_eq!(e4c_pubkey_init(s), 0);
            assert_eq!(e4c_pubkey_set_id(s, id.as_ptr()), 0);
            assert_eq!(e4c_pubkey_set_idseckey(s, sk.as_ptr()), 0);
            assert_eq!(e4c_pubkey_set_c2_pubkey(s, hex(C2_PK).as_ptr()), 0);
        }
        Pk { store, id }
    }

    fn ptr(&mut self) -> *mut c_void {
        &mut *self.store as *mut e4storage_pubkey as *mut c_void
    }

    fn command(&mut self, cmd: &[u8]) -> i32 {
        let pk: [u8; 32] = hex(PK_A).try_into().unwrap();
        let c2: [u8; 32] = hex(C2_SK).try_into().unwrap();
        let msg = seal_command_vec(
            provider(),
            SuiteId::PubKey,
            &Id(self.id),
            DeviceKey::PubKey(&pk),
            C2Secret::X25519(&c2),
            e4c_get_time(),
            cmd,
            &mut NoRng,
        )
        .unwrap();
        let topic = control_topic(&self.id);
        let mut out = [0u8; 256];
        let mut n = 99usize;
        let r = unsafe {
            e4c_pubkey_unprotect_message(
                out.as_mut_ptr(),
                out.len(),
                &mut n,
                msg.as_ptr(),
                msg.len(),
                topic.as_ptr(),
                self.ptr(),
                0,
            )
        };
        assert_eq!(n, 0);
        r
    }

    fn protect(&mut self, topic: &str) -> i32 {
        let mut out = [0u8; 256];
        let mut n = 0usize;
        unsafe {
            e4c_pubkey_protect_message(
                out.as_mut_ptr(),
                out.len(),
                &mut n,
                b"x".as_ptr(),
                1,
                c(topic).as_ptr(),
                self.ptr(),
                0,
            )
        }
    }
}

#[test]
fn pubkey_commands() {
    let mut d = Pk::new();
    // SetTopicKey(key, topic)
    let mut cmd = vec![0x03];
    cmd.extend_from_slice(&[9; 32]);
    cmd.extend_from_slice(&hash("meters/1"));
    assert_eq!(d.protect("meters/1"), E4_ERROR_TOPICKEY_MISSING);
    assert_eq!(d.command(&cmd), E4_RESULT_OK_CONTROL);
    assert_eq!(d.protect("meters/1"), E4_RESULT_OK);
    // the same command again is a replay
    assert_eq!(d.command(&cmd), E4_ERROR_MESSAGE_REPLAYED);

    // SetPubKey(key, id) then RemovePubKey(id): libe4 removed the key only
    // when the length was wrong (inverted check) and read past the command
    let other = Id::from_alias(provider().hash, b"meter-b").0;
    let mut set = vec![0x06];
    set.extend_from_slice(&hex(PK_B));
    set.extend_from_slice(&other);
    assert_eq!(d.command(&set), E4_RESULT_OK_CONTROL);
    let mut remove = vec![0x04];
    remove.extend_from_slice(&other[..8]);
    assert_eq!(d.command(&remove), E4_ERROR_INVALID_COMMAND);
    let p = d.ptr();
    // still there: removing it through the API succeeds once
    remove.extend_from_slice(&other[8..]);
    assert_eq!(d.command(&remove), E4_RESULT_OK_CONTROL);
    assert_eq!(
        unsafe { e4c_pubkey_remove_device(p, other.as_ptr()) },
        E4_ERROR_DEVICEPK_MISSING
    );

    // RemoveTopic with a short hash: refused (libe4 read past the command)
    assert_eq!(d.command(&[0x00, 1, 2, 3]), E4_ERROR_INVALID_COMMAND);
    let mut rt = vec![0x00];
    rt.extend_from_slice(&hash("meters/1"));
    assert_eq!(d.command(&rt), E4_RESULT_OK_CONTROL);
    assert_eq!(d.protect("meters/1"), E4_ERROR_TOPICKEY_MISSING);

    // a symmetric-length SetIdKey is refused in public-key mode (e4go:
    // invalid argument)
    let mut sik = vec![0x02];
    sik.extend_from_slice(&[5; 32]);
    assert_eq!(d.command(&sik), E4_ERROR_PARAMETER_INVALID);
    assert_eq!(unsafe { e4c_pubkey_destroy(p) }, 0);
}

fn sym_store() -> Box<e4storage_symkey> {
    Box::new(e4storage_symkey {
        opaque: [0; E4_STORAGE_SYMKEY_WORDS],
    })
}

fn sym_command(s: *mut c_void, id: &[u8; 16], key: &SymKey, cmd: &[u8]) -> i32 {
    let msg = seal_command_vec(
        provider(),
        SuiteId::Symmetric,
        &Id(*id),
        DeviceKey::Symmetric(key),
        C2Secret::None,
        e4c_get_time(),
        cmd,
        &mut NoRng,
    )
    .unwrap();
    let topic = control_topic(id);
    let mut out = [0u8; 8];
    let mut n = 0usize;
    // a plaintext buffer smaller than the command: commands do not use it
    unsafe {
        e4c_symkey_unprotect_message(
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            msg.as_ptr(),
            msg.len(),
            topic.as_ptr(),
            s,
            0,
        )
    }
}

#[test]
fn symmetric_set_id_key_and_transition_persisted() {
    let dir = std::env::temp_dir().join(format!("e4ffi-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = c(dir.join("state.e4p").to_str().unwrap());
    let mut store = sym_store();
    let s = &mut *store as *mut e4storage_symkey as *mut c_void;
    let id = Id::from_alias(provider().hash, b"sensor-1").0;
    let k1 = SymKey::new([1; 32]);
    let k2 = SymKey::new([2; 32]);
    unsafe {
        assert_eq!(e4c_symkey_init(s), 0);
        assert_eq!(e4c_symkey_configure_storage(s, path.as_ptr().cast()), 0);
        assert_eq!(e4c_symkey_set_id(s, id.as_ptr()), 0);
        assert_eq!(e4c_symkey_set_idkey(s, k1.as_bytes().as_ptr()), 0);
    }
    // a message under the topic's first key, sent before the rotation
    let mut old = [0u8; 64];
    let mut n = 0usize;
    unsafe {
        assert_eq!(
            e4c_symkey_set_topic_key(s, hash("t").as_ptr(), [3u8; 32].as_ptr()),
            0
        );
        assert_eq!(
            e4c_symkey_protect_message(
                old.as_mut_ptr(),
                64,
                &mut n,
                b"old".as_ptr(),
                3,
                c("t").as_ptr(),
                s,
                0
            ),
            0
        );
    }
    // SetTopicKey by command: the old key stays valid for the transition
    let mut stk = vec![0x03];
    stk.extend_from_slice(&[4; 32]);
    stk.extend_from_slice(&hash("t"));
    assert_eq!(sym_command(s, &id, &k1, &stk), E4_RESULT_OK_CONTROL);
    let mut out = [0u8; 64];
    let mut m = 0usize;
    unsafe {
        assert_eq!(
            e4c_symkey_unprotect_message(
                out.as_mut_ptr(),
                64,
                &mut m,
                old.as_ptr(),
                n,
                c("t").as_ptr(),
                s,
                0
            ),
            0
        );
    }
    assert_eq!(&out[..m], b"old");
    // SetIdKey(k2): saved to the file by itself
    let mut sik = vec![0x02];
    sik.extend_from_slice(k2.as_bytes());
    assert_eq!(sym_command(s, &id, &k1, &sik), E4_RESULT_OK_CONTROL);
    assert_eq!(sym_command(s, &id, &k1, &[0x01]), E4_ERROR_INVALID_TAG);

    let mut store2 = sym_store();
    let s2 = &mut *store2 as *mut e4storage_symkey as *mut c_void;
    unsafe {
        assert_eq!(e4c_symkey_init(s2), 0);
        assert_eq!(e4c_symkey_load(s2, path.as_ptr()), 0);
    }
    assert_eq!(sym_command(s2, &id, &k1, &[0x01]), E4_ERROR_INVALID_TAG);
    // the topic key set by command was saved too; ResetTopics under k2
    unsafe {
        assert_eq!(
            e4c_symkey_protect_message(
                old.as_mut_ptr(),
                64,
                &mut n,
                b"new".as_ptr(),
                3,
                c("t").as_ptr(),
                s2,
                0
            ),
            0
        );
    }
    assert_eq!(sym_command(s2, &id, &k2, &[0x01]), E4_RESULT_OK_CONTROL);
    // a wrong-length ResetTopics, an oversized command
    assert_eq!(
        sym_command(s2, &id, &k2, &[0x01, 0]),
        E4_ERROR_INVALID_COMMAND
    );
    assert_eq!(
        sym_command(s2, &id, &k2, &[0x03; 200]),
        E4_ERROR_INVALID_COMMAND
    );
    unsafe {
        assert_eq!(e4c_symkey_destroy(s), 0);
        assert_eq!(e4c_symkey_destroy(s2), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// Suite negotiation through e4c_client_* (C2's side: e4_proto::negotiation).

use e4::generic::*;
use e4_proto::command::Command;
use e4_proto::negotiation::{answer, verify_announce, verify_confirm, DeviceMaterial};
use e4_proto::Identity;

/// What the negotiation callback received.
#[derive(Default)]
struct Events(Vec<(i32, u8, String, Vec<u8>)>);

unsafe extern "C" fn on_event(
    user: *mut c_void,
    event: i32,
    suite: u8,
    topic: *const c_char,
    msg: *const u8,
    len: usize,
) {
    let events = unsafe { &mut *(user as *mut Events) };
    let topic = unsafe { std::ffi::CStr::from_ptr(topic) }
        .to_str()
        .unwrap()
        .to_owned();
    let msg = if msg.is_null() {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(msg, len) }.to_vec()
    };
    events.0.push((event, suite, topic, msg));
}

fn client_unprotect(client: *mut e4c_client, topic: &std::ffi::CStr, msg: &[u8]) -> i32 {
    let mut out = vec![0u8; msg.len()];
    let mut n = 0usize;
    unsafe {
        e4c_client_unprotect(
            client,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            msg.as_ptr(),
            msg.len(),
            topic.as_ptr(),
        )
    }
}

#[test]
fn a_symmetric_client_negotiates_post_quantum_through_the_c_api() {
    let p = provider();
    let mut rng = e4_backends::rng::OsRng;
    // The system's clock: the other tests of this file run in parallel and
    // read it too (e4c_set_time is process-wide).
    let id = Id::from_alias(p.hash, b"gateway-1");
    let key = [0x42u8; 32];
    let mut client: *mut e4c_client = core::ptr::null_mut();
    assert_eq!(
        unsafe {
            e4c_client_new(
                E4C_SUITE_SYMMETRIC,
                id.0.as_ptr(),
                key.as_ptr(),
                32,
                core::ptr::null(),
                0,
                &mut client,
            )
        },
        E4_RESULT_OK
    );
    let ctrl = control_topic(&id.0);
    let announce_topic = format!("e4c2/announce/{id}");
    let topic_key = [9u8; 32];
    let t = c("plant/temperature");
    unsafe {
        assert_eq!(
            e4c_client_set_topic_key(client, t.as_ptr(), topic_key.as_ptr()),
            0
        );
        // nothing to deliver the Confirm with, no capabilities: refused
        assert_eq!(e4c_client_announce(client), E4_ERROR_PARAMETER_INVALID);
    }
    let mut events = Box::new(Events::default());
    let user = &mut *events as *mut Events as *mut c_void;
    unsafe {
        assert_eq!(
            e4c_client_set_negotiation_callback(client, Some(on_event), user),
            0
        );
        assert_eq!(e4c_client_announce(client), E4_ERROR_PARAMETER_INVALID);
        assert_eq!(
            e4c_client_set_capabilities(client, [0x7f].as_ptr(), 1),
            E4_ERROR_UNSUPPORTED_SUITE
        );
        let caps = [E4C_SUITE_SYMMETRIC, E4C_SUITE_PQ];
        assert_eq!(e4c_client_set_capabilities(client, caps.as_ptr(), 2), 0);
        assert_eq!(e4c_client_negotiation_status(client), E4C_NEGOTIATION_IDLE);
        assert_eq!(e4c_client_confirm_retry(client), E4_ERROR_INVALID_COMMAND);
        assert_eq!(e4c_client_announce(client), 0);
        assert_eq!(
            e4c_client_negotiation_status(client),
            E4C_NEGOTIATION_ANNOUNCED
        );
    }
    let (ev, suite, topic, announce) = events.0.pop().unwrap();
    assert_eq!((ev, suite), (E4C_NEGOTIATION_ANNOUNCE, E4C_SUITE_SYMMETRIC));
    assert_eq!(topic, announce_topic);

    // C2: verify the Announce with the registered client key, answer with
    // post-quantum (its ML-DSA key), seal the SetSuite under symmetric.
    let now = e4c_get_time();
    let material = DeviceMaterial::of_identity(&Identity::Symmetric(SymKey::new(key)));
    let a = verify_announce(p, &announce, &id, SuiteId::Symmetric, &material, None, now).unwrap();
    assert!(a.offer().suites.contains(SuiteId::PostQuantum));
    let sig = p.suite(SuiteId::PostQuantum).unwrap().sig().unwrap();
    let mut c2_sk = vec![0u8; sig.secret_key_len()];
    let mut c2_pk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut rng, &mut c2_sk, &mut c2_pk).unwrap();
    let (set, pending) = answer(p, &a, SuiteId::PostQuantum, &c2_pk, &mut rng).unwrap();
    let set_suite = seal_command_vec(
        p,
        SuiteId::Symmetric,
        &id,
        material.device_key(),
        C2Secret::None,
        now,
        set.encode().as_bytes(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        client_unprotect(client, &ctrl, &set_suite),
        E4_RESULT_OK_CONTROL
    );
    assert_eq!(
        unsafe { e4c_client_negotiation_status(client) },
        E4C_NEGOTIATION_ACCEPTED
    );
    // still symmetric until C2 commits; a second Announce is refused
    assert_eq!(
        unsafe { e4c_client_suite(client) },
        E4C_SUITE_SYMMETRIC as i32
    );
    assert_eq!(
        unsafe { e4c_client_announce(client) },
        E4_ERROR_INVALID_COMMAND
    );
    let (ev, suite, topic, confirm) = events.0.pop().unwrap();
    assert_eq!((ev, suite), (E4C_NEGOTIATION_CONFIRM, E4C_SUITE_PQ));
    assert_eq!(topic, announce_topic);
    verify_confirm(p, &confirm, &pending, now).unwrap();
    // a retried Confirm verifies too
    assert_eq!(unsafe { e4c_client_confirm_retry(client) }, 0);
    let (ev, _, _, retry) = events.0.pop().unwrap();
    assert_eq!(ev, E4C_NEGOTIATION_CONFIRM);
    let now = e4c_get_time();
    verify_confirm(p, &retry, &pending, now).unwrap();

    // C2 commits and sends a topic key under post-quantum: the client
    // switches on it.
    let other = c("plant/pressure");
    let new_key = [7u8; 32];
    let cmd = Command::SetTopicKey {
        key: &new_key,
        topic: TopicHash::of(p.hash, b"plant/pressure"),
    }
    .to_vec();
    let sealed = seal_command_vec(
        p,
        SuiteId::PostQuantum,
        &id,
        pending.material.device_key(),
        C2Secret::Signing(&c2_sk),
        now,
        &cmd,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        client_unprotect(client, &ctrl, &sealed),
        E4_RESULT_OK_CONTROL
    );
    let (ev, suite, _, msg) = events.0.pop().unwrap();
    assert_eq!((ev, suite), (E4C_NEGOTIATION_SUITE_CHANGED, E4C_SUITE_PQ));
    assert!(msg.is_empty() && events.0.is_empty());
    unsafe {
        assert_eq!(e4c_client_suite(client), E4C_SUITE_PQ as i32);
        assert_eq!(e4c_client_negotiation_status(client), E4C_NEGOTIATION_IDLE);
    }

    // The upgraded client signs with the keys C2 registered: its messages
    // on the carried-over topic and on the new one open with them.
    let mut pk = vec![0u8; 4096];
    let mut pk_len = 0usize;
    unsafe {
        assert_eq!(
            e4c_client_public_key(client, pk.as_mut_ptr(), pk.len(), &mut pk_len),
            0
        );
        assert_eq!(
            e4c_client_set_pubkey(client, id.0.as_ptr(), pk.as_ptr(), pk_len),
            0
        );
    }
    for (topic, payload) in [(&t, &b"21.5 C"[..]), (&other, &b"1013 hPa"[..])] {
        let mut sealed = vec![0u8; payload.len() + unsafe { e4c_client_overhead(client) }];
        let mut n = 0usize;
        let mut plain = vec![0u8; sealed.len()];
        let mut m = 0usize;
        unsafe {
            assert_eq!(
                e4c_client_protect(
                    client,
                    sealed.as_mut_ptr(),
                    sealed.len(),
                    &mut n,
                    payload.as_ptr(),
                    payload.len(),
                    topic.as_ptr(),
                ),
                0
            );
            assert_eq!(
                e4c_client_unprotect(
                    client,
                    plain.as_mut_ptr(),
                    plain.len(),
                    &mut m,
                    sealed.as_ptr(),
                    n,
                    topic.as_ptr(),
                ),
                0
            );
        }
        assert_eq!(&plain[..m], payload);
    }
    unsafe { e4c_client_free(client) };
}
