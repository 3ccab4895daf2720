//! Raw AES-SIV as E4 uses it (key `K ‖ K`, 8-byte associated data), below
//! the client: the previous implementation (`aes-siv` 0.7) against
//! `e4_backends::base`, per call and per batch; and SHA3-256 of a topic.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_backends::base::{AesSiv, PreparedSiv, Sha3Rc};
use e4_benches::{before, payload, BATCH, SIZES, TOPIC};
use e4_proto::crypto::{Sha3, Siv, SivItem};
use e4_proto::SymKey;
use std::hint::black_box;

const AD: [u8; 8] = 1_800_000_000u64.to_le_bytes();

fn seal(c: &mut Criterion) {
    let key = SymKey::new([0x5a; 32]);
    let prepared = PreparedSiv::new(&key);
    let mut g = c.benchmark_group("siv_seal");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut buf = payload(n);
        g.bench_with_input(BenchmarkId::new("aes-siv-0.7", n), &n, |b, _| {
            b.iter(|| before::AesSivCrate.seal(&key, &AD, black_box(&mut buf)))
        });
        let mut reused = before::cipher(&key);
        g.bench_with_input(BenchmarkId::new("aes-siv-0.7-reused", n), &n, |b, _| {
            b.iter(|| {
                reused
                    .encrypt_in_place_detached([&AD[..]], black_box(&mut buf))
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("AesSiv", n), &n, |b, _| {
            b.iter(|| AesSiv.seal(&key, &AD, black_box(&mut buf)))
        });
        g.bench_with_input(BenchmarkId::new("PreparedSiv", n), &n, |b, _| {
            b.iter(|| prepared.seal_prepared(&AD, black_box(&mut buf)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("siv_seal_many");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        let mut bufs = vec![payload(n); BATCH];
        g.bench_with_input(BenchmarkId::new("PreparedSiv", n), &n, |b, _| {
            b.iter(|| {
                let mut items: Vec<SivItem<'_>> =
                    bufs.iter_mut().map(|b| SivItem::new(&AD, b)).collect();
                prepared.seal_many_prepared(black_box(&mut items));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("siv_open");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let pt = payload(n);
        let mut ct = pt.clone();
        let tag = AesSiv.seal(&key, &AD, &mut ct);
        let mut buf = ct.clone();
        g.bench_with_input(BenchmarkId::new("aes-siv-0.7", n), &n, |b, _| {
            b.iter(|| {
                buf.copy_from_slice(&ct);
                before::AesSivCrate.open(&key, &AD, &tag, black_box(&mut buf))
            })
        });
        g.bench_with_input(BenchmarkId::new("AesSiv", n), &n, |b, _| {
            b.iter(|| {
                buf.copy_from_slice(&ct);
                AesSiv.open(&key, &AD, &tag, black_box(&mut buf))
            })
        });
        g.bench_with_input(BenchmarkId::new("PreparedSiv", n), &n, |b, _| {
            b.iter(|| {
                buf.copy_from_slice(&ct);
                prepared.open_prepared(&AD, &tag, black_box(&mut buf))
            })
        });
        // What a client does: decrypt from the message into the output
        // buffer, one pass (Siv::open_to), no copy first.
        g.bench_with_input(BenchmarkId::new("PreparedSiv_open_to", n), &n, |b, _| {
            b.iter(|| prepared.open_to(&key, &AD, &tag, black_box(&ct), &mut buf))
        });
    }
    g.finish();
}

fn setup_costs(c: &mut Criterion) {
    let key = SymKey::new([0x5a; 32]);
    let mut g = c.benchmark_group("per_call_setup");
    g.bench_function("sha3_topic_hash", |b| {
        b.iter(|| Sha3Rc.sha3_256(&[black_box(TOPIC.as_bytes())]))
    });
    g.bench_function("aes-siv-0.7_new", |b| {
        b.iter(|| before::cipher(black_box(&key)))
    });
    g.bench_function("PreparedSiv_new", |b| {
        b.iter(|| PreparedSiv::new(black_box(&key)))
    });
    g.finish();
}

criterion_group!(benches, seal, setup_costs);
criterion_main!(benches);
