//! `e4rs._e4rs`: the native part of the `e4rs` Python package.
//!
//! Every cryptographic operation is done by the workspace crates
//! (`e4-client`, `e4-proto`, `e4-backends`); this crate only converts
//! arguments, results and errors, and releases the GIL while they run.
//! The Python-facing API (docstrings, stubs, the benchmark) is described in
//! `bindings/python/README.md`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use e4_backends::rng::OsRng;
use e4_client::{CommandInfo, Config, ConfigError, Negotiated, Unprotected};
use e4_proto::client::KemIdentity;
use e4_proto::crypto::Rng;
use e4_proto::keys::{is_all_zero, Ed25519Secret, SecretBytes};
use e4_proto::suite::Family;
use e4_proto::time::SystemClock;
use e4_proto::{ClientId, Clock, CryptoProvider, Id, SuiteId, SymKey, TopicHash};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString, PyTuple};
use zeroize::Zeroizing;

// ---------------------------------------------------------------- errors

/// An error on its way to Python: the category names the `e4rs` exception
/// class (`e4rs._errors.BY_CATEGORY`).
#[derive(Debug)]
pub struct Failure {
    category: Cow<'static, str>,
    message: String,
}

impl Failure {
    fn new(category: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            category: Cow::Borrowed(category),
            message: message.into(),
        }
    }
}

impl From<e4_proto::Error> for Failure {
    fn from(e: e4_proto::Error) -> Failure {
        Failure::new(e.category(), e.to_string())
    }
}

fn config_category(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::KeyLength { .. } => "invalid_key_length",
        ConfigError::PasswordTooShort { .. } => "invalid_password",
        ConfigError::SuiteNotCompiled(_) => "unsupported_suite",
        _ => "invalid_argument",
    }
}

impl From<e4_client::Error> for Failure {
    fn from(e: e4_client::Error) -> Failure {
        let category = match &e {
            e4_client::Error::Protocol(p) => p.category(),
            e4_client::Error::Config(c) => config_category(c),
            e4_client::Error::CleartextRefused { .. } => "cleartext_refused",
            e4_client::Error::ControlTopic { .. } => "control_topic",
            e4_client::Error::TopicName { .. } => "invalid_topic",
            e4_client::Error::TopicFormat { .. } => "topic_format",
            e4_client::Error::State(_) => "state",
            _ => "e4_error",
        };
        Failure::new(category, e.to_string())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::new(
            config_category(&e),
            format!("invalid client configuration: {e}"),
        )
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        Python::attach(|py| match raise(py, &f) {
            Ok(err) | Err(err) => err,
        })
    }
}

/// The exception instance for `f` (or the error met while making it).
fn raise(py: Python<'_>, f: &Failure) -> PyResult<PyErr> {
    let errors = py.import("e4rs._errors")?;
    let class = errors
        .getattr("exception_for")?
        .call1((f.category.as_ref(),))?;
    let value = class.call1((f.message.as_str(), f.category.as_ref()))?;
    Ok(PyErr::from_value(value))
}

type Res<T> = Result<T, Failure>;

fn key_length(what: &str, expected: usize, got: usize) -> Failure {
    Failure::new(
        "invalid_key_length",
        format!("the {what} must be {expected} bytes (got {got})"),
    )
}

// ---------------------------------------------------------------- arguments

/// The bytes of a `bytes`, `bytearray` or `memoryview` argument (`bytes`
/// without a copy).
fn buf<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if obj.cast::<PyMemoryView>().is_ok() {
        let b = obj.call_method0("tobytes")?;
        let b = b.cast::<PyBytes>()?;
        return Ok(Cow::Owned(b.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or memoryview, not {}",
        obj.get_type().name()?
    )))
}

/// A 32-byte key argument.
fn sym_key(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<SymKey> {
    let b = buf(obj, what)?;
    Ok(SymKey::from_slice(&b).ok_or_else(|| key_length(what, 32, b.len()))?)
}

/// A fixed-size argument.
fn array<const N: usize>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; N]> {
    let b = buf(obj, what)?;
    Ok(<[u8; N]>::try_from(&b[..]).map_err(|_| key_length(what, N, b.len()))?)
}

/// A 16-byte device id argument.
fn id_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Id> {
    let b = buf(obj, what)?;
    Ok(Id::from_slice(&b).ok_or_else(|| {
        Failure::new(
            "invalid_argument",
            format!("{what} must be 16 bytes (got {})", b.len()),
        )
    })?)
}

/// `name_or_id`: a name (str: id = SHA3-256(name)[..16], as e4go's
/// HashIDAlias), a 16-byte id, or None for a random id.
fn name_or_id(p: &CryptoProvider, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Id>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match o.cast::<PyString>() {
            Ok(s) => Ok(Some(
                e4_client::config::id_from_name(p, s.to_cow()?.as_ref()).map_err(Failure::from)?,
            )),
            Err(_) => Ok(Some(id_arg(o, "id")?)),
        },
    }
}

fn provider(name: Option<&str>) -> Res<&'static CryptoProvider> {
    match name {
        None => Ok(e4_backends::default_provider()),
        Some(n) => e4_backends::provider_by_name(n)
            .map_err(|e| Failure::new("unknown_provider", format!("`{n}`: {e}"))),
    }
}

fn suite_id(name: &str) -> Res<SuiteId> {
    SuiteId::from_name(name).map_err(|_| {
        let known: Vec<&str> = SuiteId::ALL.iter().map(|s| s.name()).collect();
        Failure::new(
            "unknown_suite",
            format!("unknown suite `{name}` (known: {})", known.join(", ")),
        )
    })
}

fn supported(p: &CryptoProvider, suite: SuiteId) -> Res<()> {
    if p.supports(suite) {
        Ok(())
    } else {
        Err(Failure::new(
            "unsupported_suite",
            format!(
                "provider `{}` does not implement suite `{suite}` in this build",
                p.name
            ),
        ))
    }
}

// ---------------------------------------------------------------- clock

const SYSTEM_TIME: u64 = u64::MAX;

/// The client's clock: the system clock, or a time set from Python
/// (`Client.now`), shared by the clones the client keeps.
#[derive(Clone, Debug)]
struct PyClock(Arc<AtomicU64>);

impl PyClock {
    fn new(now: Option<u64>) -> PyClock {
        PyClock(Arc::new(AtomicU64::new(now.unwrap_or(SYSTEM_TIME))))
    }
    fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::SeqCst) {
            SYSTEM_TIME => None,
            t => Some(t),
        }
    }
    fn set(&self, now: Option<u64>) {
        self.0.store(now.unwrap_or(SYSTEM_TIME), Ordering::SeqCst)
    }
}

impl Clock for PyClock {
    fn now(&self) -> u64 {
        self.get().unwrap_or_else(|| SystemClock.now())
    }
}

// ---------------------------------------------------------------- Command

/// A command from C2 that :meth:`Client.unprotect` applied (it arrived on
/// the client's control topic).
#[pyclass(module = "e4rs", name = "Command", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyCommand {
    /// The opcode: 0x00 RemoveTopic .. 0x07 SetC2Key (E4), 0x08 SetSuite,
    /// 0x09 SetTopicFormat, 0x0A Renegotiate (e4-rs suite negotiation).
    #[pyo3(get)]
    opcode: u8,
    /// The command's E4 name, e.g. ``"SetTopicKey"``.
    #[pyo3(get)]
    name: String,
    /// What it did for suite negotiation: ``None``, ``"accepted"``,
    /// ``"topic_format"``, ``"announce_requested"`` (announce again:
    /// ``Client.announce``) or ``"upgraded"``.
    #[pyo3(get)]
    negotiation: Option<String>,
    /// The suite accepted or upgraded to, or the topic's new format.
    #[pyo3(get)]
    suite: Option<String>,
    /// The suite before an upgrade.
    #[pyo3(get)]
    previous_suite: Option<String>,
    /// The topic hash a SetTopicFormat applies to.
    #[pyo3(get)]
    topic_hash: Option<Vec<u8>>,
}

impl From<CommandInfo> for PyCommand {
    fn from(c: CommandInfo) -> PyCommand {
        let mut out = PyCommand {
            opcode: c.opcode,
            name: c.name().to_owned(),
            negotiation: None,
            suite: None,
            previous_suite: None,
            topic_hash: None,
        };
        match c.negotiation {
            None => {}
            Some(Negotiated::Accepted { suite }) => {
                out.negotiation = Some("accepted".into());
                out.suite = Some(suite.name().into());
            }
            Some(Negotiated::TopicFormat { topic, format }) => {
                out.negotiation = Some("topic_format".into());
                out.suite = Some(format.name().into());
                out.topic_hash = Some(topic.0.to_vec());
            }
            Some(Negotiated::AnnounceRequested) => {
                out.negotiation = Some("announce_requested".into());
            }
            Some(Negotiated::RekeyRequested) => {
                out.negotiation = Some("rekey_requested".into());
            }
            Some(Negotiated::Upgraded { from, to }) => {
                out.negotiation = Some("upgraded".into());
                out.suite = Some(to.name().into());
                out.previous_suite = Some(from.name().into());
            }
        }
        out
    }
}

#[pymethods]
impl PyCommand {
    fn __repr__(&self) -> String {
        match &self.negotiation {
            None => format!(
                "Command(opcode=0x{:02x}, name={:?})",
                self.opcode, self.name
            ),
            Some(n) => format!(
                "Command(opcode=0x{:02x}, name={:?}, negotiation={n:?}, suite={:?})",
                self.opcode,
                self.name,
                self.suite.as_deref().unwrap_or("")
            ),
        }
    }
}

// ---------------------------------------------------------------- KemKeys

/// The key pairs of a post-quantum or hybrid device
/// (:func:`generate_kem_keys`). Give C2 ``sig_public_key`` and
/// ``kem_public_key``; the secret keys stay on the device.
#[pyclass(module = "e4rs", name = "KemKeys", frozen)]
#[derive(Clone)]
pub struct PyKemKeys {
    /// The suite these keys are for (``"pq"``, ``"pq-draft"``, ``"hybrid"``).
    #[pyo3(get)]
    suite: String,
    sig_sk: Zeroizing<Vec<u8>>,
    /// Signature public key.
    #[pyo3(get)]
    sig_public_key: Vec<u8>,
    kem_sk: Zeroizing<Vec<u8>>,
    /// KEM (encapsulation) public key.
    #[pyo3(get)]
    kem_public_key: Vec<u8>,
}

#[pymethods]
impl PyKemKeys {
    /// Key pairs given as bytes (lengths are checked when a client is made).
    #[new]
    #[pyo3(signature = (suite, sig_secret_key, sig_public_key, kem_secret_key, kem_public_key))]
    fn py_new(
        suite: &str,
        sig_secret_key: &Bound<'_, PyAny>,
        sig_public_key: &Bound<'_, PyAny>,
        kem_secret_key: &Bound<'_, PyAny>,
        kem_public_key: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let s = suite_id(suite)?;
        if !s.is_kem_suite() {
            return Err(Failure::new(
                "invalid_argument",
                format!("suite `{s}` has no KEM keys (pq, pq-draft or hybrid)"),
            )
            .into());
        }
        Ok(PyKemKeys {
            suite: s.name().into(),
            sig_sk: Zeroizing::new(buf(sig_secret_key, "sig_secret_key")?.into_owned()),
            sig_public_key: buf(sig_public_key, "sig_public_key")?.into_owned(),
            kem_sk: Zeroizing::new(buf(kem_secret_key, "kem_secret_key")?.into_owned()),
            kem_public_key: buf(kem_public_key, "kem_public_key")?.into_owned(),
        })
    }

    /// Signature secret key.
    #[getter]
    fn sig_secret_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.sig_sk)
    }

    /// KEM (decapsulation) secret key.
    #[getter]
    fn kem_secret_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.kem_sk)
    }

    fn __repr__(&self) -> String {
        format!(
            "KemKeys(suite={:?}, sig_public_key=<{} bytes>, kem_public_key=<{} bytes>, secret keys hidden)",
            self.suite,
            self.sig_public_key.len(),
            self.kem_public_key.len()
        )
    }
}

fn generate_kem(p: &'static CryptoProvider, suite: SuiteId) -> Res<PyKemKeys> {
    supported(p, suite)?;
    let s = p.suite(suite)?;
    let (sig, kem) = (s.sig()?, s.kem()?);
    let mut sig_pk = vec![0; sig.public_key_len()];
    let mut kem_pk = vec![0; kem.public_key_len()];
    let mut sig_sk = Zeroizing::new(vec![0u8; sig.secret_key_len()]);
    let mut kem_sk = Zeroizing::new(vec![0u8; kem.secret_key_len()]);
    sig.generate(&mut OsRng, &mut sig_sk, &mut sig_pk)?;
    kem.generate(&mut OsRng, &mut kem_sk, &mut kem_pk)?;
    Ok(PyKemKeys {
        suite: suite.name().into(),
        sig_sk,
        sig_public_key: sig_pk,
        kem_sk,
        kem_public_key: kem_pk,
    })
}

// ---------------------------------------------------------------- Client

type Inner = e4_client::Client<PyClock>;

/// An E4 client of one suite: protects payloads before they are published
/// and unprotects what it receives; messages on its control topic
/// (``e4/<hex id>``) are commands from C2 and update its keys.
///
/// Make one with :meth:`Client.symmetric`, :meth:`Client.pubkey`,
/// :meth:`Client.post_quantum`, :meth:`Client.hybrid` or
/// :meth:`Client.from_password`. State is kept in memory. A client may be
/// shared between threads (calls are serialised); the GIL is released
/// while it computes.
#[pyclass(module = "e4rs", name = "Client", frozen)]
pub struct PyClient {
    inner: Mutex<Inner>,
    clock: PyClock,
    provider: &'static CryptoProvider,
}

impl PyClient {
    fn make(
        py: Python<'_>,
        config: Config,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let p = provider_named(provider)?;
        let clock = PyClock::new(now);
        let c = clock.clone();
        let inner = py
            .detach(move || Inner::with_clock_and_provider(config, c, p))
            .map_err(Failure::from)?;
        Ok(PyClient {
            inner: Mutex::new(inner),
            clock,
            provider: p,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is transactional in e4-client: a panic cannot leave
        // a half-applied state behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kem(
        py: Python<'_>,
        suite: SuiteId,
        name_or_id: Option<&Bound<'_, PyAny>>,
        c2_public_key: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyKemKeys>>,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let p = provider_named(provider)?;
        supported(p, suite)?;
        let id = name_or_id_arg(p, name_or_id)?;
        let c2 = buf(c2_public_key, "c2_public_key")?.into_owned();
        let config = match keys {
            None => Config::kem_generate(suite, id, &c2),
            Some(k) => {
                let k = k.get();
                if k.suite != suite.name() {
                    return Err(Failure::new(
                        "invalid_argument",
                        format!("keys are for suite `{}`, not `{suite}`", k.suite),
                    )
                    .into());
                }
                Config::KemIdAndKeys {
                    suite,
                    id,
                    keys: KemIdentity {
                        sig_sk: SecretBytes::from_slice(&k.sig_sk),
                        sig_pk: k.sig_public_key.clone(),
                        kem_sk: SecretBytes::from_slice(&k.kem_sk),
                        kem_pk: k.kem_public_key.clone(),
                        c2_sig_pk: c2,
                    },
                }
            }
        };
        Self::make(py, config, Some(p.name), now)
    }
}

fn provider_named(name: Option<&str>) -> PyResult<&'static CryptoProvider> {
    Ok(provider(name)?)
}

fn name_or_id_arg(p: &CryptoProvider, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Id>> {
    name_or_id(p, obj)
}

/// An Ed25519 private key given as the 64-byte ``seed ‖ public`` or the
/// 32-byte seed.
fn ed25519_secret(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Ed25519Secret> {
    let b = Zeroizing::new(buf(obj, what)?.into_owned());
    match b.len() {
        64 => Ok(Ed25519Secret::from_slice(&b).expect("64 bytes")),
        32 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(&b);
            let public = e4_backends::ed25519::public_from_seed(&seed);
            let mut sk = Zeroizing::new([0u8; 64]);
            sk[..32].copy_from_slice(&seed[..]);
            sk[32..].copy_from_slice(&public);
            Ok(Ed25519Secret::new(*sk))
        }
        n => Err(Failure::new(
            "invalid_key_length",
            format!("the {what} must be 64 bytes (seed ‖ public) or a 32-byte seed (got {n})"),
        )
        .into()),
    }
}

fn password_arg(obj: &Bound<'_, PyAny>) -> PyResult<Zeroizing<Vec<u8>>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Zeroizing::new(s.to_cow()?.as_bytes().to_vec()));
    }
    Ok(Zeroizing::new(buf(obj, "password")?.into_owned()))
}

#[pymethods]
impl PyClient {
    /// A client of E4's symmetric suite (AES-SIV), as e4go's ``SymIDAndKey``.
    ///
    /// ``name_or_id``: a device name (``str``; the id is
    /// ``SHA3-256(name)[:16]``), a 16-byte id, or ``None`` for a random id.
    /// ``key``: the 32-byte client key, shared with C2.
    /// ``provider``: a name from :func:`providers` (default: the fastest).
    /// ``now``: a fixed clock in Unix seconds (default: the system clock).
    #[staticmethod]
    #[pyo3(signature = (name_or_id, key, *, provider=None, now=None))]
    fn symmetric(
        py: Python<'_>,
        name_or_id: Option<&Bound<'_, PyAny>>,
        key: &Bound<'_, PyAny>,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let p = provider_named(provider)?;
        let id = name_or_id_arg(p, name_or_id)?;
        let key = sym_key(key, "client key")?;
        Self::make(py, Config::sym_id_and_key(id, key), Some(p.name), now)
    }

    /// A client of E4's public-key suite (Ed25519 signatures, X25519 command
    /// key), as e4go's ``PubIDAndKey``.
    ///
    /// ``signing_key``: the Ed25519 private key, 64 bytes ``seed ‖ public``
    /// or the 32-byte seed. ``c2_public_key``: C2's 32-byte Curve25519 key.
    #[staticmethod]
    #[pyo3(signature = (name_or_id, signing_key, c2_public_key, *, provider=None, now=None))]
    fn pubkey(
        py: Python<'_>,
        name_or_id: Option<&Bound<'_, PyAny>>,
        signing_key: &Bound<'_, PyAny>,
        c2_public_key: &Bound<'_, PyAny>,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let p = provider_named(provider)?;
        supported(p, SuiteId::PubKey)?;
        let id = name_or_id_arg(p, name_or_id)?;
        let key = ed25519_secret(signing_key, "Ed25519 private key")?;
        let c2 = array::<32>(c2_public_key, "C2 public key")?;
        Self::make(py, Config::pub_id_and_key(id, key, c2), Some(p.name), now)
    }

    /// A post-quantum client (ML-DSA-65 signatures, ML-KEM-768 command
    /// keys; ``draft=True``: the draft-FIPS Dilithium3/Kyber768 of the
    /// ``pqclean`` provider).
    ///
    /// ``c2_public_key``: C2's signature public key. ``keys``: the device's
    /// :class:`KemKeys` (default: generated now; read them back from
    /// :attr:`public_key` and :attr:`kem_public_key` to give C2).
    #[staticmethod]
    #[pyo3(signature = (name_or_id, c2_public_key, *, keys=None, draft=false, provider=None, now=None))]
    fn post_quantum(
        py: Python<'_>,
        name_or_id: Option<&Bound<'_, PyAny>>,
        c2_public_key: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyKemKeys>>,
        draft: bool,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let suite = if draft {
            SuiteId::PqDraft
        } else {
            SuiteId::PostQuantum
        };
        Self::kem(py, suite, name_or_id, c2_public_key, keys, provider, now)
    }

    /// A hybrid client (Ed25519 + ML-DSA-65 signatures, X25519 + ML-KEM-768
    /// command keys); arguments as :meth:`post_quantum`.
    #[staticmethod]
    #[pyo3(signature = (name_or_id, c2_public_key, *, keys=None, provider=None, now=None))]
    fn hybrid(
        py: Python<'_>,
        name_or_id: Option<&Bound<'_, PyAny>>,
        c2_public_key: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyKemKeys>>,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        Self::kem(
            py,
            SuiteId::Hybrid,
            name_or_id,
            c2_public_key,
            keys,
            provider,
            now,
        )
    }

    /// A client from a device name and a password (at least 16 bytes), as
    /// e4go's ``SymNameAndPassword`` (``suite="symmetric"``) or
    /// ``PubNameAndPassword`` (``suite="pubkey"``, which also needs
    /// ``c2_public_key``). The key is Argon2i of the password, as e4go
    /// derives it.
    #[staticmethod]
    #[pyo3(signature = (name, password, *, suite="symmetric", c2_public_key=None, provider=None, now=None))]
    #[allow(clippy::too_many_arguments)]
    fn from_password(
        py: Python<'_>,
        name: &str,
        password: &Bound<'_, PyAny>,
        suite: &str,
        c2_public_key: Option<&Bound<'_, PyAny>>,
        provider: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let p = provider_named(provider)?;
        let pw = password_arg(password)?;
        let pw = std::str::from_utf8(&pw)
            .map_err(|_| Failure::new("invalid_password", "invalid password: not valid UTF-8"))?;
        let config = match suite_id(suite)? {
            SuiteId::Symmetric => Config::sym_name_and_password(name, pw),
            SuiteId::PubKey => {
                let c2 = c2_public_key.ok_or_else(|| {
                    Failure::new(
                        "invalid_argument",
                        "a public-key client needs c2_public_key",
                    )
                })?;
                Config::pub_name_and_password(name, pw, array::<32>(c2, "C2 public key")?)
            }
            other => {
                return Err(Failure::new(
                    "invalid_argument",
                    format!("no password configuration for suite `{other}` (symmetric or pubkey)"),
                )
                .into())
            }
        };
        Self::make(py, config, Some(p.name), now)
    }

    /// The 16-byte client id.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().id().0)
    }

    /// The suite's name (``"symmetric"``, ``"pubkey"``, ``"pq"``,
    /// ``"pq-draft"``, ``"hybrid"``); it changes after a negotiated upgrade.
    #[getter]
    fn suite(&self) -> &'static str {
        self.lock().suite().name()
    }

    /// The crypto provider's name.
    #[getter]
    fn provider(&self) -> &'static str {
        self.provider.name
    }

    /// The control topic (``e4/<hex id>``) on which C2 sends commands.
    #[getter]
    fn control_topic(&self) -> String {
        self.lock().control_topic().as_str().to_owned()
    }

    /// The signature public key to give C2 and the other devices
    /// (``None`` for the symmetric suite).
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.lock().public_key().map(|k| PyBytes::new(py, &k))
    }

    /// The KEM public key to give C2 (post-quantum and hybrid suites).
    #[getter]
    fn kem_public_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.lock().kem_public_key().map(|k| PyBytes::new(py, k))
    }

    /// Bytes a protected message adds to its payload in this client's suite.
    #[getter]
    fn overhead(&self) -> usize {
        self.lock().overhead()
    }

    /// Bytes added to a payload protected for ``topic`` (its format's).
    fn overhead_for(&self, topic: &str) -> usize {
        self.lock().overhead_for(topic)
    }

    /// The clock: ``None`` for the system clock, or fixed Unix seconds
    /// (settable, e.g. to replay recorded messages).
    #[getter]
    fn get_now(&self) -> Option<u64> {
        self.clock.get()
    }

    #[setter]
    fn set_now(&self, now: Option<u64>) -> PyResult<()> {
        if now == Some(SYSTEM_TIME) {
            return Err(Failure::new("invalid_argument", "time out of range").into());
        }
        self.clock.set(now);
        Ok(())
    }

    /// Whether replayed topic messages are refused (default ``True``;
    /// ``False`` is e4go's behaviour). Replayed commands are always refused.
    #[getter]
    fn get_replay_protection(&self) -> bool {
        self.lock().replay_protection()
    }

    #[setter]
    fn set_replay_protection(&self, on: bool) {
        self.lock().set_replay_protection(on)
    }

    /// The 16-byte hash E4 uses for ``topic`` (``SHA3-256(topic)[:16]``).
    fn topic_hash<'py>(&self, py: Python<'py>, topic: &str) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().topic_hash(topic).0)
    }

    /// Whether a key is held for ``topic``.
    fn has_topic_key(&self, topic: &str) -> bool {
        self.lock().has_topic_key(topic)
    }

    /// Whether ``topic`` is this client's control topic.
    fn is_control_topic(&self, topic: &str) -> bool {
        self.lock().is_control_topic(topic)
    }

    /// The hashes of the topics a key is held for.
    fn topic_hashes<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.lock()
            .topics()
            .iter()
            .map(|t| PyBytes::new(py, &t.hash.0))
            .collect()
    }

    /// The ids of the devices whose public keys are held.
    fn pubkey_ids<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.lock()
            .pubkey_ids()
            .iter()
            .map(|id| PyBytes::new(py, &id.0))
            .collect()
    }

    /// Set the 32-byte key of ``topic`` (provisioning without C2). The
    /// previous key stays valid for the transition period, as with C2's
    /// SetTopicKey.
    fn set_topic_key(&self, py: Python<'_>, topic: &str, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = sym_key(key, "topic key")?;
        py.detach(|| self.lock().set_topic_key(topic, &key))
            .map_err(Failure::from)?;
        Ok(())
    }

    /// :meth:`set_topic_key` by the topic's 16-byte hash.
    fn set_topic_key_hash(
        &self,
        py: Python<'_>,
        topic_hash: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let hash = TopicHash(array::<16>(topic_hash, "topic hash")?);
        let key = sym_key(key, "topic key")?;
        py.detach(|| self.lock().set_topic_key_hashed(&hash, &key))
            .map_err(Failure::from)?;
        Ok(())
    }

    /// Set the signature public key of device ``id`` (16 bytes), as C2's
    /// SetPubKey does (public-key, post-quantum and hybrid suites).
    fn set_pubkey(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = id_arg(id, "id")?;
        let key = buf(key, "public key")?;
        let suite = self.lock().suite();
        let expected = suite.params().sig_public_key;
        if expected == 0 {
            return Err(Failure::new(
                "unsupported_operation",
                format!("a `{suite}` client holds no public keys"),
            )
            .into());
        }
        if key.len() != expected {
            return Err(key_length("public key", expected, key.len()).into());
        }
        py.detach(|| self.lock().set_pubkey(&id, &key))
            .map_err(Failure::from)?;
        Ok(())
    }

    /// Protect ``payload`` for ``topic``; returns the bytes to publish
    /// (``len(payload) + overhead_for(topic)`` bytes).
    fn protect<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        payload: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let payload = buf(payload, "payload")?;
        let out = py
            .detach(|| self.lock().protect(&payload, topic))
            .map_err(Failure::from)?;
        Ok(PyBytes::new(py, &out))
    }

    /// Unprotect ``data`` received on ``topic``: the plaintext
    /// (``bytes``), or, on the control topic, the :class:`Command` that was
    /// checked and applied. Raises an :class:`E4Error` subclass (e.g.
    /// :class:`NotAuthentic`, :class:`Replayed`, :class:`TopicKeyNotFound`)
    /// and changes nothing when ``data`` is refused.
    fn unprotect<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = buf(data, "data")?;
        let out = py
            .detach(|| self.lock().unprotect(&data, topic))
            .map_err(Failure::from)?;
        Ok(match out {
            Unprotected::Message(m) => {
                let m = Zeroizing::new(m);
                PyBytes::new(py, &m).into_any()
            }
            Unprotected::Command(c) => Bound::new(py, PyCommand::from(c))?.into_any(),
        })
    }

    fn __repr__(&self) -> String {
        let c = self.lock();
        format!(
            "Client(suite={:?}, id={}, provider={:?}, topics={})",
            c.suite().name(),
            c.id(),
            self.provider.name,
            c.topics().len()
        )
    }
}

// ---------------------------------------------------------------- functions

/// A suite as this build has it.
#[pyclass(module = "e4rs", name = "SuiteInfo", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PySuiteInfo {
    /// Short name: ``symmetric``, ``pubkey``, ``pq``, ``pq-draft``, ``hybrid``.
    #[pyo3(get)]
    name: String,
    /// The suite's wire code.
    #[pyo3(get)]
    code: u8,
    /// ``"e4-symmetric"``, ``"e4-public-key"`` or ``"kem"``.
    #[pyo3(get)]
    family: String,
    /// Bytes a protected message adds to its payload.
    #[pyo3(get)]
    message_overhead: usize,
    /// Bytes a protected command adds to its plaintext.
    #[pyo3(get)]
    command_overhead: usize,
    /// Signature length (0: none).
    #[pyo3(get)]
    signature_bytes: usize,
    /// Signature public key length (0: none).
    #[pyo3(get)]
    public_key_bytes: usize,
    /// KEM public key length (0: none).
    #[pyo3(get)]
    kem_public_key_bytes: usize,
    /// C2's public key as a device holds it (0: none).
    #[pyo3(get)]
    c2_public_key_bytes: usize,
    /// The providers compiled in that implement it, fastest first.
    #[pyo3(get)]
    providers: Vec<String>,
}

#[pymethods]
impl PySuiteInfo {
    fn __repr__(&self) -> String {
        format!(
            "SuiteInfo(name={:?}, family={:?}, message_overhead={}, providers={:?})",
            self.name, self.family, self.message_overhead, self.providers
        )
    }
}

/// The suites compiled into this build (those at least one provider
/// implements), in E4 order: symmetric, pubkey, pq, pq-draft, hybrid.
#[pyfunction]
fn suites() -> Vec<PySuiteInfo> {
    SuiteId::ALL
        .iter()
        .filter_map(|&s| {
            let providers: Vec<String> = e4_backends::providers()
                .iter()
                .filter(|p| p.supports(s))
                .map(|p| p.name.to_owned())
                .collect();
            if providers.is_empty() {
                return None;
            }
            let p = s.params();
            Some(PySuiteInfo {
                name: s.name().into(),
                code: s.code(),
                family: match p.family {
                    Family::E4Symmetric => "e4-symmetric",
                    Family::E4PublicKey => "e4-public-key",
                    Family::Kem => "kem",
                }
                .into(),
                message_overhead: s.message_overhead(),
                command_overhead: s.command_overhead(),
                signature_bytes: p.signature,
                public_key_bytes: p.sig_public_key,
                kem_public_key_bytes: p.kem_public_key,
                c2_public_key_bytes: p.c2_public_key,
                providers,
            })
        })
        .collect()
}

/// A crypto provider compiled into this build.
#[pyclass(module = "e4rs", name = "ProviderInfo", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyProviderInfo {
    /// ``pqclean``, ``libcrux``, ``rustcrypto`` or ``small``.
    #[pyo3(get)]
    name: String,
    /// The suites it implements.
    #[pyo3(get)]
    suites: Vec<String>,
    /// Whether clients use it when no provider is named.
    #[pyo3(get)]
    default: bool,
}

#[pymethods]
impl PyProviderInfo {
    fn __repr__(&self) -> String {
        format!(
            "ProviderInfo(name={:?}, suites={:?}, default={})",
            self.name,
            self.suites,
            if self.default { "True" } else { "False" }
        )
    }
}

/// The crypto providers compiled into this build, fastest (the default)
/// first.
#[pyfunction]
fn providers() -> Vec<PyProviderInfo> {
    let default = e4_backends::default_provider().name;
    e4_backends::providers()
        .iter()
        .map(|p| PyProviderInfo {
            name: p.name.into(),
            suites: SuiteId::ALL
                .iter()
                .filter(|s| p.supports(**s))
                .map(|s| s.name().into())
                .collect(),
            default: p.name == default,
        })
        .collect()
}

/// E4's 16-byte hash of a topic: ``SHA3-256(topic)[:16]``.
#[pyfunction]
fn topic_hash<'py>(py: Python<'py>, topic: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = match topic.cast::<PyString>() {
        Ok(s) => s.to_cow()?.as_bytes().to_vec(),
        Err(_) => buf(topic, "topic")?.into_owned(),
    };
    let h = TopicHash::of(e4_backends::default_provider().hash, &bytes);
    Ok(PyBytes::new(py, &h.0))
}

/// The 16-byte id of a device name: ``SHA3-256(name)[:16]`` (e4go's
/// ``HashIDAlias``).
#[pyfunction]
fn id_from_name<'py>(py: Python<'py>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = match name.cast::<PyString>() {
        Ok(s) => s.to_cow()?.as_bytes().to_vec(),
        Err(_) => buf(name, "name")?.into_owned(),
    };
    let id = Id::from_alias(e4_backends::default_provider().hash, &bytes);
    Ok(PyBytes::new(py, &id.0))
}

/// The control topic of a client id: ``"e4/" + id.hex()`` (ids of 1 to 64
/// bytes, as e4go's symmetric clients allow).
#[pyfunction]
fn control_topic(id: &Bound<'_, PyAny>) -> PyResult<String> {
    let b = buf(id, "id")?;
    let id = ClientId::from_slice(&b).ok_or_else(|| {
        Failure::new(
            "invalid_argument",
            format!("a client id has 1 to 64 bytes (got {})", b.len()),
        )
    })?;
    Ok(id.control_topic().as_str().to_owned())
}

/// The 32-byte symmetric key e4go derives from a password (Argon2i, empty
/// salt; the password has at least 16 bytes and is valid UTF-8).
#[pyfunction]
fn key_from_password<'py>(
    py: Python<'py>,
    password: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let pw = password_arg(password)?;
    let key = py
        .detach(|| e4_backends::password::symkey_from_password_bytes(&pw))
        .map_err(Failure::from)?;
    Ok(PyBytes::new(py, key.as_bytes()))
}

/// The 64-byte Ed25519 private key (``seed ‖ public``) e4go derives from a
/// password (the seed is Argon2i of the password).
#[pyfunction]
fn ed25519_from_password<'py>(
    py: Python<'py>,
    password: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let pw = password_arg(password)?;
    let seed = py
        .detach(|| e4_backends::password::ed25519_seed_from_password_bytes(&pw))
        .map_err(Failure::from)?;
    let public = e4_backends::ed25519::public_from_seed(&seed);
    let mut sk = Zeroizing::new([0u8; 64]);
    sk[..32].copy_from_slice(&seed[..]);
    sk[32..].copy_from_slice(&public);
    Ok(PyBytes::new(py, &sk[..]))
}

fn random_nonzero<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut k = Zeroizing::new([0u8; N]);
    loop {
        OsRng.fill(&mut k[..]);
        if !is_all_zero(&k[..]) {
            return k;
        }
    }
}

/// A random 32-byte key (client or topic key of the symmetric suite).
#[pyfunction]
fn generate_key(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &random_nonzero::<32>()[..])
}

/// A random 16-byte device id.
#[pyfunction]
fn generate_id(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &e4_client::config::random_id().0)
}

/// A new Ed25519 key pair: ``(private key (64 bytes, seed ‖ public),
/// public key (32 bytes))``, for :meth:`Client.pubkey`.
#[pyfunction]
fn generate_ed25519(py: Python<'_>) -> (Bound<'_, PyBytes>, Bound<'_, PyBytes>) {
    let seed = random_nonzero::<32>();
    let public = e4_backends::ed25519::public_from_seed(&seed);
    let mut sk = Zeroizing::new([0u8; 64]);
    sk[..32].copy_from_slice(&seed[..]);
    sk[32..].copy_from_slice(&public);
    (PyBytes::new(py, &sk[..]), PyBytes::new(py, &public))
}

/// The 32-byte public key of an Ed25519 private key (64 bytes, or the
/// 32-byte seed).
#[pyfunction]
fn ed25519_public_key<'py>(
    py: Python<'py>,
    private_key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sk = ed25519_secret(private_key, "Ed25519 private key")?;
    if sk.public() != e4_backends::ed25519::public_from_seed(sk.seed()) {
        return Err(Failure::from(ConfigError::Ed25519Mismatch).into());
    }
    Ok(PyBytes::new(py, &sk.public()))
}

/// A new X25519 key pair ``(private, public)`` (32 bytes each): C2's key
/// in the public-key suite (devices take the public half).
#[pyfunction]
#[pyo3(signature = (*, provider=None))]
fn generate_x25519<'py>(
    py: Python<'py>,
    provider: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let p = provider_named(provider)?;
    supported(p, SuiteId::PubKey)?;
    let x = p
        .suite(SuiteId::PubKey)
        .map_err(Failure::from)?
        .x25519()
        .map_err(Failure::from)?;
    let sk = random_nonzero::<32>();
    let pk = x.public_key(&sk);
    Ok((PyBytes::new(py, &sk[..]), PyBytes::new(py, &pk)))
}

/// A new signature key pair ``(private, public)`` of ``suite``: Ed25519
/// for ``pubkey``, ML-DSA-65 for ``pq``, Dilithium3 for ``pq-draft``,
/// Ed25519+ML-DSA-65 for ``hybrid``. In the post-quantum and hybrid suites
/// this is C2's key (devices take the public half as ``c2_public_key``).
#[pyfunction]
#[pyo3(signature = (suite, *, provider=None))]
fn generate_signing_keys<'py>(
    py: Python<'py>,
    suite: &str,
    provider: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let p = provider_named(provider)?;
    let s = suite_id(suite)?;
    supported(p, s)?;
    let sig = p.suite(s).and_then(|s| s.sig()).map_err(|_| {
        Failure::new(
            "unsupported_operation",
            format!("suite `{s}` has no signatures"),
        )
    })?;
    let (sk, pk) = py
        .detach(|| {
            let mut sk = Zeroizing::new(vec![0u8; sig.secret_key_len()]);
            let mut pk = vec![0u8; sig.public_key_len()];
            sig.generate(&mut OsRng, &mut sk, &mut pk)
                .map(|()| (sk, pk))
        })
        .map_err(Failure::from)?;
    Ok((PyBytes::new(py, &sk), PyBytes::new(py, &pk)))
}

/// New signature and KEM key pairs for a device of ``suite`` (``pq``,
/// ``pq-draft`` or ``hybrid``).
#[pyfunction]
#[pyo3(signature = (suite, *, provider=None))]
fn generate_kem_keys(py: Python<'_>, suite: &str, provider: Option<&str>) -> PyResult<PyKemKeys> {
    let p = provider_named(provider)?;
    let s = suite_id(suite)?;
    if !s.is_kem_suite() {
        return Err(Failure::new(
            "invalid_argument",
            format!("suite `{s}` has no KEM keys (pq, pq-draft or hybrid)"),
        )
        .into());
    }
    Ok(py.detach(|| generate_kem(p, s))?)
}

// ---------------------------------------------------------------- bench

/// Two clients of `suite` sharing a topic key (the receiver knows the
/// sender's public key), with the receiver's replay rejection off so the
/// same message can be opened repeatedly.
fn bench_pair(p: &'static CryptoProvider, suite: SuiteId) -> Res<(Inner, Inner)> {
    let clock = PyClock::new(None);
    let config = || -> Res<Config> {
        Ok(match suite {
            SuiteId::Symmetric => {
                Config::sym_id_and_key(None, SymKey::new(*random_nonzero::<32>()))
            }
            SuiteId::PubKey => {
                let seed = random_nonzero::<32>();
                let mut sk = [0u8; 64];
                sk[..32].copy_from_slice(&seed[..]);
                sk[32..].copy_from_slice(&e4_backends::ed25519::public_from_seed(&seed));
                Config::pub_id_and_key(None, Ed25519Secret::new(sk), *random_nonzero::<32>())
            }
            _ => {
                let sig = p.suite(suite)?.sig()?;
                let mut sk = vec![0u8; sig.secret_key_len()];
                let mut pk = vec![0u8; sig.public_key_len()];
                sig.generate(&mut OsRng, &mut sk, &mut pk)?;
                Config::kem_generate(suite, None, &pk)
            }
        })
    };
    let topic_key = SymKey::new(*random_nonzero::<32>());
    let mut sender = Inner::with_clock_and_provider(config()?, clock.clone(), p)?;
    let mut receiver = Inner::with_clock_and_provider(config()?, clock, p)?;
    sender.set_topic_key(BENCH_TOPIC, &topic_key)?;
    receiver.set_topic_key(BENCH_TOPIC, &topic_key)?;
    if let Some(pk) = sender.public_key() {
        receiver.set_pubkey(sender.id(), &pk)?;
    }
    receiver.set_replay_protection(false);
    Ok((sender, receiver))
}

const BENCH_TOPIC: &str = "e4rs/bench";

/// Time `f` until `min_time` has passed and it ran `min_iterations` times
/// (and at most `max_iterations`); the mean seconds per call.
fn time_loop(
    min_time: Duration,
    min_iterations: u64,
    max_iterations: u64,
    mut f: impl FnMut() -> Res<()>,
) -> Res<(f64, u64)> {
    // One call outside the timing: caches, lazy tables.
    f()?;
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        f()?;
        n += 1;
        let elapsed = start.elapsed();
        if (elapsed >= min_time && n >= min_iterations) || n >= max_iterations {
            return Ok((elapsed.as_secs_f64() / n as f64, n));
        }
    }
}

/// Measure protect and unprotect of one suite, provider and payload size
/// (the engine of :func:`e4rs.bench.compare`): returns a dict with
/// ``protect_s``, ``unprotect_s`` (mean seconds per call),
/// ``protect_iterations``, ``unprotect_iterations``, ``overhead_bytes``.
#[pyfunction]
#[pyo3(signature = (suite, provider, size, *, min_time=0.2, min_iterations=10, max_iterations=1_000_000))]
fn _measure(
    py: Python<'_>,
    suite: &str,
    provider: &str,
    size: usize,
    min_time: f64,
    min_iterations: u64,
    max_iterations: u64,
) -> PyResult<(f64, f64, u64, u64, usize)> {
    let p = provider_named(Some(provider))?;
    let s = suite_id(suite)?;
    supported(p, s)?;
    if !(min_time.is_finite() && min_time >= 0.0) {
        return Err(
            Failure::new("invalid_argument", "min_time must be a finite number >= 0").into(),
        );
    }
    let min_time = Duration::from_secs_f64(min_time);
    let max_iterations = max_iterations.max(1);
    let out = py.detach(move || -> Res<(f64, f64, u64, u64, usize)> {
        let (sender, mut receiver) = bench_pair(p, s)?;
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        let (protect_s, np) = time_loop(min_time, min_iterations, max_iterations, || {
            std::hint::black_box(sender.protect(std::hint::black_box(&payload), BENCH_TOPIC)?);
            Ok(())
        })?;
        let wire = sender.protect(&payload, BENCH_TOPIC)?;
        let (unprotect_s, nu) =
            time_loop(min_time, min_iterations, max_iterations, || match receiver
                .unprotect(std::hint::black_box(&wire), BENCH_TOPIC)?
            {
                Unprotected::Message(m) if m == payload => Ok(()),
                _ => Err(Failure::new(
                    "crypto_failure",
                    "benchmark round trip failed",
                )),
            })?;
        Ok((protect_s, unprotect_s, np, nu, wire.len() - payload.len()))
    })?;
    Ok(out)
}

// ---------------------------------------------------------------- module

/// Native part of ``e4rs``; import ``e4rs`` instead.
#[pymodule]
fn _e4rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyClient>()?;
    m.add_class::<PyCommand>()?;
    m.add_class::<PyKemKeys>()?;
    m.add_class::<PySuiteInfo>()?;
    m.add_class::<PyProviderInfo>()?;
    m.add_function(wrap_pyfunction!(suites, m)?)?;
    m.add_function(wrap_pyfunction!(providers, m)?)?;
    m.add_function(wrap_pyfunction!(topic_hash, m)?)?;
    m.add_function(wrap_pyfunction!(id_from_name, m)?)?;
    m.add_function(wrap_pyfunction!(control_topic, m)?)?;
    m.add_function(wrap_pyfunction!(key_from_password, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_from_password, m)?)?;
    m.add_function(wrap_pyfunction!(generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(generate_id, m)?)?;
    m.add_function(wrap_pyfunction!(generate_ed25519, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(generate_x25519, m)?)?;
    m.add_function(wrap_pyfunction!(generate_signing_keys, m)?)?;
    m.add_function(wrap_pyfunction!(generate_kem_keys, m)?)?;
    m.add_function(wrap_pyfunction!(_measure, m)?)?;
    m.add("DEFAULT_PROVIDER", e4_backends::default_provider().name)?;
    let all: Vec<&str> = SuiteId::ALL.iter().map(|s| s.name()).collect();
    m.add("ALL_SUITES", PyTuple::new(m.py(), all)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_the_system_clock_until_set() {
        let c = PyClock::new(None);
        assert_eq!(c.get(), None);
        let sys = SystemClock.now();
        assert!(c.now().abs_diff(sys) < 5);
        let shared = c.clone();
        c.set(Some(1_800_000_000));
        assert_eq!(shared.now(), 1_800_000_000);
        c.set(None);
        assert_eq!(shared.get(), None);
    }

    #[test]
    fn failures_carry_the_protocol_category() {
        for e in e4_proto::Error::ALL {
            assert_eq!(Failure::from(e).category, e.category());
            let client: e4_client::Error = e.into();
            assert_eq!(Failure::from(client).category, e.category());
        }
        let short = ConfigError::KeyLength {
            what: "key",
            expected: 32,
            got: 3,
        };
        assert_eq!(Failure::from(short).category, "invalid_key_length");
        let pw = ConfigError::PasswordTooShort { min: 16, got: 3 };
        assert_eq!(Failure::from(pw).category, "invalid_password");
        assert_eq!(
            Failure::from(ConfigError::ZeroKey("client key")).category,
            "invalid_argument"
        );
    }

    #[test]
    fn names_resolve() {
        assert_eq!(suite_id("pq").unwrap(), SuiteId::PostQuantum);
        assert_eq!(suite_id("rot13").unwrap_err().category, "unknown_suite");
        assert_eq!(
            provider(None).unwrap().name,
            e4_backends::default_provider().name
        );
        assert_eq!(
            provider(Some("openssl")).unwrap_err().category,
            "unknown_provider"
        );
        let small = provider(Some("small")).unwrap();
        assert_eq!(
            supported(small, SuiteId::PubKey).unwrap_err().category,
            "unsupported_suite"
        );
    }

    #[test]
    fn the_bench_pair_of_every_suite_and_provider_round_trips() {
        for p in e4_backends::providers() {
            for s in SuiteId::ALL.into_iter().filter(|s| p.supports(*s)) {
                let (sender, mut receiver) = bench_pair(p, s).unwrap();
                let wire = sender.protect(b"bench", BENCH_TOPIC).unwrap();
                assert_eq!(wire.len(), 5 + s.message_overhead());
                for _ in 0..2 {
                    match receiver.unprotect(&wire, BENCH_TOPIC).unwrap() {
                        Unprotected::Message(m) => assert_eq!(m, b"bench"),
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn kem_keys_have_the_suite_sizes() {
        let p = e4_backends::default_provider();
        for s in [SuiteId::PostQuantum, SuiteId::Hybrid] {
            let k = generate_kem(p, s).unwrap();
            assert_eq!(k.sig_public_key.len(), s.params().sig_public_key);
            assert_eq!(k.sig_sk.len(), s.params().sig_secret_key);
            assert_eq!(k.kem_public_key.len(), s.params().kem_public_key);
            assert_eq!(k.kem_sk.len(), s.params().kem_secret_key);
        }
    }
}
