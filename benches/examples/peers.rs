//! The e4-rs side of the e4go / libe4 comparison (`benches/peers/`, see its
//! README): the same operations as the Go and C harnesses, timed the same
//! way, printed one `RESULT` line per (operation, payload size).
//!
//! ```sh
//! cargo run --release -p e4-benches --example peers -- --secs 0.5 --sizes 16,64,1024,16384
//! ```
//!
//! Operations (`--ops` takes a comma-separated subset):
//!
//! * `sym-protect`, `sym-unprotect`: symmetric suite, topic given as a
//!   string (`Client::protect` / `Client::unprotect`; SHA3 of the topic name
//!   on every call, as `e4go.ProtectMessage` and `e4c_protect_message` do);
//! * `sym-protect-hashed`: `Client::protect_hashed` (topic hash kept by the
//!   caller; no peer equivalent);
//! * `sym-topiccipher-protect`: `e4_backends::fast::TopicCipher::protect`
//!   (topic hash and key schedule kept; no peer equivalent);
//! * `pk-protect`, `pk-unprotect`: public-key suite (Ed25519 signatures,
//!   X25519 for C2), topic as a string.
//!
//! The clients read the system clock (as e4go and libe4 do on every protect
//! and unprotect) and have replay rejection off (e4go and libe4 have none),
//! so one message can be unprotected again and again.

use e4_backends::fast::TopicCipher;
use e4_benches::{make_device, payload, Device, TOPIC};
use e4_proto::crypto::Rng;
use e4_proto::store::MemStore;
use e4_proto::time::SystemClock;
use e4_proto::{Client, CryptoProvider, SuiteId, SymKey, TopicHash};
use e4_testkit::TestRng;
use std::hint::black_box;
use std::time::Instant;

type PeerClient = Client<MemStore, SystemClock>;

const OPS: [&str; 6] = [
    "sym-protect",
    "sym-unprotect",
    "sym-protect-hashed",
    "sym-topiccipher-protect",
    "pk-protect",
    "pk-unprotect",
];

/// Run `f` for `secs` seconds after a calibration and a warm-up; returns
/// (calls, seconds). The same procedure as `measure` in the Go and C
/// harnesses: batches doubled until one takes at least 1 ms, a warm-up of
/// `secs / 5`, then whole batches until `secs` have elapsed.
fn measure(secs: f64, mut f: impl FnMut()) -> (u64, f64) {
    let mut batch: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed().as_secs_f64() >= 1e-3 {
            break;
        }
        batch *= 2;
    }
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < secs / 5.0 {
        for _ in 0..batch {
            f();
        }
    }
    let t = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..batch {
            f();
        }
        n += batch;
        let el = t.elapsed().as_secs_f64();
        if el >= secs {
            return (n, el);
        }
    }
}

fn report(op: &str, size: usize, (n, el): (u64, f64)) {
    println!(
        "RESULT\te4-rs\t{op}\t{size}\t{:.1}\t{n}\t{el:.4}",
        n as f64 / el
    );
}

/// Sender and receiver of `suite` sharing a key for [`TOPIC`] (the receiver
/// knows the sender's signature key), system clock, replay rejection off.
fn pair(p: &'static CryptoProvider, suite: SuiteId) -> (PeerClient, PeerClient) {
    let suite = p.suite(suite).expect("suite compiled in");
    let mut rng = TestRng::from_seed(b"e4-rs peers harness");
    let mut c2_sk = [0u8; 32];
    rng.fill(&mut c2_sk);
    let c2_pk = match suite.x25519() {
        Ok(x) => x.public_key(&c2_sk),
        Err(_) => [0u8; 32],
    };
    let tx = make_device(p, suite, &c2_pk, &[], "tx", &mut rng);
    let rx = make_device(p, suite, &c2_pk, &[], "rx", &mut rng);
    let client = |d: &Device| {
        let mut c = Client::new(
            p,
            suite.id,
            d.id,
            d.identity.clone(),
            MemStore::new(),
            SystemClock,
        )
        .unwrap();
        c.set_replay_protection(false);
        c
    };
    let (mut s, mut r) = (client(&tx), client(&rx));
    let mut key = [0u8; 32];
    rng.fill(&mut key);
    let topic = TopicHash::of(p.hash, TOPIC.as_bytes());
    s.set_topic_key(&topic, &SymKey::new(key)).unwrap();
    r.set_topic_key(&topic, &SymKey::new(key)).unwrap();
    if suite.sig.is_some() {
        r.set_pubkey(&tx.id, &tx.sig_pk).unwrap();
    }
    (s, r)
}

fn main() {
    let mut secs = 0.5f64;
    let mut sizes: Vec<usize> = vec![16, 64, 1024, 16384];
    let mut ops: Vec<String> = OPS.iter().map(|s| s.to_string()).collect();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--secs" => secs = val().parse().expect("--secs SECONDS"),
            "--sizes" => {
                sizes = val()
                    .split(',')
                    .map(|s| s.parse().expect("--sizes N,N,..."))
                    .collect()
            }
            "--ops" => ops = val().split(',').map(str::to_string).collect(),
            _ => panic!("usage: peers [--secs S] [--sizes N,N,..] [--ops OP,OP,..]"),
        }
    }
    let p = e4_backends::provider();
    println!(
        "# e4-rs {} provider={} secs={secs}",
        env!("CARGO_PKG_VERSION"),
        p.name
    );
    let want = |op: &str| ops.iter().any(|o| o == op);
    let (sym_tx, mut sym_rx) = pair(p, SuiteId::Symmetric);
    let (pk_tx, mut pk_rx) = pair(p, SuiteId::PubKey);
    let topic = TopicHash::of(p.hash, TOPIC.as_bytes());
    let mut tc = TopicCipher::new(p.hash, TOPIC);
    for &n in &sizes {
        let pt = payload(n);
        let mut out = vec![0u8; n + 256];
        let mut plain = vec![0u8; n + 256];
        // Self-check: every path round-trips before anything is timed.
        for (tx, rx) in [(&sym_tx, &mut sym_rx), (&pk_tx, &mut pk_rx)] {
            let len = tx.protect(TOPIC, &pt, &mut out).unwrap();
            let got = rx.unprotect(TOPIC, &out[..len], &mut plain).unwrap();
            assert_eq!(got, e4_proto::Unprotected::Message(n));
            assert_eq!(plain[..n], pt[..]);
        }
        let len = tc.protect(&sym_tx, &pt, &mut out).unwrap();
        assert_eq!(
            sym_rx.unprotect(TOPIC, &out[..len], &mut plain).unwrap(),
            e4_proto::Unprotected::Message(n)
        );

        if want("sym-protect") {
            report(
                "sym-protect",
                n,
                measure(secs, || {
                    black_box(sym_tx.protect(TOPIC, black_box(&pt), &mut out).unwrap());
                }),
            );
        }
        if want("sym-unprotect") {
            let len = sym_tx.protect(TOPIC, &pt, &mut out).unwrap();
            let msg = out[..len].to_vec();
            report(
                "sym-unprotect",
                n,
                measure(secs, || {
                    black_box(
                        sym_rx
                            .unprotect(TOPIC, black_box(&msg), &mut plain)
                            .unwrap(),
                    );
                }),
            );
        }
        if want("sym-protect-hashed") {
            report(
                "sym-protect-hashed",
                n,
                measure(secs, || {
                    black_box(
                        sym_tx
                            .protect_hashed(&topic, black_box(&pt), &mut out)
                            .unwrap(),
                    );
                }),
            );
        }
        if want("sym-topiccipher-protect") {
            report(
                "sym-topiccipher-protect",
                n,
                measure(secs, || {
                    black_box(tc.protect(&sym_tx, black_box(&pt), &mut out).unwrap());
                }),
            );
        }
        if want("pk-protect") {
            report(
                "pk-protect",
                n,
                measure(secs, || {
                    black_box(pk_tx.protect(TOPIC, black_box(&pt), &mut out).unwrap());
                }),
            );
        }
        if want("pk-unprotect") {
            let len = pk_tx.protect(TOPIC, &pt, &mut out).unwrap();
            let msg = out[..len].to_vec();
            report(
                "pk-unprotect",
                n,
                measure(secs, || {
                    black_box(pk_rx.unprotect(TOPIC, black_box(&msg), &mut plain).unwrap());
                }),
            );
        }
    }
}
