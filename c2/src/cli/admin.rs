//! The admin commands, over gRPC: tables by default, `--json` for scripts,
//! a progress bar while fleet-wide commands are delivered.

use crate::api::grpc::pb;
use crate::cli::args::{
    C2Cmd, ClientArg, ClientCmd, ConnArgs, OutputArgs, PageArgs, PolicyArgs, PolicyCmd, TopicCmd,
    WaitArgs,
};
use crate::cli::conn::{connect, status, Api};
use crate::cli::{provision, table};
use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use tokio_stream::StreamExt;

fn cref(c: &ClientArg) -> Result<pb::ClientRef> {
    if c.by_id {
        let id = hex::decode(&c.client).context("--by-id expects a hex id")?;
        Ok(pb::ClientRef {
            name: String::new(),
            id,
        })
    } else {
        Ok(name_ref(&c.client))
    }
}

fn name_ref(n: &str) -> pb::ClientRef {
    pb::ClientRef {
        name: n.to_string(),
        id: Vec::new(),
    }
}

/// A key or other bytes on the command line: hex, or a file (`@FILE`, or
/// the path of an existing file) holding raw bytes or hex. The same
/// convention as the `e4` tool.
fn bytes_arg(v: &Option<String>) -> Result<Vec<u8>> {
    let s = match v.as_deref() {
        None | Some("") => return Ok(Vec::new()),
        Some(s) => s,
    };
    let file = match s.strip_prefix('@') {
        Some(f) => Some(f),
        None if hex::decode(s).is_err() && std::path::Path::new(s).is_file() => Some(s),
        None => None,
    };
    match file {
        Some(f) => {
            let bytes = std::fs::read(f).with_context(|| format!("reading {f}"))?;
            let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
            Ok(match hex::decode(text) {
                Ok(decoded) if !text.is_empty() => decoded,
                _ => bytes,
            })
        }
        None => hex::decode(s)
            .with_context(|| format!("{s:?} is neither hex nor a file (@FILE or a path)")),
    }
}

fn client_json(c: &pb::ClientInfo) -> Value {
    json!({
        "name": c.name,
        "id": hex::encode(&c.id),
        "suite": c.suite,
        "control_topic": c.control_topic,
        "created_at": c.created_at,
        "sig_public_key": if c.sig_public_key.is_empty() { Value::Null } else { json!(hex::encode(&c.sig_public_key)) },
        "allowed_suites": if c.has_policy_override { json!(c.allowed_suites) } else { Value::Null },
        "negotiates": c.negotiates,
        "below_minimum": c.below_minimum,
        "pending_suite": null_if_empty(&c.pending_suite),
        "delivery": c.state.as_ref().map(|s| json!({
            "up_to_date": s.up_to_date,
            "reported_at": if s.reported_at == 0 { Value::Null } else { json!(s.reported_at) },
            "topics_unconfirmed": s.topics_unconfirmed,
            "stale_topics": s.stale_topics,
            "c2_key_current": match s.c2_key_current.as_str() { "yes" => json!(true), "no" => json!(false), _ => Value::Null },
        })),
    })
}

/// A unix time in ms as ISO 8601 (UTC, seconds).
fn iso_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The KEYS column: whether the device holds its current keys.
fn keys_cell(c: &pb::ClientInfo) -> String {
    match c.state.as_ref() {
        None => "unknown".into(),
        Some(s) => match s.up_to_date.as_str() {
            "yes" => "current".into(),
            "no" => {
                let mut parts = Vec::new();
                if s.topics_unconfirmed > 0 {
                    parts.push(format!("{} topic(s) behind", s.topics_unconfirmed));
                }
                if s.stale_topics > 0 {
                    parts.push(format!("{} stale topic(s)", s.stale_topics));
                }
                if s.c2_key_current == "no" {
                    parts.push("old C2 key".into());
                }
                parts.join(", ")
            }
            _ => "unknown (never reported)".into(),
        },
    }
}

fn null_if_empty(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s)
    }
}

fn dash_if_empty(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// The override column: `-` when the fleet policy applies.
fn override_cell(c: &pb::ClientInfo) -> String {
    match (c.has_policy_override, c.allowed_suites.is_empty()) {
        (false, _) => "-".to_string(),
        (true, true) => "(none: pinned)".to_string(),
        (true, false) => c.allowed_suites.join(","),
    }
}

fn topic_json(t: &pb::TopicInfo) -> Value {
    json!({
        "topic": t.topic,
        "hash": hex::encode(&t.hash),
        "created_at": t.created_at,
        "key_updated_at": t.key_updated_at,
        "format": null_if_empty(&t.format),
        "key_version": t.key_version,
        "members_confirmed": t.members_confirmed,
    })
}

fn print_clients(json: bool, total: u64, list: &[pb::ClientInfo]) {
    if json {
        let v: Vec<Value> = list.iter().map(client_json).collect();
        println!("{}", json!({"total": total, "clients": v}));
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    hex::encode(&c.id),
                    c.suite.clone(),
                    dash_if_empty(&c.pending_suite),
                    override_cell(c),
                    yes_no(c.negotiates),
                    yes_no(c.below_minimum),
                    keys_cell(c),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &[
                    "NAME",
                    "ID",
                    "SUITE",
                    "PENDING",
                    "OVERRIDE",
                    "NEGOTIATES",
                    "BELOW MINIMUM",
                    "KEYS"
                ],
                &rows
            )
        );
        println!("{} of {total}", list.len());
    }
}

fn print_topics(json: bool, total: u64, list: &[pb::TopicInfo]) {
    if json {
        let v: Vec<Value> = list.iter().map(topic_json).collect();
        println!("{}", json!({"total": total, "topics": v}));
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|t| {
                vec![
                    t.topic.clone(),
                    hex::encode(&t.hash),
                    if t.format.is_empty() {
                        "(first member's)".to_string()
                    } else {
                        t.format.clone()
                    },
                ]
            })
            .collect();
        print!("{}", table::render(&["TOPIC", "HASH", "FORMAT"], &rows));
        println!("{} of {total}", list.len());
    }
}

fn print_topic(json: bool, t: &pb::TopicInfo) {
    if json {
        println!("{}", topic_json(t));
        return;
    }
    let rows = vec![
        vec!["topic".to_string(), t.topic.clone()],
        vec!["hash".into(), hex::encode(&t.hash)],
        vec![
            "format".into(),
            if t.format.is_empty() {
                "(first member's)".to_string()
            } else {
                t.format.clone()
            },
        ],
        vec!["created".into(), iso_ms(t.created_at)],
        vec!["key changed".into(), iso_ms(t.key_updated_at)],
        vec!["key version".into(), t.key_version.to_string()],
        vec![
            "members holding it".into(),
            t.members_confirmed.map_or("-".to_string(), |n| {
                format!("{n} (confirmed by their reports)")
            }),
        ],
    ];
    print!("{}", table::render(&["FIELD", "VALUE"], &rows));
}

fn mqtt_json(m: &pb::MqttCredentials) -> serde_json::Value {
    json!({"username": m.username, "password": m.password})
}

fn print_mqtt(m: &pb::MqttCredentials) {
    println!(
        "MQTT user {} password (shown once): {}",
        m.username, m.password
    );
}

fn print_client(json: bool, c: &pb::ClientInfo) {
    if json {
        println!("{}", client_json(c));
    } else {
        let mut rows = vec![
            vec!["name".to_string(), c.name.clone()],
            vec!["id".into(), hex::encode(&c.id)],
            vec!["suite".into(), c.suite.clone()],
            vec!["control topic".into(), c.control_topic.clone()],
            vec!["pending suite".into(), dash_if_empty(&c.pending_suite)],
            vec!["allowed (override)".into(), override_cell(c)],
            vec!["negotiates".into(), yes_no(c.negotiates)],
            vec!["below minimum".into(), yes_no(c.below_minimum)],
            vec!["keys".into(), keys_cell(c)],
        ];
        if let Some(s) = c.state.as_ref().filter(|s| s.reported_at != 0) {
            rows.push(vec!["last report".into(), iso_ms(s.reported_at)]);
            rows.push(vec![
                "topics without current key".into(),
                s.topics_unconfirmed.to_string(),
            ]);
            rows.push(vec![
                "topics held, not a member".into(),
                s.stale_topics.to_string(),
            ]);
            if !s.c2_key_current.is_empty() {
                rows.push(vec![
                    "holds current C2 key".into(),
                    s.c2_key_current.clone(),
                ]);
            }
        }
        if !c.sig_public_key.is_empty() {
            rows.push(vec!["public key".into(), hex::encode(&c.sig_public_key)]);
        }
        print!("{}", table::render(&["FIELD", "VALUE"], &rows));
    }
}

fn print_ok(json: bool, what: &str) {
    if json {
        println!("{}", json!({"ok": true}));
    } else {
        println!("{what}");
    }
}

/// A rate for people: whole numbers of commands per second, one decimal
/// below 10.
fn rate(per_sec: f64) -> String {
    if per_sec >= 10.0 {
        format!("{per_sec:.0} commands/s")
    } else {
        format!("{per_sec:.1} commands/s")
    }
}

/// Print what was queued and, unless told not to, follow delivery with a
/// progress bar.
async fn queued(
    api: &mut Api,
    json: bool,
    q: pb::CommandsQueued,
    wait: Option<WaitArgs>,
) -> Result<()> {
    let follow = wait.is_some_and(|w| !w.no_wait) && q.count > 0 && !json;
    if json {
        println!(
            "{}",
            json!({"commands_queued": q.count, "first_id": q.first_id, "last_id": q.last_id})
        );
    } else {
        println!("{} command(s) queued", q.count);
    }
    if !follow {
        return Ok(());
    }
    follow_delivery(api, &q, wait.map_or(0.0, |w| w.wait_devices)).await
}

/// Follow the delivery of queued commands with a progress bar, waiting up
/// to `wait_devices` seconds for the devices' confirmations once the broker
/// acknowledged them all.
pub(crate) async fn follow_delivery(
    api: &mut Api,
    q: &pb::CommandsQueued,
    wait_devices: f64,
) -> Result<()> {
    let bar = indicatif::ProgressBar::new(q.count);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} acknowledged by the broker ({rate}, eta {eta}) {msg}",
        )
        .expect("static template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", rate(state.per_sec()));
            },
        ),
    );
    let mut s = api
        .watch_commands(pb::CommandRange {
            first_id: q.first_id,
            last_id: q.last_id,
            wait_devices_ms: (wait_devices.max(0.0) * 1000.0) as u64,
        })
        .await
        .map_err(status)?
        .into_inner();
    let mut last: Option<pb::CommandProgress> = None;
    while let Some(p) = s.next().await {
        let p = p.map_err(status)?;
        bar.set_position(p.sent);
        let mut msg = format!(
            "· {}/{} device(s) confirmed",
            p.devices_confirmed, p.devices
        );
        if p.failed > 0 {
            msg.push_str(&format!(" · {} failed", p.failed));
        }
        bar.set_message(msg);
        last = Some(p);
    }
    bar.finish();
    if let Some(p) = &last {
        println!(
            "acknowledged by the broker: {}/{}; confirmed by devices: {}/{}{}",
            p.sent,
            p.total,
            p.devices_confirmed,
            p.devices,
            if p.devices_confirmed < p.devices {
                " (the others have not reported yet, or never report: e4go/libe4 devices; see `e4c2 client show`)"
            } else {
                ""
            }
        );
    }
    if let Some(p) = last {
        if p.failed > 0 {
            bail!(
                "{} command(s) could not be sealed (see the server log)",
                p.failed
            );
        }
    }
    Ok(())
}

/// `e4c2 client …`.
pub async fn client(g: &ConnArgs, cmd: ClientCmd) -> Result<()> {
    match cmd {
        ClientCmd::Add {
            conn,
            name,
            suite,
            id,
            key,
            sig_public_key,
            kem_public_key,
            out,
            broker,
        } => {
            let mut api = connect(g).await?;
            if let Some(out) = out {
                let d = provision::NewDevice {
                    name,
                    suite,
                    id: bytes_arg(&id)?,
                    key: zeroize::Zeroizing::new(bytes_arg(&key)?),
                    broker,
                };
                let c = provision::add_with_file(&mut api, &g.data_dir, d, &out).await?;
                if conn.json {
                    let mut v = client_json(&c);
                    v["provisioning_file"] = json!(out.display().to_string());
                    println!("{v}");
                } else {
                    print_client(false, &c);
                    println!(
                        "provisioning file written to {} (mode 0600): it holds the device's secret keys; move it to the device (`e4 client --provision {}`) and delete it",
                        out.display(),
                        out.display()
                    );
                }
                return Ok(());
            }
            let r = api
                .new_client(pb::NewClientRequest {
                    name,
                    id: bytes_arg(&id)?,
                    suite,
                    key: bytes_arg(&key)?,
                    sig_public_key: bytes_arg(&sig_public_key)?,
                    kem_public_key: bytes_arg(&kem_public_key)?,
                })
                .await
                .map_err(status)?
                .into_inner();
            let c = r.client.unwrap_or_default();
            let mqtt = r.mqtt.unwrap_or_default();
            if conn.json {
                let mut v = client_json(&c);
                if !r.key.is_empty() {
                    v["key"] = json!(hex::encode(&r.key));
                }
                v["mqtt"] = mqtt_json(&mqtt);
                println!("{v}");
            } else {
                print_client(false, &c);
                if !r.key.is_empty() {
                    println!("generated key (shown once): {}", hex::encode(&r.key));
                }
                print_mqtt(&mqtt);
            }
        }
        ClientCmd::MqttPassword { conn, client } => {
            let mut api = connect(g).await?;
            let m = api
                .reissue_mqtt_password(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            if conn.json {
                println!("{}", mqtt_json(&m));
            } else {
                print_mqtt(&m);
            }
        }
        ClientCmd::Get { conn, client } => {
            let mut api = connect(g).await?;
            let c = api
                .get_client(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            print_client(conn.json, &c);
        }
        ClientCmd::Remove { conn, client } => {
            let mut api = connect(g).await?;
            api.remove_client(cref(&client)?).await.map_err(status)?;
            print_ok(conn.json, "removed");
        }
        ClientCmd::List { conn, page } => {
            let mut api = connect(g).await?;
            let total = api
                .count_clients(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner()
                .count;
            let l = api
                .list_clients(pg(page))
                .await
                .map_err(status)?
                .into_inner();
            print_clients(conn.json, total, &l.clients);
        }
        ClientCmd::NewKey { conn, client, wait } => {
            let mut api = connect(g).await?;
            let q = api
                .new_client_key(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, Some(wait)).await?;
        }
        ClientCmd::Reset { conn, client } => {
            let mut api = connect(g).await?;
            let q = api
                .reset_client(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, None).await?;
        }
        ClientCmd::Resync { conn, client, wait } => {
            let mut api = connect(g).await?;
            let q = api
                .resync_client(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, Some(wait)).await?;
        }
        ClientCmd::Topics { conn, client, page } => {
            let mut api = connect(g).await?;
            let r = cref(&client)?;
            let total = api
                .count_topics_for_client(r.clone())
                .await
                .map_err(status)?
                .into_inner()
                .count;
            let l = api
                .list_topics_for_client(pb::ClientPage {
                    client: Some(r),
                    offset: page.offset,
                    count: page.count,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_topics(conn.json, total, &l.topics);
        }
        ClientCmd::Link {
            conn,
            source,
            target,
        } => {
            let mut api = connect(g).await?;
            api.link_client(pair(&source, &target))
                .await
                .map_err(status)?;
            print_ok(conn.json, "linked");
        }
        ClientCmd::Unlink {
            conn,
            source,
            target,
        } => {
            let mut api = connect(g).await?;
            api.unlink_client(pair(&source, &target))
                .await
                .map_err(status)?;
            print_ok(conn.json, "unlinked");
        }
        ClientCmd::Linked { conn, client, page } => {
            let mut api = connect(g).await?;
            let r = cref(&client)?;
            let total = api
                .count_linked_clients(r.clone())
                .await
                .map_err(status)?
                .into_inner()
                .count;
            let l = api
                .list_linked_clients(pb::ClientPage {
                    client: Some(r),
                    offset: page.offset,
                    count: page.count,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_clients(conn.json, total, &l.clients);
        }
        ClientCmd::SendPubkey {
            conn,
            source,
            target,
        } => {
            let mut api = connect(g).await?;
            let q = api
                .send_client_pub_key(pair(&source, &target))
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, None).await?;
        }
        ClientCmd::RemovePubkey {
            conn,
            source,
            target,
        } => {
            let mut api = connect(g).await?;
            let q = api
                .remove_client_pub_key(pair(&source, &target))
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, None).await?;
        }
        ClientCmd::ResetPubkeys { conn, client } => {
            let mut api = connect(g).await?;
            let q = api
                .reset_client_pub_keys(cref(&client)?)
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, None).await?;
        }
    }
    Ok(())
}

fn pg(p: PageArgs) -> pb::Page {
    pb::Page {
        offset: p.offset,
        count: p.count,
    }
}

fn pair(source: &str, target: &str) -> pb::ClientPair {
    pb::ClientPair {
        source: Some(name_ref(source)),
        target: Some(name_ref(target)),
    }
}

fn tref(t: &str) -> pb::TopicRef {
    pb::TopicRef {
        topic: t.to_string(),
    }
}

/// Create a topic (`topic add`).
pub async fn new_topic(
    g: &ConnArgs,
    conn: OutputArgs,
    topic: String,
    format: Option<String>,
) -> Result<()> {
    let mut api = connect(g).await?;
    let t = api
        .new_topic(pb::NewTopicRequest {
            topic,
            format: format.unwrap_or_default(),
        })
        .await
        .map_err(status)?
        .into_inner();
    print_topics(conn.json, 1, &[t]);
    Ok(())
}

/// Change a topic's format (`topic format`).
pub async fn topic_format(
    g: &ConnArgs,
    conn: OutputArgs,
    topic: String,
    format: String,
    wait: WaitArgs,
) -> Result<()> {
    let mut api = connect(g).await?;
    let q = api
        .set_topic_format(pb::TopicFormat { topic, format })
        .await
        .map_err(status)?
        .into_inner();
    queued(&mut api, conn.json, q, Some(wait)).await
}

/// Suite names from a comma-separated option (empty items dropped).
fn suite_list(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn print_policy(json: bool, p: &pb::Policy) {
    if json {
        println!(
            "{}",
            json!({"allowed": p.allowed, "minimum": p.minimum, "ranking": p.ranking})
        );
    } else {
        let rows = vec![
            vec!["allowed".to_string(), p.allowed.join(",")],
            vec!["minimum".into(), p.minimum.clone()],
            vec!["ranking (weakest first)".into(), p.ranking.join(",")],
        ];
        print!("{}", table::render(&["FIELD", "VALUE"], &rows));
    }
}

/// `e4c2 policy [set …]`.
pub async fn policy(g: &ConnArgs, a: PolicyArgs) -> Result<()> {
    match a.cmd {
        None => {
            let mut api = connect(g).await?;
            let p = api
                .get_policy(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner();
            print_policy(a.conn.json, &p);
        }
        Some(PolicyCmd::Set {
            conn,
            allowed,
            minimum,
            ranking,
        }) => {
            let mut api = connect(g).await?;
            let mut p = api
                .get_policy(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner();
            if let Some(v) = allowed {
                p.allowed = suite_list(v);
            }
            if let Some(m) = minimum {
                p.minimum = m.trim().to_string();
            }
            if let Some(v) = ranking {
                p.ranking = suite_list(v);
            }
            let p = api.set_policy(p).await.map_err(status)?.into_inner();
            print_policy(conn.json, &p);
        }
    }
    Ok(())
}

/// `e4c2 client-policy`.
pub async fn client_policy(
    g: &ConnArgs,
    conn: OutputArgs,
    client: ClientArg,
    allowed: Option<Vec<String>>,
    clear: bool,
) -> Result<()> {
    if clear == allowed.is_some() {
        bail!("give --allowed SUITES or --clear");
    }
    let mut api = connect(g).await?;
    let c = api
        .set_client_policy(pb::ClientPolicy {
            client: Some(cref(&client)?),
            allowed: allowed.map(suite_list).unwrap_or_default(),
            clear,
        })
        .await
        .map_err(status)?
        .into_inner();
    print_client(conn.json, &c);
    Ok(())
}

/// `e4c2 topic …`.
pub async fn topic(g: &ConnArgs, cmd: TopicCmd) -> Result<()> {
    match cmd {
        TopicCmd::Add {
            conn,
            topic,
            format,
        } => new_topic(g, conn, topic, format).await?,
        TopicCmd::Format {
            conn,
            topic,
            format,
            wait,
        } => topic_format(g, conn, topic, format, wait).await?,
        TopicCmd::Get { conn, topic } => {
            let mut api = connect(g).await?;
            let t = api
                .get_topic(tref(&topic))
                .await
                .map_err(status)?
                .into_inner();
            print_topic(conn.json, &t);
        }
        TopicCmd::Remove { conn, topic, wait } => {
            let mut api = connect(g).await?;
            let q = api
                .remove_topic(tref(&topic))
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, Some(wait)).await?;
        }
        TopicCmd::List { conn, page } => {
            let mut api = connect(g).await?;
            let total = api
                .count_topics(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner()
                .count;
            let l = api
                .list_topics(pg(page))
                .await
                .map_err(status)?
                .into_inner();
            print_topics(conn.json, total, &l.topics);
        }
        TopicCmd::Rotate { conn, topic, wait } => {
            let mut api = connect(g).await?;
            let q = api
                .rotate_topic_key(tref(&topic))
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, Some(wait)).await?;
        }
        TopicCmd::Clients { conn, topic, page } => {
            let mut api = connect(g).await?;
            let total = api
                .count_clients_for_topic(tref(&topic))
                .await
                .map_err(status)?
                .into_inner()
                .count;
            let l = api
                .list_clients_for_topic(pb::TopicPage {
                    topic,
                    offset: page.offset,
                    count: page.count,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_clients(conn.json, total, &l.clients);
        }
        TopicCmd::Join {
            conn,
            topic,
            client,
        } => {
            let mut api = connect(g).await?;
            let q = api
                .add_client_to_topic(pb::Membership {
                    client: Some(cref(&client)?),
                    topic,
                })
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, None).await?;
        }
        TopicCmd::Leave {
            conn,
            topic,
            client,
            no_rotate,
        } => {
            let mut api = connect(g).await?;
            let q = api
                .remove_client_from_topic(pb::Leave {
                    client: Some(cref(&client)?),
                    topic: topic.clone(),
                    keep_key: no_rotate,
                })
                .await
                .map_err(status)?
                .into_inner();
            if no_rotate && !conn.json {
                eprintln!(
                    "warning: the key of {topic:?} was not rotated: the removed client can read it until the next `e4c2 topic rotate`"
                );
            }
            queued(&mut api, conn.json, q, None).await?;
        }
    }
    Ok(())
}

/// `e4c2 c2 …`.
pub async fn c2(g: &ConnArgs, cmd: C2Cmd) -> Result<()> {
    match cmd {
        C2Cmd::NewKey { conn, suite, wait } => {
            let mut api = connect(g).await?;
            let q = api
                .new_c2_key(pb::NewC2KeyRequest {
                    suite: suite.unwrap_or_default(),
                })
                .await
                .map_err(status)?
                .into_inner();
            queued(&mut api, conn.json, q, Some(wait)).await?;
        }
        C2Cmd::CryptoMode { conn } => {
            let mut api = connect(g).await?;
            let m = api
                .get_crypto_mode(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner();
            if conn.json {
                let v: Vec<Value> = m
                    .suites
                    .iter()
                    .map(|s| json!({"suite": s.suite, "c2_public_key": hex::encode(&s.c2_public_key), "c2_key_version": s.c2_key_version, "clients": s.clients}))
                    .collect();
                println!("{}", json!({"suites": v, "default_suite": m.default_suite}));
            } else {
                let rows: Vec<Vec<String>> = m
                    .suites
                    .iter()
                    .map(|s| {
                        let pk = hex::encode(&s.c2_public_key);
                        let short = if pk.len() > 24 {
                            format!("{}…", &pk[..24])
                        } else {
                            pk
                        };
                        vec![
                            s.suite.clone(),
                            s.clients.to_string(),
                            s.c2_key_version.to_string(),
                            short,
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(
                        &["SUITE", "CLIENTS", "C2 KEY VERSION", "C2 PUBLIC KEY"],
                        &rows
                    )
                );
            }
        }
    }
    Ok(())
}

/// `e4c2 protect`.
pub async fn protect(g: &ConnArgs, conn: OutputArgs, topic: String, payload: String) -> Result<()> {
    let mut api = connect(g).await?;
    let r = api
        .protect_message(pb::ProtectRequest {
            topic,
            payload: payload.into_bytes(),
        })
        .await
        .map_err(status)?
        .into_inner();
    let b = base64::engine::general_purpose::STANDARD.encode(&r.protected);
    if conn.json {
        println!("{}", json!({"protected": b}));
    } else {
        println!("{b}");
    }
    Ok(())
}

/// `e4c2 unprotect`.
pub async fn unprotect(
    g: &ConnArgs,
    conn: OutputArgs,
    topic: String,
    protected: String,
) -> Result<()> {
    let msg = base64::engine::general_purpose::STANDARD
        .decode(protected.trim())
        .context("the message is not base64")?;
    let mut api = connect(g).await?;
    let r = api
        .unprotect_message(pb::UnprotectRequest {
            topic,
            protected: msg,
        })
        .await
        .map_err(status)?
        .into_inner();
    if conn.json {
        println!(
            "{}",
            json!({"payload": base64::engine::general_purpose::STANDARD.encode(&r.payload), "sender_id": hex::encode(&r.sender_id)})
        );
    } else {
        println!("{}", String::from_utf8_lossy(&r.payload));
    }
    Ok(())
}

/// `e4c2 events`.
pub async fn events(g: &ConnArgs, conn: OutputArgs) -> Result<()> {
    let mut api = connect(g).await?;
    let mut s = api
        .subscribe_to_event_stream(pb::Empty {})
        .await
        .map_err(status)?
        .into_inner();
    if !conn.json {
        eprintln!("waiting for events (Ctrl-C to stop)");
        println!(
            "{:<20}  {:<20} {:<20} TOPIC",
            "TIME (UTC)", "EVENT", "CLIENT"
        );
    }
    while let Some(e) = s.next().await {
        let e = e.map_err(status)?;
        if conn.json {
            println!(
                "{}",
                json!({"type": e.r#type, "client": e.client, "client_id": hex::encode(&e.client_id), "topic": e.topic,
                       "rule": null_if_empty(&e.rule), "detail": null_if_empty(&e.detail), "timestamp": e.timestamp})
            );
        } else if !e.rule.is_empty() {
            // Rule events name no client or topic: the rule and what it did.
            println!(
                "{:<20}  {:<20} rule {:?}: {}",
                iso_ms(e.timestamp),
                e.r#type,
                e.rule,
                e.detail
            );
        } else {
            println!(
                "{:<20}  {:<20} {:<20} {}",
                iso_ms(e.timestamp),
                e.r#type,
                e.client,
                e.topic
            );
        }
    }
    Ok(())
}

/// `e4c2 health`.
pub async fn health(g: &ConnArgs, conn: OutputArgs, wait: f64) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(wait.max(0.0));
    let h = loop {
        let attempt = async {
            let mut api = connect(g).await?;
            let h = api.health_check(pb::Empty {}).await.map_err(status)?;
            Ok::<_, anyhow::Error>(h.into_inner())
        }
        .await;
        match attempt {
            Ok(h) => break h,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => return Err(e),
        }
    };
    if conn.json {
        println!(
            "{}",
            json!({"status": h.status, "problems": h.problems, "database": h.database, "broker": h.broker,
                   "delivery": h.delivery, "outbox_pending": h.outbox_pending,
                   "oldest_pending_seconds": h.oldest_pending_seconds, "publish_window": h.publish_window,
                   "broker_failures": h.broker_failures, "devices_out_of_date": h.devices_out_of_date,
                   "devices_never_reported": h.devices_never_reported, "version": h.version})
        );
    } else {
        let mut rows = vec![
            vec!["status".to_string(), h.status.clone()],
            vec!["database".into(), h.database.to_string()],
            vec!["broker".into(), h.broker.to_string()],
            vec!["delivery".into(), h.delivery.clone()],
            vec!["outbox pending".into(), h.outbox_pending.to_string()],
            vec![
                "oldest pending".into(),
                format!("{} s", h.oldest_pending_seconds),
            ],
            vec!["publish window".into(), h.publish_window.to_string()],
            vec![
                "devices out of date".into(),
                h.devices_out_of_date.to_string(),
            ],
            vec![
                "devices never reported".into(),
                h.devices_never_reported.to_string(),
            ],
            vec!["version".into(), h.version.clone()],
        ];
        for p in &h.problems {
            rows.push(vec!["problem".into(), p.clone()]);
        }
        print!("{}", table::render(&["FIELD", "VALUE"], &rows));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_have_sensible_precision() {
        assert_eq!(super::rate(1234.5678), "1235 commands/s");
        assert_eq!(super::rate(2.345), "2.3 commands/s");
    }
}
