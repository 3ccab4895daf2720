//! Every provider compiled in × every suite it offers: topic messages
//! (protect, unprotect) at a few sizes, commands (C2 seals a SetTopicKey,
//! the device processes it), a device's key generation, and, for the
//! suites that sign or encapsulate, the provider's primitives alone (sign
//! and verify a message of the size the suite signs for a 64-byte payload,
//! KEM encapsulation and decapsulation), so that the suite's cost can be
//! set against its primitive's.
//!
//! Benchmark ids are `<provider>/<suite>` (and the payload size for
//! messages); `python3 benches/providers.py` turns them into
//! benches/results/providers.md and providers.png.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_backends::rng::OsRng;
use e4_benches::{make_device, payload, Fixture};
use e4_proto::command::Command;
use e4_proto::{CryptoProvider, Identity, TopicHash};
use e4_testkit::TestRng;
use std::hint::black_box;

/// Payload sizes of the message benchmarks (a sensor reading, a small
/// document, the 16 KiB of the throughput figures).
const SIZES: [usize; 3] = [64, 1024, 16384];

fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for p in e4_backends::providers() {
        for s in p.suites {
            out.push(Fixture::with_provider(p, s.id));
        }
    }
    out
}

fn id(f: &Fixture) -> String {
    format!("{}/{}", f.provider.name, f.suite.id.name())
}

/// Distinct payloads cycled through by the message benchmarks (and the
/// bytes the suite signs for each, by the primitive benchmarks): ML-DSA's
/// and Dilithium's signing time depends on the message (rejection
/// sampling; the draft Dilithium signs deterministically, so a message
/// always takes the same number of rounds), so suite and primitive are
/// averaged over the same messages, signed with the same key, and over
/// enough of them (256 up to 1 KiB: the mean number of rounds over 32
/// messages varied by ±15 % from one key to the next).
fn variants(n: usize) -> usize {
    if n <= 1024 {
        256
    } else {
        32
    }
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..variants(n))
        .map(|i| {
            let mut p = payload(n);
            p[..2].copy_from_slice(&(i as u16).to_le_bytes());
            p
        })
        .collect()
}

/// The sender's messages carrying [`payloads`]`(n)`.
fn messages_of(f: &Fixture, n: usize) -> Vec<Vec<u8>> {
    payloads(n)
        .iter()
        .map(|pt| {
            let mut out = vec![0u8; n + f.sender.overhead()];
            let len = f.sender.protect_hashed(&f.topic, pt, &mut out).unwrap();
            out.truncate(len);
            out
        })
        .collect()
}

fn messages(c: &mut Criterion) {
    let mut fixtures = fixtures();
    let mut g = c.benchmark_group("provider_protect");
    g.throughput(Throughput::Elements(1));
    for f in &fixtures {
        for n in SIZES {
            let pts = payloads(n);
            let mut out = vec![0u8; n + f.sender.overhead()];
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new(id(f), n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) % pts.len();
                    f.sender
                        .protect_hashed(&f.topic, black_box(&pts[i]), &mut out)
                        .unwrap()
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("provider_unprotect");
    g.throughput(Throughput::Elements(1));
    for f in &mut fixtures {
        for n in SIZES {
            let msgs = messages_of(f, n);
            let mut out = vec![0u8; msgs[0].len()];
            let name = id(f);
            let topic = f.topic;
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) % msgs.len();
                    f.receiver
                        .unprotect_hashed(&topic, black_box(&msgs[i]), &mut out)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
    primitives(c, &fixtures);
}

fn commands(c: &mut Criterion) {
    let mut fixtures = fixtures();
    let key = [0x42u8; 32];
    let cmd = Command::SetTopicKey {
        key: &key,
        topic: TopicHash([7; 16]),
    }
    .to_vec();
    let mut g = c.benchmark_group("provider_command_seal");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in &mut fixtures {
        let name = id(f);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| f.seal_command(black_box(&cmd)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("provider_command_process");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in &mut fixtures {
        let protected = f.seal_command(&cmd);
        let mut scratch = vec![0u8; protected.len()];
        let name = id(f);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                f.receiver
                    .process_command(black_box(&protected), &mut scratch)
                    .unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("provider_keygen");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in &fixtures {
        let (x, sig) = f.c2_public();
        let (p, suite): (&CryptoProvider, _) = (f.provider, f.suite);
        g.bench_function(BenchmarkId::from_parameter(id(f)), |b| {
            b.iter(|| black_box(make_device(p, suite, x, sig, "bench", &mut OsRng)))
        });
    }
    g.finish();
}

/// The primitives under the suites: what protect's signature and
/// unprotect's verification cost alone, and the KEM of commands.
///
/// Run on the fixtures of the message benchmarks: the same keys (PQClean
/// generates its keys from the OS, whatever seed the fixture has).
fn primitives(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("provider_primitive");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in fixtures {
        let mut rng = TestRng::from_seed(b"primitives");
        let name = id(f);
        if let Some(sig) = f.suite.sig {
            // Exactly what protect signs for the 64-byte payloads (the
            // whole message but its signature), with the sender's key.
            let signed: Vec<Vec<u8>> = messages_of(f, 64)
                .into_iter()
                .map(|mut m| {
                    m.truncate(m.len() - sig.signature_len());
                    m
                })
                .collect();
            let (sk, pk) = match f.sender.identity() {
                Identity::PubKey { signing, .. } => {
                    (signing.as_bytes().to_vec(), signing.public().to_vec())
                }
                Identity::Kem(k) => (k.sig_sk.as_bytes().to_vec(), k.sig_pk.clone()),
                Identity::Symmetric(_) => unreachable!("the symmetric suite signs nothing"),
            };
            let mut s = vec![0u8; sig.signature_len()];
            let mut i = 0;
            g.bench_function(BenchmarkId::new(&name, "sign"), |b| {
                b.iter(|| {
                    i = (i + 1) % signed.len();
                    sig.sign(&sk, black_box(&signed[i]), &mut s).unwrap()
                })
            });
            let sigs: Vec<Vec<u8>> = signed
                .iter()
                .map(|m| {
                    let mut s = vec![0u8; sig.signature_len()];
                    sig.sign(&sk, m, &mut s).unwrap();
                    s
                })
                .collect();
            g.bench_function(BenchmarkId::new(&name, "verify"), |b| {
                b.iter(|| {
                    i = (i + 1) % signed.len();
                    sig.verify(&pk, black_box(&signed[i]), &sigs[i]).unwrap()
                })
            });
        }
        if let Some(kem) = f.suite.kem {
            let mut sk = vec![0u8; kem.secret_key_len()];
            let mut pk = vec![0u8; kem.public_key_len()];
            kem.generate(&mut rng, &mut sk, &mut pk).unwrap();
            let mut ct = vec![0u8; kem.ciphertext_len()];
            g.bench_function(BenchmarkId::new(&name, "encapsulate"), |b| {
                b.iter(|| kem.encapsulate(&mut rng, black_box(&pk), &mut ct).unwrap())
            });
            kem.encapsulate(&mut rng, &pk, &mut ct).unwrap();
            g.bench_function(BenchmarkId::new(&name, "decapsulate"), |b| {
                b.iter(|| kem.decapsulate(&sk, black_box(&ct)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, messages, commands);
criterion_main!(benches);
