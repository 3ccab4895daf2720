//! Per-suite costs for the demo's table: message overhead and the time to
//! protect and unprotect a 64-byte payload, measured in process with the
//! same e4-client code and backends the devices run (median of 5 rounds of
//! `ITERS` operations each, replay rejection off so that the same message
//! can be opened repeatedly).

use e4_client::{Client, Config, Unprotected};
use e4_proto::keys::Ed25519Secret;
use e4_proto::{SuiteId, SymKey};
use std::time::{Duration, Instant};

/// Operations per round.
pub const ITERS: u32 = 200;
/// Payload size.
pub const PAYLOAD: usize = 64;

/// What one suite costs.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Bytes added to each message.
    pub overhead: usize,
    /// Time to protect one payload.
    pub protect: Duration,
    /// Time to unprotect one message.
    pub unprotect: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Measure `suite`'s message format.
pub fn measure(suite: SuiteId) -> anyhow::Result<Cost> {
    let mut seed = [0u8; 32];
    e4_proto::crypto::Rng::fill(&mut e4_backends::rng::OsRng, &mut seed);
    let config = match suite {
        SuiteId::Symmetric => Config::sym_id_and_key(None, SymKey::new(seed)),
        SuiteId::PubKey => {
            let s = e4_backends::provider().suite(suite)?;
            let (sk, _) = keypair(suite)?;
            let sk: [u8; 64] = sk
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("Ed25519 secret key length"))?;
            let c2_public = s.x25519()?.public_key(&seed);
            Config::pub_id_and_key(None, Ed25519Secret::new(sk), c2_public)
        }
        s => Config::kem_generate(s, None, &keypair(s)?.1),
    };
    let mut c = Client::new(config)?;
    c.set_replay_protection(false);
    let topic = "demo/measure";
    c.set_topic_key(topic, &SymKey::new([7u8; 32]))?;
    if let Some(pk) = c.public_key() {
        let id = *c.id();
        c.set_pubkey(&id, &pk)?;
    }
    let payload = [0x5au8; PAYLOAD];
    let msg = c.protect(&payload, topic)?;
    let overhead = msg.len() - PAYLOAD;
    let mut p = Vec::new();
    let mut u = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..ITERS {
            std::hint::black_box(c.protect(&payload, topic)?);
        }
        p.push(t.elapsed() / ITERS);
        let t = Instant::now();
        for _ in 0..ITERS {
            match c.unprotect(&msg, topic)? {
                Unprotected::Message(m) => {
                    std::hint::black_box(m);
                }
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
        u.push(t.elapsed() / ITERS);
    }
    Ok(Cost {
        overhead,
        protect: median(p),
        unprotect: median(u),
    })
}

/// A fresh signature key pair of `suite`'s scheme: (secret, public). For
/// kem suites the public key stands in for C2's (the measurement never
/// opens a command).
fn keypair(suite: SuiteId) -> anyhow::Result<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>)> {
    let s = e4_backends::provider().suite(suite)?;
    let sig = s.sig()?;
    let mut sk = zeroize::Zeroizing::new(vec![0u8; sig.secret_key_len()]);
    let mut pk = vec![0u8; sig.public_key_len()];
    sig.generate(&mut e4_backends::rng::OsRng, &mut sk, &mut pk)?;
    Ok((sk, pk))
}
