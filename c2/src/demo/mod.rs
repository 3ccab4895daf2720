//! `e4c2 demo`: a C2 with its embedded broker and a mixed fleet, in one
//! process, in a throw-away directory. Everything goes over the real
//! broker: devices are e4-client instances with `E4Mqtt`, commands leave
//! C2 through its outbox, negotiation messages arrive on
//! `e4c2/announce/<id>`. A capture subscribed to `#` shows what the broker
//! carried.
//!
//! The story: a symmetric-only sensor (an 8-bit part that never
//! negotiates), a second sensor of the same class, a public-key meter, a
//! post-quantum gateway and a device provisioned with a public key whose
//! firmware can run the hybrid suite. Capable devices announce; C2 moves
//! the last one to hybrid. Topics get formats every member can read (and
//! C2 refuses a member that cannot), messages flow, a topic key is rotated
//! by hand and then twice by an automation rule (every 2 s) while the
//! sensors keep reading, then the second sensor gets a firmware update and is moved from
//! symmetric to post-quantum in the field.

pub mod fleet;
pub mod measure;
pub mod spy;

use crate::crypto_at_rest::KdfParams;
use crate::error::C2Error;
use crate::negotiation::announce_topic;
use crate::server::{serve, Running, ServeOptions};
use crate::service::Service;
use anyhow::{bail, Context};
use e4_client::SuiteSet;
use e4_proto::SuiteId;
use fleet::{by_name, Device, Fleet};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SENSORS: &str = "sensors/temperature";
const PLANT: &str = "plant/status";
const METERS: &str = "meters/power";
const ALARMS: &str = "site/alarms";

fn step(n: usize, text: &str) {
    println!("\n[{n}] {text}");
}

fn ok(text: impl std::fmt::Display) {
    println!("    ok  {text}");
}

/// Run the demo; prints its report on stdout.
pub async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("e4c2-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let opts = ServeOptions {
        // A throw-away database: light Argon2id (serve's default is 64 MiB).
        kdf: KdfParams {
            m_kib: 8 * 1024,
            t: 1,
            p: 1,
        },
        window: Some(100),
        max_backoff: Duration::from_secs(2),
        // The demo's C2 is gone when it ends: no token to keep.
        print_token: false,
        ..ServeOptions::local(dir.path(), "e4c2 demo passphrase (throw-away)")
    };
    let (up_tx, up_rx) = tokio::sync::oneshot::channel::<Running>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        opts,
        async move {
            let _ = stop_rx.await;
        },
        Some(up_tx),
    ));
    let running = match up_rx.await {
        Ok(r) => r,
        Err(_) => {
            return match server.await {
                Ok(Err(e)) => Err(e).context("starting C2"),
                _ => bail!("C2 stopped while starting"),
            }
        }
    };
    let result = story(&running, started).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    result
}

async fn story(running: &Running, started: Instant) -> anyhow::Result<()> {
    let svc: &Service = &running.service;
    let broker = (running.broker.host.as_str(), running.broker.port);
    println!(
        "e4c2 demo: C2 with SQLite, gRPC {} and REST {} over TLS, embedded MQTT broker {}",
        running.grpc, running.http, running.broker
    );
    let spy = spy::Spy::start(&running.broker).await?;

    step(1, "provision a mixed fleet");
    let fleet_spec: [(&str, &'static str, SuiteId, &[SuiteId]); 5] = [
        (
            "sensor-1",
            "8-bit sensor, symmetric only",
            SuiteId::Symmetric,
            &[],
        ),
        ("sensor-2", "sensor, old firmware", SuiteId::Symmetric, &[]),
        ("meter", "public-key device", SuiteId::PubKey, &[]),
        (
            "gateway",
            "post-quantum gateway",
            SuiteId::PostQuantum,
            &[SuiteId::PostQuantum],
        ),
        (
            "vault",
            "hybrid-capable device",
            SuiteId::PubKey,
            &[SuiteId::Hybrid, SuiteId::PostQuantum],
        ),
    ];
    let mut devices = Vec::new();
    for (name, class, suite, caps) in fleet_spec {
        let d = Device::provision(svc, name, class, suite, SuiteSet::of(caps), broker).await?;
        ok(format!(
            "{name:<9} {class:<30} provisioned {suite}{}",
            if caps.is_empty() {
                String::new()
            } else {
                format!(", can run {}", names(caps))
            }
        ));
        devices.push(d);
    }
    let mut f = Fleet { devices };
    for (name, topics) in [
        ("sensor-1", vec![SENSORS]),
        ("sensor-2", vec![SENSORS, PLANT]),
        ("meter", vec![METERS]),
        ("gateway", vec![SENSORS, PLANT]),
        ("vault", vec![ALARMS]),
    ] {
        for t in topics {
            f.get(name).mqtt.subscribe(t).await?;
        }
    }

    step(
        2,
        "negotiate: capable devices announce, C2 chooses by policy",
    );
    f.wait("vault to run the hybrid suite", |f| {
        f.get("vault").suite() == SuiteId::Hybrid
    })
    .await?;
    wait_c2(svc, "gateway", |c| c.negotiates).await?;
    wait_c2(svc, "vault", |c| {
        c.suite == SuiteId::Hybrid && c.pending_suite.is_none()
    })
    .await?;
    ok("vault: pubkey -> hybrid (Announce signed with its Ed25519 key, SetSuite, Confirm signed with the new keys)");
    ok("gateway: announced, already runs its strongest suite (pq): stays");
    ok("sensor-1, sensor-2, meter: no negotiation firmware, keep their suites");

    step(3, "topics with a format every member can read");
    svc.new_topic_with_format(SENSORS, Some(SuiteId::Symmetric))
        .await?;
    svc.new_topic_with_format(PLANT, Some(SuiteId::PostQuantum))
        .await?;
    svc.new_topic_with_format(METERS, Some(SuiteId::PubKey))
        .await?;
    svc.new_topic_with_format(ALARMS, Some(SuiteId::Hybrid))
        .await?;
    for (name, topic) in [
        ("sensor-1", SENSORS),
        ("sensor-2", SENSORS),
        ("gateway", SENSORS),
        ("gateway", PLANT),
        ("meter", METERS),
        ("vault", ALARMS),
    ] {
        svc.add_client_to_topic(&by_name(name), topic).await?;
    }
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for t in [SENSORS, PLANT, METERS, ALARMS] {
        secrets.push(svc.topic_key(t).await?.0.as_bytes().to_vec());
    }
    f.wait_keys(SENSORS, &["sensor-1", "sensor-2", "gateway"])
        .await?;
    f.wait_keys(PLANT, &["gateway"]).await?;
    f.wait_keys(METERS, &["meter"]).await?;
    f.wait_keys(ALARMS, &["vault"]).await?;
    f.wait(
        "the gateway to use the symmetric format on sensors/temperature",
        |f| {
            f.get("gateway")
                .mqtt
                .with_client(|c| c.topic_format(SENSORS) == SuiteId::Symmetric)
        },
    )
    .await?;
    ok(format!(
        "{SENSORS} (symmetric format): sensor-1, sensor-2, gateway (told by SetTopicFormat)"
    ));
    ok(format!(
        "{PLANT} (pq), {METERS} (pubkey), {ALARMS} (hybrid)"
    ));
    match svc.add_client_to_topic(&by_name("sensor-1"), PLANT).await {
        Err(C2Error::FailedPrecondition(why)) => ok(format!("refused sensor-1 on {PLANT}: {why}")),
        Err(e) => bail!("adding sensor-1 to {PLANT}: unexpected error {e}"),
        Ok(_) => bail!("C2 admitted a symmetric device to a post-quantum topic"),
    }

    step(4, "exchange messages over the broker");
    let mut said: Vec<String> = Vec::new();
    let mut say = |s: &str| {
        said.push(s.to_string());
        s.to_string()
    };
    let m1 = say("sensor-1: 21.5 C (reading 1)");
    f.get("sensor-1").say(SENSORS, &m1).await?;
    let m2 = say("gateway: setpoint 20.0 C");
    f.get("gateway").say(SENSORS, &m2).await?;
    let m3 = say("gateway: plant status nominal");
    f.get("gateway").say(PLANT, &m3).await?;
    let m4 = say("meter: 4.2 kW");
    f.get("meter").say(METERS, &m4).await?;
    let m5 = say("vault: door closed");
    f.get("vault").say(ALARMS, &m5).await?;
    f.wait("the sensor readings and the setpoint to arrive", |f| {
        f.get("sensor-2").got(SENSORS, &m1)
            && f.get("gateway").got(SENSORS, &m1)
            && f.get("sensor-1").got(SENSORS, &m2)
            && f.get("sensor-2").got(SENSORS, &m2)
    })
    .await?;
    ok("sensor-1 -> sensor-2, gateway; gateway -> sensor-1, sensor-2 (symmetric format)");
    ok("gateway, meter, vault published in their own suites' formats");

    step(5, format!("rotate the key of {SENSORS}").as_str());
    let before: BTreeMap<String, usize> = f
        .devices
        .iter()
        .map(|d| (d.name.clone(), d.commands.len()))
        .collect();
    let q = svc.rotate_topic_key(SENSORS).await?;
    secrets.push(svc.topic_key(SENSORS).await?.0.as_bytes().to_vec());
    f.wait("the three members to apply the new key", |f| {
        ["sensor-1", "sensor-2", "gateway"]
            .iter()
            .all(|n| f.get(n).commands.len() > before[*n])
    })
    .await?;
    let m6 = say("sensor-1: 21.7 C (reading 2, new key)");
    f.get("sensor-1").say(SENSORS, &m6).await?;
    f.wait("reading 2 under the new key", |f| {
        f.get("sensor-2").got(SENSORS, &m6) && f.get("gateway").got(SENSORS, &m6)
    })
    .await?;
    ok(format!(
        "{} SetTopicKey commands through the outbox; reading 2 read by sensor-2 and gateway",
        q.count
    ));

    step(
        6,
        format!("a key policy: rotate {SENSORS} every 2 s (automation rule)").as_str(),
    );
    svc.add_rule(crate::automation::ops::NewRule {
        name: "sensors-every-2s".into(),
        target: format!("topic:{SENSORS}"),
        triggers: vec!["every:2s".into()],
        action: "rotate-topic-key".into(),
        ..Default::default()
    })
    .await?;
    for n in 1..=2u32 {
        let fired = wait_fires(svc, "sensors-every-2s", n as usize).await?;
        secrets.push(svc.topic_key(SENSORS).await?.0.as_bytes().to_vec());
        let m = say(&format!("sensor-1: 21.{n} C (after rule fire {n})"));
        f.get("sensor-1").say(SENSORS, &m).await?;
        f.wait("the reading under the rule's new key", |f| {
            f.get("sensor-2").got(SENSORS, &m) && f.get("gateway").got(SENSORS, &m)
        })
        .await?;
        ok(format!(
            "fire {n}: {fired}; sensor-2 and gateway read the next reading"
        ));
    }
    svc.set_rule_enabled("sensors-every-2s", false).await?;
    ok("rule disabled (e4c2 rule list / history show it)");

    step(
        7,
        "firmware update: sensor-2 can now run pq; upgrade in the field",
    );
    f.get("sensor-2")
        .mqtt
        .with_client(|c| c.set_capabilities(SuiteSet::of(&[SuiteId::PostQuantum])))?;
    f.wait("sensor-2 to run the pq suite", |f| {
        f.get("sensor-2").suite() == SuiteId::PostQuantum
    })
    .await?;
    wait_c2(svc, "sensor-2", |c| c.suite == SuiteId::PostQuantum).await?;
    ok("sensor-2: symmetric -> pq (Announce under its symmetric key, SetSuite, Confirm signed with ML-DSA-65)");
    f.wait(
        "sensor-2 to keep the symmetric format on sensors/temperature",
        |f| {
            f.get("sensor-2").mqtt.with_client(|c| {
                c.topic_format(SENSORS) == SuiteId::Symmetric && c.has_topic_key(SENSORS)
            })
        },
    )
    .await?;
    svc.add_client_to_topic(&by_name("sensor-2"), PLANT).await?;
    svc.link_client(&by_name("gateway"), &by_name("sensor-2"))
        .await?;
    svc.link_client(&by_name("sensor-2"), &by_name("gateway"))
        .await?;
    svc.send_client_pubkey(&by_name("gateway"), &by_name("sensor-2"))
        .await?;
    svc.send_client_pubkey(&by_name("sensor-2"), &by_name("gateway"))
        .await?;
    f.wait_keys(PLANT, &["sensor-2"]).await?;
    f.wait(
        "the gateway and sensor-2 to hold each other's ML-DSA keys",
        |f| {
            f.get("sensor-2")
                .mqtt
                .with_client(|c| !c.pubkey_ids().is_empty())
                && f.get("gateway")
                    .mqtt
                    .with_client(|c| !c.pubkey_ids().is_empty())
        },
    )
    .await?;
    let m7 = say("sensor-2: 21.6 C, signed with ML-DSA-65");
    f.get("sensor-2").say(PLANT, &m7).await?;
    let m8 = say("gateway: acknowledged, sensor-2");
    f.get("gateway").say(PLANT, &m8).await?;
    let m9 = say("sensor-1: 21.8 C (reading 3)");
    f.get("sensor-1").say(SENSORS, &m9).await?;
    f.wait(
        "post-quantum messages between sensor-2 and the gateway",
        |f| {
            f.get("gateway").got(PLANT, &m7)
                && f.get("sensor-2").got(PLANT, &m8)
                && f.get("sensor-2").got(SENSORS, &m9)
        },
    )
    .await?;
    ok(format!(
        "sensor-2 joined {PLANT}; pq messages both ways; still reads sensor-1 on {SENSORS}"
    ));

    step(8, "the fleet");
    let seen = spy.seen();
    secrets.extend(
        f.devices
            .iter()
            .filter_map(|d| d.client_key.as_ref().map(|k| k.to_vec())),
    );
    report(&f, svc, &seen, &said, &secrets).await?;
    spy.stop().await;
    for d in f.devices {
        d.mqtt.disconnect().await;
    }
    println!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Until rule `name` fired `n` times; its latest fire's detail.
async fn wait_fires(svc: &Service, name: &str, n: usize) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        let h = svc.rule_history(name, 0, 0).await?;
        let fired: Vec<_> = h.iter().filter(|f| f.outcome == "fired").collect();
        if fired.len() >= n {
            return Ok(fired[0].detail.clone());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("rule {name} fired {} of {n} times in 30 s", fired.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(s: &[SuiteId]) -> String {
    s.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")
}

async fn wait_c2(
    svc: &Service,
    name: &str,
    done: impl Fn(&crate::model::ClientInfo) -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if done(&svc.get_client(&by_name(name)).await?) {
            return Ok(());
        }
        if start.elapsed() > fleet::STEP_TIMEOUT {
            bail!("timed out waiting for C2's record of {name}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn report(
    f: &Fleet,
    svc: &Service,
    seen: &[spy::Seen],
    said: &[String],
    secrets: &[Vec<u8>],
) -> anyhow::Result<()> {
    let mut costs = BTreeMap::new();
    println!(
        "\n    {:<9} {:<30} {:<21} {:>9} {:>10} {:>12}",
        "device", "class", "suite", "overhead", "protect", "unprotect"
    );
    for d in &f.devices {
        let now = d.suite();
        let info = svc.get_client(&by_name(&d.name)).await?;
        if info.suite != now {
            bail!(
                "{}: C2 records {} but the device runs {now}",
                d.name,
                info.suite
            );
        }
        let c = match costs.get(&now) {
            Some(c) => *c,
            None => {
                let c = measure::measure(now)?;
                costs.insert(now, c);
                c
            }
        };
        let suite = if d.provisioned == now {
            now.name().to_string()
        } else {
            format!("{} -> {}", d.provisioned.name(), now.name())
        };
        println!(
            "    {:<9} {:<30} {:<21} {:>7} B {:>7.1} µs {:>9.1} µs",
            d.name,
            d.class,
            suite,
            c.overhead,
            c.protect.as_secs_f64() * 1e6,
            c.unprotect.as_secs_f64() * 1e6
        );
    }
    println!(
        "    (overhead: bytes added to a message in the device's suite; times: {} B payload, median of 5 x {} in process)",
        measure::PAYLOAD,
        measure::ITERS
    );
    println!("    sensors/temperature uses the symmetric format (24 B) for all its members");

    let app = seen
        .iter()
        .filter(|s| !s.topic.starts_with("e4/") && !s.topic.starts_with("e4c2/"))
        .count();
    let commands = seen.iter().filter(|s| s.topic.starts_with("e4/")).count();
    let negotiation = seen
        .iter()
        .filter(|s| s.topic.starts_with("e4c2/announce/"))
        .count();
    let bytes: usize = seen.iter().map(|s| s.payload.len()).sum();
    let leaks: Vec<&String> = said
        .iter()
        .filter(|m| seen.iter().any(|s| spy::contains(&s.payload, m.as_bytes())))
        .collect();
    let expected_announce = f
        .devices
        .iter()
        .map(|d| {
            announce_topic(&e4_proto::Id::from_alias(
                svc.provider.hash,
                d.name.as_bytes(),
            ))
        })
        .collect::<Vec<_>>();
    println!(
        "\n    what the broker carried ({} publishes, {bytes} bytes):",
        seen.len()
    );
    println!("      {app} application messages, {commands} C2 commands on e4/<id>, {negotiation} Announce/Confirm on e4c2/announce/<id>");
    if !seen
        .iter()
        .filter(|s| s.topic.starts_with("e4c2/announce/"))
        .all(|s| expected_announce.contains(&s.topic))
    {
        bail!("a negotiation message on an unexpected topic");
    }
    if !leaks.is_empty() {
        bail!("the broker saw plaintext: {leaks:?}");
    }
    println!(
        "      plaintext found in any payload: none (searched for all {} messages sent)",
        said.len()
    );
    let key_leaks = secrets
        .iter()
        .filter(|k| seen.iter().any(|s| spy::contains(&s.payload, k)))
        .count();
    if key_leaks > 0 {
        bail!("the broker saw {key_leaks} keys in the clear");
    }
    let device_keys = f.devices.iter().filter(|d| d.client_key.is_some()).count();
    println!(
        "      key material found in any payload: none (searched for {} topic keys and {device_keys} device keys)",
        secrets.len() - device_keys,
    );
    if app < said.len() {
        bail!(
            "the capture missed application messages ({app} of {})",
            said.len()
        );
    }
    Ok(())
}
