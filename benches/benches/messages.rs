//! Topic messages: protect and unprotect for every suite compiled in, at
//! every size of `SIZES`; then the symmetric suite's hot paths (topic name
//! hashed per call, prepared per-topic key, batches, the previous AES-SIV).
//!
//! Every benchmark reports `Throughput::Elements(messages per iteration)`,
//! so criterion's "thrpt" is messages per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_backends::fast::TopicCipher;
use e4_benches::{before::AesSivCrate, payload, suites, Fixture, BATCH, SIZES, TOPIC};
use e4_proto::SuiteId;
use std::hint::black_box;

fn per_suite(c: &mut Criterion) {
    let fixtures: Vec<Fixture> = suites().map(Fixture::new).collect();
    let mut g = c.benchmark_group("protect");
    g.throughput(Throughput::Elements(1));
    for f in &fixtures {
        for n in SIZES {
            let pt = payload(n);
            let mut out = vec![0u8; n + f.sender.overhead()];
            g.bench_with_input(BenchmarkId::new(f.name(), n), &n, |b, _| {
                b.iter(|| {
                    f.sender
                        .protect_hashed(&f.topic, black_box(&pt), &mut out)
                        .unwrap()
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("unprotect");
    g.throughput(Throughput::Elements(1));
    for mut f in fixtures {
        for n in SIZES {
            let msg = f.message(n);
            let mut out = vec![0u8; msg.len()];
            let name = f.name();
            let topic = f.topic;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    f.receiver
                        .unprotect_hashed(&topic, black_box(&msg), &mut out)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

fn symmetric_paths(c: &mut Criterion) {
    if !suites().any(|s| s.id == SuiteId::Symmetric) {
        return;
    }
    let mut f = Fixture::new(e4_backends::provider().suite(SuiteId::Symmetric).unwrap());
    let hash = e4_backends::provider().hash;

    // The plain API: the topic name is hashed (SHA3-256) on every call.
    let mut g = c.benchmark_group("protect_topic_name");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let pt = payload(n);
        let mut out = vec![0u8; n + 24];
        g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
            b.iter(|| f.sender.protect(TOPIC, black_box(&pt), &mut out).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("unprotect_topic_name");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let msg = f.message(n);
        let mut out = vec![0u8; msg.len()];
        g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
            b.iter(|| {
                f.receiver
                    .unprotect(TOPIC, black_box(&msg), &mut out)
                    .unwrap()
            })
        });
    }
    g.finish();

    // Before: the client's path with aes-siv 0.7 as AES-SIV.
    let mut g = c.benchmark_group("protect_aes_siv_0_7");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let pt = payload(n);
        let mut out = vec![0u8; n + 24];
        g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
            b.iter(|| {
                f.sender
                    .protect_hashed_with(&AesSivCrate, &f.topic, black_box(&pt), &mut out)
                    .unwrap()
            })
        });
    }
    g.finish();

    // The per-topic hot path: topic hash and key schedule kept.
    let mut tc = TopicCipher::new(hash, TOPIC);
    let mut g = c.benchmark_group("protect_topic_cipher");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let pt = payload(n);
        let mut out = vec![0u8; n + 24];
        g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
            b.iter(|| tc.protect(&f.sender, black_box(&pt), &mut out).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("unprotect_topic_cipher");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let msg = f.message(n);
        let mut out = vec![0u8; msg.len()];
        g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
            b.iter(|| {
                tc.unprotect(&mut f.receiver, black_box(&msg), &mut out)
                    .unwrap()
            })
        });
    }
    g.finish();

    // Batches of BATCH messages: Client::protect_batch (key prepared once
    // per batch) and TopicCipher::protect_batch (prepared once).
    for (group, cached) in [
        ("protect_batch", false),
        ("protect_batch_topic_cipher", true),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(BATCH as u64));
        for n in SIZES {
            let pt = payload(n);
            let refs: Vec<&[u8]> = vec![&pt[..]; BATCH];
            let mut out = vec![0u8; BATCH * (n + 24)];
            g.bench_with_input(BenchmarkId::new("symmetric", n), &n, |b, _| {
                b.iter(|| {
                    if cached {
                        tc.protect_batch(&f.sender, black_box(&refs), &mut out)
                    } else {
                        f.sender.protect_batch(&f.topic, black_box(&refs), &mut out)
                    }
                    .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, per_suite, symmetric_paths);
criterion_main!(benches);
