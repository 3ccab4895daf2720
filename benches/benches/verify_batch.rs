//! Ed25519 verification for a gateway that hears many signed devices: 64
//! messages of 64 bytes from 64 different keys, verified one by one as the
//! public-key suite does (key decompressed per message, or kept decoded as
//! `e4_proto::prepared` does), against ed25519-dalek's batch verification.
//!
//! Batch verification answers for the whole batch (one forged message
//! fails it, and the gateway then has to find which one by verifying one
//! by one) and draws random scalars; e4-rs does not use it. This measures
//! what it would save.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::hint::black_box;

const N: usize = 64;

fn verify(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..N)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..N).map(|i| vec![i as u8; 64]).collect();
    let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let pks: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
    let decoded: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();

    let mut g = c.benchmark_group("ed25519_verify_64");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("one_by_one_decompress", N), |b| {
        b.iter(|| {
            for i in 0..N {
                let vk = VerifyingKey::from_bytes(black_box(&pks[i])).unwrap();
                vk.verify(&msgs[i], &sigs[i]).unwrap();
            }
        })
    });
    g.bench_function(BenchmarkId::new("one_by_one_kept", N), |b| {
        b.iter(|| {
            for i in 0..N {
                black_box(&decoded[i]).verify(&msgs[i], &sigs[i]).unwrap();
            }
        })
    });
    g.bench_function(BenchmarkId::new("batch", N), |b| {
        b.iter(|| ed25519_dalek::verify_batch(black_box(&refs), &sigs, &decoded).unwrap())
    });
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
