//! Key generation: a device's whole key material in each suite (symmetric:
//! a random 32-byte key; pubkey: Ed25519; kem suites: signature and KEM key
//! pairs), from the operating system's generator.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_backends::rng::OsRng;
use e4_benches::{make_device, suites, Fixture};
use std::hint::black_box;

fn keygen(c: &mut Criterion) {
    let p = e4_backends::provider();
    let mut g = c.benchmark_group("keygen");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for suite in suites() {
        let f = Fixture::new(suite);
        let (x, sig) = f.c2_public();
        g.bench_function(BenchmarkId::from_parameter(suite.id.name()), |b| {
            b.iter(|| black_box(make_device(p, suite, x, sig, "bench", &mut OsRng)))
        });
    }
    g.finish();
}

criterion_group!(benches, keygen);
criterion_main!(benches);
