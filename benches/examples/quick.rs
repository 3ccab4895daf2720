//! A noise-robust quick look at the symmetric hot paths: the minimum over
//! many short timed runs (preemption only ever adds time), printed as
//! messages per second. `cargo run --release -p e4-benches --example quick`.

use e4_backends::base::{AesSiv, PreparedSiv};
use e4_backends::fast::TopicCipher;
use e4_benches::{before::AesSivCrate, payload, Fixture, BATCH, SIZES, TOPIC};
use e4_proto::crypto::{Siv, SivItem};
use e4_proto::store::Store;
use e4_proto::{SuiteId, SymKey};
use std::hint::black_box;
use std::time::Instant;

/// Minimum time per call of `f`, in nanoseconds.
fn min_ns(mut f: impl FnMut()) -> f64 {
    let mut inner = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..inner {
            f();
        }
        if t.elapsed().as_micros() >= 20 {
            break;
        }
        inner *= 2;
    }
    let mut best = f64::MAX;
    let end = Instant::now() + std::time::Duration::from_millis(300);
    while Instant::now() < end {
        let t = Instant::now();
        for _ in 0..inner {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / inner as f64);
    }
    best
}

fn row(name: &str, n: usize, per_call_msgs: usize, ns: f64) {
    let mps = per_call_msgs as f64 * 1e9 / ns;
    println!(
        "{name:<28} {n:>6} B  {:>9.1} ns/msg  {:>8.3} M msg/s  {:>8.1} MB/s",
        ns / per_call_msgs as f64,
        mps / 1e6,
        mps * n as f64 / 1e6
    );
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let key = SymKey::new([0x5a; 32]);
    let ad = [1u8; 8];
    let prepared = PreparedSiv::new(&key);
    let mut f = Fixture::new(e4_backends::provider().suite(SuiteId::Symmetric).unwrap());
    let mut tc = TopicCipher::new(e4_backends::provider().hash, TOPIC);
    if "setup".contains(filter.as_str()) {
        use aes::cipher::KeyInit;
        let k = aes::cipher::generic_array::GenericArray::from([7u8; 32]);
        println!(
            "setup Aes256Enc::new     {:.1} ns",
            min_ns(|| {
                black_box(aes::Aes256Enc::new(black_box(&k)));
            })
        );
        println!(
            "setup PreparedSiv::new   {:.1} ns",
            min_ns(|| {
                black_box(PreparedSiv::new(black_box(&key)));
            })
        );
        println!(
            "setup aes-siv 0.7 new    {:.1} ns",
            min_ns(|| {
                black_box(e4_benches::before::cipher(black_box(&key)));
            })
        );
    }
    for n in SIZES {
        let mut buf = payload(n);
        let pt = payload(n);
        let mut out = vec![0u8; BATCH * (n + 24)];
        let run = |name: &str, msgs: usize, g: &mut dyn FnMut()| {
            if name.contains(filter.as_str()) {
                row(name, n, msgs, min_ns(g));
            }
        };
        run("siv aes-siv-0.7", 1, &mut || {
            black_box(AesSivCrate.seal(&key, &ad, black_box(&mut buf)));
        });
        run("siv AesSiv", 1, &mut || {
            black_box(AesSiv.seal(&key, &ad, black_box(&mut buf)));
        });
        run("siv PreparedSiv", 1, &mut || {
            black_box(prepared.seal_prepared(&ad, black_box(&mut buf)));
        });
        let mut bufs = vec![payload(n); BATCH];
        run("siv PreparedSiv seal_many", BATCH, &mut || {
            let mut items: Vec<SivItem<'_>> =
                bufs.iter_mut().map(|b| SivItem::new(&ad, b)).collect();
            prepared.seal_many_prepared(black_box(&mut items));
        });
        let tag = prepared.seal_prepared(&ad, &mut buf);
        let ct = buf.clone();
        run("siv open PreparedSiv", 1, &mut || {
            buf.copy_from_slice(&ct);
            black_box(prepared.open_prepared(&ad, &tag, black_box(&mut buf))).ok();
        });
        run("client protect (name)", 1, &mut || {
            black_box(f.sender.protect(TOPIC, black_box(&pt), &mut out).unwrap());
        });
        run("client protect_hashed", 1, &mut || {
            black_box(
                f.sender
                    .protect_hashed(&f.topic, black_box(&pt), &mut out)
                    .unwrap(),
            );
        });
        run("client protect aes-siv-0.7", 1, &mut || {
            black_box(
                f.sender
                    .protect_hashed_with(&AesSivCrate, &f.topic, black_box(&pt), &mut out)
                    .unwrap(),
            );
        });
        run("TopicCipher protect", 1, &mut || {
            black_box(tc.protect(&f.sender, black_box(&pt), &mut out).unwrap());
        });
        let refs: Vec<&[u8]> = vec![&pt[..]; BATCH];
        run("client protect_batch", BATCH, &mut || {
            black_box(
                f.sender
                    .protect_batch(&f.topic, black_box(&refs), &mut out)
                    .unwrap(),
            );
        });
        run("TopicCipher protect_batch", BATCH, &mut || {
            black_box(
                tc.protect_batch(&f.sender, black_box(&refs), &mut out)
                    .unwrap(),
            );
        });
        let msg = f.message(n);
        let mut plain = vec![0u8; msg.len()];
        let topic = f.topic;
        let (mtag, mct) = (msg[8..24].try_into().unwrap(), &msg[24..]);
        let mad: [u8; 8] = msg[..8].try_into().unwrap();
        let tp = PreparedSiv::new(&match f.sender.store().topic(&topic) {
            Some(e) => e.key.clone(),
            None => unreachable!(),
        });
        run("unprotect-like raw open", 1, &mut || {
            plain[..n].copy_from_slice(mct);
            black_box(tp.open_prepared(&mad, mtag, black_box(&mut plain[..n]))).unwrap();
        });
        let mut plain2 = vec![0u8; n + 4096 + 64];
        run("unprotect-like raw open, other buf", 1, &mut || {
            plain2[64..64 + n].copy_from_slice(mct);
            black_box(tp.open_prepared(&mad, mtag, black_box(&mut plain2[64..64 + n]))).unwrap();
        });
        run("unprotect-like raw open_to (no copy)", 1, &mut || {
            black_box(tp.open_to(&tp.key().clone(), &mad, mtag, mct, &mut plain[..n])).unwrap();
        });
        run("protect-like raw seal_to (no copy)", 1, &mut || {
            black_box(tp.seal_to(tp.key(), &mad, &pt, &mut plain[..n])).unwrap();
        });
        run("client unprotect_hashed", 1, &mut || {
            black_box(
                f.receiver
                    .unprotect_hashed(&topic, black_box(&msg), &mut plain)
                    .unwrap(),
            );
        });
        run("TopicCipher unprotect", 1, &mut || {
            black_box(
                tc.unprotect(&mut f.receiver, black_box(&msg), &mut plain)
                    .unwrap(),
            );
        });
    }
}
