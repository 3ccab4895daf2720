//! The same end-to-end scenario on a real PostgreSQL (Debian's package,
//! started by the test), plus an offline passphrase change there.

use crate::common;

use common::external::Postgres;
use common::C2;
use e4_c2::api::grpc::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_flow_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let c2 = C2::start(common::options(dir.path(), Some(pg.url.clone()), None)).await;
    common::scenario::full_flow(&c2).await;
    c2.stop().await;

    // Restart on the same database: state and keys are there.
    let c2 = C2::start(common::options(dir.path(), Some(pg.url.clone()), None)).await;
    let mut grpc = c2.grpc().await;
    assert_eq!(
        grpc.count_clients(pb::Empty {})
            .await
            .unwrap()
            .into_inner()
            .count,
        1
    );
    let p = grpc
        .protect_message(pb::ProtectRequest {
            topic: "sensors/temp".into(),
            payload: b"x".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    c2.stop().await;

    // Offline passphrase change on PostgreSQL, then the old one is refused.
    let newpass = dir.path().join("new-pass");
    std::fs::write(&newpass, "a brand new passphrase for pg\n").unwrap();
    common::change_passphrase(
        dir.path(),
        Some(&pg.url),
        "test passphrase, long enough",
        &newpass,
    );
    let mut o = common::options(dir.path(), Some(pg.url.clone()), None);
    o.passphrase = Some("a brand new passphrase for pg".to_string().into());
    let c2 = C2::start(o).await;
    let mut grpc = c2.grpc().await;
    let up = grpc
        .unprotect_message(pb::UnprotectRequest {
            topic: "sensors/temp".into(),
            protected: p.protected,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.payload, b"x");
    // C2's public keys kept valid MACs through the change (the renewal
    // reads c2_keys in batches).
    grpc.get_crypto_mode(pb::Empty {}).await.unwrap();
    c2.stop().await;
    let (tx, _rx) = tokio::sync::oneshot::channel();
    let r = e4_c2::server::serve(
        common::options(dir.path(), Some(pg.url.clone()), None),
        async {},
        Some(tx),
    )
    .await;
    assert!(matches!(r, Err(e4_c2::C2Error::InvalidArgument(m)) if m.contains("wrong passphrase")));
}
