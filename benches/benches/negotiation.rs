//! Suite negotiation: one complete in-field upgrade, from the device's
//! Announce (fresh keys for the offered suite, authenticated with its
//! current material) through C2's verification, choice and SetSuite command,
//! to the device's acceptance and C2's check of the Confirm.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use e4_benches::{Fixture, NOW};
use e4_proto::negotiation::{
    answer, choose, verify_announce, verify_confirm, Decision, DeviceMaterial, Negotiator, Policy,
    Ranking,
};
use e4_proto::SuiteId;
use e4_proto::SuiteSet;
use e4_testkit::TestRng;

fn upgrade(c: &mut Criterion) {
    let p = e4_backends::provider();
    let mut g = c.benchmark_group("negotiation_upgrade");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    let paths = [
        (SuiteId::Symmetric, SuiteId::PostQuantum),
        (SuiteId::Symmetric, SuiteId::Hybrid),
        (SuiteId::PubKey, SuiteId::PostQuantum),
    ];
    for (from, to) in paths {
        let (Ok(from_suite), Ok(to_suite)) = (p.suite(from), p.suite(to)) else {
            continue;
        };
        let mut f = Fixture::new(from_suite);
        let mut rng = TestRng::from_seed(b"negotiation bench");
        let sig = to_suite.sig().expect("kem suites sign");
        let (mut c2_sk, mut c2_pk) = (vec![0; sig.secret_key_len()], vec![0; sig.public_key_len()]);
        sig.generate(&mut rng, &mut c2_sk, &mut c2_pk)
            .expect("C2 key");
        g.bench_function(BenchmarkId::from_parameter(format!("{from}->{to}")), |b| {
            b.iter(|| {
                let dev = &f.receiver;
                let mut n =
                    Negotiator::for_client(dev, SuiteSet::of(&[from, to]), Ranking::default())
                        .expect("negotiator");
                let ann = n.announce(dev, &mut rng).expect("announce");
                let material = DeviceMaterial::of_identity(dev.identity());
                let a = verify_announce(p, &ann, dev.id(), from, &material, None, NOW)
                    .expect("verify announce");
                let decision = choose(&Policy::default(), &a.offer(), SuiteSet::compiled_in(p));
                assert_eq!(decision, Decision::Upgrade(to));
                let (set, pending) = answer(p, &a, to, &c2_pk, &mut rng).expect("answer");
                let cmd = f.seal_command(set.encode().as_bytes());
                let accepted = n.accept(&f.receiver, &cmd).expect("accept");
                verify_confirm(p, &accepted.confirm, &pending, NOW).expect("confirm")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, upgrade);
criterion_main!(benches);
