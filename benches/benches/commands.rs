//! Commands: C2 protecting a SetTopicKey for a device, and the device
//! checking, decrypting and applying it, for every suite compiled in.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_benches::{suites, Fixture};
use e4_proto::command::Command;
use e4_proto::TopicHash;
use std::hint::black_box;

fn commands(c: &mut Criterion) {
    let mut fixtures: Vec<Fixture> = suites().map(Fixture::new).collect();
    let key = [0x42u8; 32];
    let cmd = Command::SetTopicKey {
        key: &key,
        topic: TopicHash([7; 16]),
    }
    .to_vec();

    let mut g = c.benchmark_group("command_seal");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in &mut fixtures {
        let name = f.name();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| f.seal_command(black_box(&cmd)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("command_process");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for f in &mut fixtures {
        let protected = f.seal_command(&cmd);
        let mut scratch = vec![0u8; protected.len()];
        let name = f.name();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                f.receiver
                    .process_command(black_box(&protected), &mut scratch)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, commands);
criterion_main!(benches);
