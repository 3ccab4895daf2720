//! Fixtures shared by the benchmarks: a sender, a receiver and C2 for every
//! suite compiled into `e4-backends`, built the way `e4-vectors generate`
//! builds them (keys from the suite's own `generate`, [`MemStore`],
//! [`FixedClock`]).

use e4_proto::c2::{seal_command_vec, C2Secret, DeviceKey};
use e4_proto::crypto::Rng;
use e4_proto::store::MemStore;
use e4_proto::suite::Material;
use e4_proto::{
    Client, CryptoProvider, FixedClock, Id, Identity, Suite, SuiteId, SymKey, TopicHash,
};
use e4_testkit::TestRng;

/// Payload sizes of the message benchmarks.
pub const SIZES: [usize; 5] = [16, 64, 256, 1024, 16384];
/// Messages per call of the batch benchmarks.
pub const BATCH: usize = 64;
/// The clock of every client.
pub const NOW: u64 = 1_800_000_000;
/// The topic of the message benchmarks.
pub const TOPIC: &str = "sensors/temperature";

/// A client as benchmarked: heap store, fixed clock, default replay cache.
pub type BenchClient = Client<MemStore, FixedClock>;

/// Every suite compiled in.
pub fn suites() -> impl Iterator<Item = &'static Suite> {
    e4_backends::provider().suites.iter().copied()
}

/// A payload of `n` bytes (`i * 7 + 3`).
pub use e4_testkit::payload;

fn random<const N: usize>(rng: &mut TestRng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b);
    b
}

/// C2's secret material for a suite.
pub struct C2Keys {
    x25519_sk: [u8; 32],
    x25519_pk: [u8; 32],
    sig_sk: Vec<u8>,
    sig_pk: Vec<u8>,
}

/// A device: id, identity and signature public key.
pub struct Device {
    /// The device id.
    pub id: Id,
    /// Its key material.
    pub identity: Identity,
    /// Its signature public key (empty for the symmetric suite).
    pub sig_pk: Vec<u8>,
}

/// Two devices of one suite sharing a topic key, and their C2.
pub struct Fixture {
    /// The provider whose implementation of the suite is used.
    pub provider: &'static CryptoProvider,
    /// The suite.
    pub suite: &'static Suite,
    /// The sending device's client.
    pub sender: BenchClient,
    /// The receiving device's client (knows the sender's public key).
    pub receiver: BenchClient,
    /// The receiving device.
    pub receiver_device: Device,
    /// The hash of [`TOPIC`].
    pub topic: TopicHash,
    c2: C2Keys,
    rng: TestRng,
}

fn make_c2(suite: &Suite, rng: &mut TestRng) -> C2Keys {
    let mut c2 = C2Keys {
        x25519_sk: [0; 32],
        x25519_pk: [0; 32],
        sig_sk: vec![],
        sig_pk: vec![],
    };
    match suite.id {
        SuiteId::Symmetric => {}
        SuiteId::PubKey => {
            c2.x25519_sk = random(rng);
            c2.x25519_pk = suite.x25519().unwrap().public_key(&c2.x25519_sk);
        }
        _ => {
            let sig = suite.sig().unwrap();
            c2.sig_sk = vec![0; sig.secret_key_len()];
            c2.sig_pk = vec![0; sig.public_key_len()];
            sig.generate(rng, &mut c2.sig_sk, &mut c2.sig_pk).unwrap();
        }
    }
    c2
}

/// Generate a device of `suite` (what the key-generation benchmark times):
/// `e4_testkit::identity`, the suite's own key generation.
pub fn make_device(
    p: &CryptoProvider,
    suite: &Suite,
    c2_x25519_pk: &[u8; 32],
    c2_sig_pk: &[u8],
    name: &str,
    rng: &mut dyn Rng,
) -> Device {
    let id = Id::from_alias(p.hash, name.as_bytes());
    let c2_public: &[u8] = match suite.id.params().material {
        Material::SymmetricKey => &[],
        Material::Ed25519AndC2X25519 => c2_x25519_pk,
        Material::SignatureAndKem => c2_sig_pk,
    };
    let (identity, sig_pk) = e4_testkit::identity(p, suite.id, rng, c2_public);
    Device {
        id,
        identity,
        sig_pk,
    }
}

fn client(p: &'static CryptoProvider, suite: SuiteId, d: &Device) -> BenchClient {
    let mut c = Client::new(
        p,
        suite,
        d.id,
        d.identity.clone(),
        MemStore::new(),
        FixedClock::new(NOW),
    )
    .unwrap();
    // Benchmarks deliver the same message again and again: without this the
    // replay cache (on by default) would refuse every delivery but the first.
    c.set_replay_protection(false);
    c
}

impl Fixture {
    /// Sender, receiver and C2 of `suite`, sharing a key for [`TOPIC`],
    /// on the default provider.
    pub fn new(suite: &'static Suite) -> Fixture {
        Fixture::with_provider(e4_backends::provider(), suite.id)
    }

    /// [`Fixture::new`] on `provider`'s implementation of `suite`.
    pub fn with_provider(p: &'static CryptoProvider, suite: SuiteId) -> Fixture {
        let suite = p.suite(suite).expect("a suite the provider offers");
        let mut rng = TestRng::from_seed(suite.id.name().as_bytes());
        let c2 = make_c2(suite, &mut rng);
        let rx = make_device(p, suite, &c2.x25519_pk, &c2.sig_pk, "rx", &mut rng);
        let tx = make_device(p, suite, &c2.x25519_pk, &c2.sig_pk, "tx", &mut rng);
        let topic = TopicHash::of(p.hash, TOPIC.as_bytes());
        let key = SymKey::new(random(&mut rng));
        let mut sender = client(p, suite.id, &tx);
        let mut receiver = client(p, suite.id, &rx);
        sender.set_topic_key(&topic, &key).unwrap();
        receiver.set_topic_key(&topic, &key).unwrap();
        if suite.sig.is_some() {
            receiver.set_pubkey(&tx.id, &tx.sig_pk).unwrap();
        }
        Fixture {
            provider: p,
            suite,
            sender,
            receiver,
            receiver_device: rx,
            topic,
            c2,
            rng,
        }
    }

    /// The suite's name.
    pub fn name(&self) -> &'static str {
        self.suite.id.name()
    }

    /// A message of `n` payload bytes from the sender.
    pub fn message(&self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n + self.sender.overhead()];
        let len = self
            .sender
            .protect_hashed(&self.topic, &payload(n), &mut out)
            .unwrap();
        out.truncate(len);
        out
    }

    /// C2 protects `cmd` for the receiver (fresh KEM encapsulation and
    /// signature in the kem suites).
    pub fn seal_command(&mut self, cmd: &[u8]) -> Vec<u8> {
        let p = self.provider;
        let public;
        let device = match &self.receiver_device.identity {
            Identity::Symmetric(k) => DeviceKey::Symmetric(k),
            Identity::PubKey { signing, .. } => {
                public = signing.public();
                DeviceKey::PubKey(&public)
            }
            Identity::Kem(k) => DeviceKey::Kem(&k.kem_pk),
        };
        let secret = match self.suite.id {
            SuiteId::Symmetric => C2Secret::None,
            SuiteId::PubKey => C2Secret::X25519(&self.c2.x25519_sk),
            _ => C2Secret::Signing(&self.c2.sig_sk),
        };
        seal_command_vec(
            p,
            self.suite.id,
            &self.receiver_device.id,
            device,
            secret,
            NOW,
            cmd,
            &mut self.rng,
        )
        .unwrap()
    }

    /// C2's X25519 public key and signature public key (for generating
    /// devices of this suite).
    pub fn c2_public(&self) -> (&[u8; 32], &[u8]) {
        (&self.c2.x25519_pk, &self.c2.sig_pk)
    }
}

/// The AES-SIV of e4-backends before this crate existed: RustCrypto's
/// `aes-siv` 0.7 with `K ‖ K`, a new cipher (two AES key expansions, CMAC
/// subkeys) per call. Kept as the "before" line of the benchmarks.
pub mod before {
    use aes_siv::aead::generic_array::GenericArray;
    use aes_siv::siv::Aes256Siv;
    use aes_siv::KeyInit;
    use e4_proto::crypto::{Siv, SIV_LEN};
    use e4_proto::{Error, SymKey};

    /// `aes-siv` 0.7, exactly as `e4_backends::base::AesSiv` was.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct AesSivCrate;

    /// The `aes-siv` cipher of `key`.
    pub fn cipher(key: &SymKey) -> Aes256Siv {
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(key.as_bytes());
        k[32..].copy_from_slice(key.as_bytes());
        Aes256Siv::new(GenericArray::from_slice(&k[..]))
    }

    impl Siv for AesSivCrate {
        fn seal(&self, key: &SymKey, ad: &[u8], buf: &mut [u8]) -> [u8; SIV_LEN] {
            cipher(key)
                .encrypt_in_place_detached([ad], buf)
                .expect("one header")
                .into()
        }

        fn open(
            &self,
            key: &SymKey,
            ad: &[u8],
            siv: &[u8; SIV_LEN],
            buf: &mut [u8],
        ) -> Result<(), Error> {
            cipher(key)
                .decrypt_in_place_detached([ad], buf, GenericArray::from_slice(siv))
                .map_err(|_| Error::NotAuthentic)
        }
    }
}
