//! The binary: zero-setup first start, the admin CLI over gRPC (tables and
//! --json), offline passphrase change and token rotation.

use crate::common;

use common::external::send_signal;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn e4c2() -> Command {
    Command::new(env!("CARGO_BIN_EXE_e4c2"))
}

fn serve(dir: &Path) -> Child {
    e4c2()
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--kdf-memory-kib",
            "1024",
            "--log",
            "warn",
        ])
        .env_remove("E4C2_PASSPHRASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_up(dir: &Path) {
    for _ in 0..3000 {
        if dir.join("server.json").exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server did not start");
}

fn stop(mut c: Child) -> String {
    send_signal(c.id(), 15);
    let status = c.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut s = String::new();
    use std::io::Read;
    if let Some(mut o) = c.stdout.take() {
        o.read_to_string(&mut s).unwrap();
    }
    s
}

fn admin(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = e4c2()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn zero_setup_start_admin_cli_and_offline_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");

    // First start: everything generated, the admin token printed once.
    let mut c = serve(&dir);
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("admin token"), "{line}");
    let mut token = String::new();
    out.read_line(&mut token).unwrap();
    c.stdout = None;
    wait_up(&dir);
    let saved = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    assert_eq!(saved.trim(), token.trim());
    assert!(token.starts_with("e4c2_"));
    for f in [
        "admin.token",
        "passphrase",
        "tls/key.pem",
        "c2.db",
        "e4c2.lock",
        "mqtt.password",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("tls")), 0o700);

    // The admin CLI finds address, certificate and token in the data dir.
    let (ok, o, e) = admin(&dir, &["client", "add", "dev1", "--json"]);
    assert!(ok, "{e}");
    let v = json(&o);
    assert_eq!(v["name"], "dev1");
    assert_eq!(v["key"].as_str().unwrap().len(), 64);
    assert_eq!(v["mqtt"]["username"], v["id"]);
    assert_eq!(v["mqtt"]["password"].as_str().unwrap().len(), 64);
    let (ok, o, e) = admin(&dir, &["client", "add", "dev2"]);
    assert!(ok, "{e}");
    assert!(o.contains("generated key (shown once)"), "{o}");
    assert!(o.contains("MQTT user "), "{o}");
    let (ok, o, e) = admin(&dir, &["client", "mqtt-password", "dev2", "--json"]);
    assert!(ok, "{e}");
    assert_eq!(json(&o)["password"].as_str().unwrap().len(), 64);
    assert!(admin(&dir, &["topic", "add", "plant/line-1"]).0);
    for d in ["dev1", "dev2"] {
        let (ok, o, e) = admin(&dir, &["topic", "join", "plant/line-1", d, "--json"]);
        assert!(ok, "{e}");
        assert_eq!(json(&o)["commands_queued"], 1);
    }
    let (ok, o, _) = admin(&dir, &["client", "list", "--json", "--count", "1"]);
    assert!(ok);
    let v = json(&o);
    assert_eq!(v["total"], 2);
    assert_eq!(v["clients"].as_array().unwrap().len(), 1);
    let (ok, o, _) = admin(&dir, &["client", "list"]);
    assert!(ok);
    assert!(o.starts_with("NAME"), "{o}");
    assert!(o.contains("dev2") && o.contains("2 of 2"), "{o}");
    // A fleet-wide operation waits for delivery (progress bar on a terminal).
    let (ok, o, e) = admin(
        &dir,
        &["topic", "rotate", "plant/line-1", "--wait-devices", "0"],
    );
    assert!(ok, "{e}");
    assert!(o.contains("2 command(s) queued"), "{o}");
    assert!(
        o.contains("acknowledged by the broker: 2/2; confirmed by devices: 0/2"),
        "{o}"
    );
    // The devices never connected: C2 does not know what they hold.
    let (ok, o, _) = admin(&dir, &["client", "list"]);
    assert!(ok);
    assert!(
        o.contains("KEYS") && o.contains("unknown (never reported)"),
        "{o}"
    );
    let (ok, o, _) = admin(&dir, &["client", "get", "dev1", "--json"]);
    assert!(ok);
    let v = json(&o);
    assert_eq!(v["delivery"]["up_to_date"], "unknown", "{v}");
    assert_eq!(v["delivery"]["topics_unconfirmed"], 1, "{v}");
    // A device's whole state again: the key of its one topic.
    let (ok, o, e) = admin(&dir, &["client", "resync", "dev1", "--json"]);
    assert!(ok, "{e}");
    assert_eq!(json(&o)["commands_queued"], 1);
    let (ok, _, e) = admin(&dir, &["client", "resync", "nobody"]);
    assert_eq!((ok, e.trim()), (false, "e4c2: client \"nobody\" not found"));
    let (ok, o, _) = admin(&dir, &["topic", "get", "plant/line-1", "--json"]);
    assert!(ok);
    let v = json(&o);
    assert_eq!(
        (v["key_version"].as_i64(), v["members_confirmed"].as_u64()),
        (Some(2), Some(0)),
        "{v}"
    );
    let (ok, o, _) = admin(&dir, &["topic", "clients", "plant/line-1", "--json"]);
    assert!(ok);
    assert_eq!(json(&o)["total"], 2);
    let (ok, o, _) = admin(&dir, &["health", "--json"]);
    assert!(ok);
    assert_eq!(json(&o)["database"], true);
    let (ok, o, _) = admin(&dir, &["c2", "crypto-mode"]);
    assert!(ok);
    assert!(o.contains("pq-draft"), "{o}");
    let (ok, o, _) = admin(&dir, &["protect", "plant/line-1", "hello", "--json"]);
    assert!(ok);
    let protected = json(&o)["protected"].as_str().unwrap().to_string();
    let (ok, o, _) = admin(&dir, &["unprotect", "plant/line-1", &protected]);
    assert!(ok);
    assert_eq!(o.trim(), "hello");
    let (ok, _, e) = admin(&dir, &["client", "get", "nobody"]);
    assert!(!ok);
    assert_eq!(e.trim(), "e4c2: client \"nobody\" not found");

    // Offline commands refuse to run next to the server.
    let (ok, _, e) = admin(&dir, &["rotate-token"]);
    assert!(
        !ok && e.contains("another e4c2 process uses the data directory"),
        "{e}"
    );
    assert!(!e.contains("invalid argument"), "{e}");
    stop(c);

    // Restart: no new token is printed.
    let c = serve(&dir);
    wait_up(&dir);
    let printed = stop(c);
    assert!(!printed.contains("admin token"), "{printed}");

    // Offline passphrase change: the generated passphrase file is updated.
    let old_pass = std::fs::read_to_string(dir.join("passphrase")).unwrap();
    let out = e4c2()
        .args(["passphrase", "--kdf-memory-kib", "1024", "--data-dir"])
        .arg(&dir)
        .env("E4C2_NEW_PASSPHRASE", "operator chosen passphrase 2026")
        .env_remove("E4C2_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_pass = std::fs::read_to_string(dir.join("passphrase")).unwrap();
    assert_eq!(new_pass.trim(), "operator chosen passphrase 2026");
    assert_ne!(new_pass, old_pass);
    // The old passphrase no longer opens the database.
    let out = e4c2()
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
        ])
        .env("E4C2_PASSPHRASE", old_pass.trim())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong passphrase"), "{err}");
    // Logs to a pipe carry no colour escape codes.
    assert!(!err.contains('\x1b'), "{err:?}");

    // Token rotation: the old token is refused, the new one works.
    let (ok, o, e) = admin(&dir, &["rotate-token"]);
    assert!(ok, "{e}");
    assert!(o.contains("new admin token"));
    let c = serve(&dir);
    wait_up(&dir);
    let old_token = tmp.path().join("old.token");
    std::fs::write(&old_token, token.trim()).unwrap();
    let out = e4c2()
        .args(["client", "list", "--data-dir"])
        .arg(&dir)
        .arg("--token-file")
        .arg(&old_token)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "the server refused the admin token from --token-file {}",
            old_token.display()
        )),
        "{err}"
    );
    let (ok, o, e) = admin(&dir, &["client", "list", "--json"]);
    assert!(ok, "{e}");
    assert_eq!(json(&o)["total"], 2, "state survived the passphrase change");
    let (ok, o, _) = admin(&dir, &["unprotect", "plant/line-1", &protected]);
    assert!(ok, "topic key still decrypts under the new passphrase");
    assert_eq!(o.trim(), "hello");
    stop(c);
}

/// `e4c2 serve` with the default log filter, its log kept in `log`.
fn serve_logged(dir: &Path, log: &Path) -> Child {
    e4c2()
        .args(["--data-dir"])
        .arg(dir)
        .args([
            "serve",
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--kdf-memory-kib",
            "1024",
        ])
        .env_remove("E4C2_PASSPHRASE")
        .env_remove("E4C2_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn a_failed_start_leaves_nothing_and_keeps_the_token_display() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = e4c2()
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--grpc-listen", &port, "--http-listen", "127.0.0.1:0"])
        .args(["--mqtt-listen", "127.0.0.1:0", "--kdf-memory-kib", "1024"])
        .env_remove("E4C2_PASSPHRASE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("gRPC on {port}")), "{err}");
    assert!(!dir.exists(), "a failed first start left {}", dir.display());
    // The next start is a first start: the token is shown.
    let log = tmp.path().join("serve.log");
    let mut c = serve_logged(&dir, &log);
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("admin token"), "{first}");
    wait_up(&dir);
    stop(c);
    drop(out);
}

#[test]
fn operator_cli_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = tmp.path().join("serve.log");
    let c = serve_logged(&dir, &log);
    wait_up(&dir);
    let run = |args: &[&str]| {
        let out = e4c2()
            .args(args)
            .env_remove("E4C2_DATA_DIR")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let d = dir.to_str().unwrap();

    // Global options before the command, and from the environment.
    let (ok, o, e) = run(&["--data-dir", d, "client", "list", "--json"]);
    assert!(ok, "{e}");
    assert_eq!(json(&o)["total"], 0);
    let out = e4c2()
        .args(["client", "list", "--json"])
        .env("E4C2_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = e4c2().args(["topic", "add", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for opt in ["--data-dir", "--server", "--token-file"] {
        assert!(help.contains(opt), "{opt} missing from: {help}");
    }

    // Provisioning files: one per suite, 0600, never overwritten.
    for (name, suite) in [
        ("s1", "symmetric"),
        ("p1", "pubkey"),
        ("q1", "pq"),
        ("h1", "hybrid"),
    ] {
        let file = tmp.path().join(format!("{name}.json"));
        let f = file.to_str().unwrap();
        let (ok, o, e) = run(&[
            "--data-dir",
            d,
            "client",
            "add",
            name,
            "--suite",
            suite,
            "--out",
            f,
        ]);
        assert!(ok, "{suite}: {e}");
        assert!(o.contains("provisioning file written to"), "{o}");
        assert_eq!(mode(&file), 0o600);
        let p = e4_client::Provisioning::read(&file).unwrap();
        assert_eq!((p.name.as_str(), p.suite.as_str()), (name, suite));
        let client = e4_client::Client::new(p.config().unwrap()).unwrap();
        let (ok, o, _) = run(&["--data-dir", d, "client", "get", name, "--json"]);
        assert!(ok);
        assert_eq!(json(&o)["id"], p.id);
        assert_eq!(client.suite().name(), suite);
        // C2 knows the device's public key, not its secret.
        let text = std::fs::read_to_string(&file).unwrap();
        if suite != "symmetric" {
            assert_eq!(
                json(&o)["sig_public_key"],
                hex::encode(client.public_key().unwrap())
            );
        }
        assert!(text.contains(&format!("\"broker\": \"{}\"", broker_of(&dir))));
        // The broker credentials C2 issued with the device.
        let mqtt = p.mqtt_credentials().expect("MQTT credentials");
        assert_eq!(mqtt.username, p.id);
        assert_eq!(mqtt.password.len(), 64);
    }
    let f = tmp.path().join("s1.json");
    let (ok, _, e) = run(&[
        "--data-dir",
        d,
        "client",
        "add",
        "s2",
        "--out",
        f.to_str().unwrap(),
    ]);
    assert!(!ok && e.contains("already exists"), "{e}");
    let (_, o, _) = run(&["--data-dir", d, "client", "get", "s2"]);
    assert!(o.is_empty(), "a refused add registered the client: {o}");

    // Error texts: what happened, once.
    let (ok, _, e) = run(&["--data-dir", d, "topic", "get", "nope"]);
    assert_eq!((ok, e.trim()), (false, "e4c2: topic \"nope\" not found"));
    let (ok, _, e) = run(&["--data-dir", d, "topic", "add", "a\nb"]);
    assert!(
        !ok && !e.contains("InvalidArgument") && !e.contains("invalid argument: "),
        "{e}"
    );
    let gone = tmp.path().join("elsewhere");
    let (ok, _, e) = run(&[
        "--data-dir",
        gone.to_str().unwrap(),
        "--server",
        "https://127.0.0.1:1",
        "health",
    ]);
    assert!(!ok);
    assert!(e.contains("--data-dir"), "{e}");

    // Events: a header, then ISO times.
    let mut ev = e4c2()
        .args(["--data-dir", d, "events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(ev.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(
        header.starts_with("TIME (UTC)") && header.contains("EVENT"),
        "{header}"
    );
    assert!(run(&["--data-dir", d, "topic", "add", "plant/a"]).0);
    let (ok, _, e) = run(&["--data-dir", d, "topic", "join", "plant/a", "s1"]);
    assert!(ok, "{e}");
    let added = lines.next().unwrap().unwrap();
    let joined = lines.next().unwrap().unwrap();
    assert!(
        added.contains("topic_added") && added.contains("plant/a"),
        "{added}"
    );
    assert!(
        joined.contains("client_joined") && joined.contains("s1"),
        "{joined}"
    );
    assert!(
        added.starts_with("20") && added.as_bytes()[10] == b'T',
        "{added}"
    );
    let _ = ev.kill();
    let _ = ev.wait();

    let _ = stop(c);
    // A normal start and stop logs no ERROR (the embedded broker's clients
    // leaving are not errors), and every state change once at info.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("ERROR"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    for what in ["client added", "topic added", "client joined topic"] {
        assert!(text.contains(what), "no `{what}` in: {text}");
    }
}

/// The broker address a provisioning file gets from server.json.
fn broker_of(dir: &Path) -> String {
    let v = json(&std::fs::read_to_string(dir.join("server.json")).unwrap());
    v["mqtt"]
        .as_str()
        .unwrap()
        .trim_start_matches("mqtt://")
        .to_string()
}

/// `e4c2 rule …`: add, list (table and JSON), a dry run that changes
/// nothing, a manual fire and its history, disable and enable, refusals
/// with the server's message, removal; rule events in `e4c2 events`.
#[test]
fn rule_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let c = serve(&dir);
    wait_up(&dir);
    let run = |args: &[&str]| admin(&dir, args);
    let topic = "plant/rules";
    let target = format!("topic:{topic}");
    assert!(run(&["topic", "add", topic]).0);
    for d in ["r1", "r2"] {
        assert!(run(&["client", "add", d]).0);
        let (ok, _, e) = run(&["topic", "join", topic, d]);
        assert!(ok, "{e}");
    }
    let key_version = || {
        let (ok, o, e) = run(&["topic", "get", topic, "--json"]);
        assert!(ok, "{e}");
        json(&o)["key_version"].as_i64().unwrap()
    };
    let v0 = key_version();

    let (ok, o, e) = run(&[
        "rule",
        "add",
        "hourly",
        "--target",
        &target,
        "--trigger",
        "every:1h",
        "--action",
        "rotate-topic-key",
    ]);
    assert!(ok, "{e}");
    assert!(
        o.contains("every:1h") && o.contains("rotate-topic-key"),
        "{o}"
    );

    // The list: a table, and JSON.
    let (ok, o, e) = run(&["rule", "list"]);
    assert!(ok, "{e}");
    assert!(o.starts_with("NAME") && o.contains("NEXT FIRE"), "{o}");
    let row = o.lines().find(|l| l.starts_with("hourly")).expect(&o);
    for cell in ["yes", "topic:plant/rules", "every:1h", "rotate-topic-key"] {
        assert!(row.contains(cell), "{cell} missing from: {row}");
    }
    assert!(o.contains("1 rule(s)"), "{o}");
    let (ok, o, _) = run(&["rule", "list", "--json"]);
    assert!(ok);
    let v = json(&o);
    let r = &v["rules"][0];
    assert_eq!(
        (&r["name"], &r["target"], &r["action"], &r["missed"]),
        (
            &json("\"hourly\""),
            &json("\"topic:plant/rules\""),
            &json("\"rotate-topic-key\""),
            &json("\"fire-once\"")
        ),
        "{v}"
    );
    assert_eq!(r["triggers"], json(r#"["every:1h"]"#), "{v}");
    assert_eq!(r["enabled"], true, "{v}");
    assert!(r["next_fire_at"].as_i64().unwrap() > 0, "{v}");
    assert!(r["last_fired_at"].is_null(), "{v}");

    // Rule events, followed from here.
    let mut ev = e4c2()
        .args(["events", "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(ev.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(header.starts_with("TIME (UTC)"), "{header}");

    // A dry run says what it would do and changes nothing.
    let (ok, o, e) = run(&["rule", "fire", "hourly", "--dry-run"]);
    assert!(ok, "{e}");
    assert!(o.contains("would queue 2 command(s)"), "{o}");
    assert!(o.contains("nothing was queued or changed"), "{o}");
    let (ok, o, _) = run(&["rule", "fire", "hourly", "--dry-run", "--json"]);
    assert!(ok);
    let v = json(&o);
    assert_eq!(
        (v["dry_run"].as_bool(), v["commands"].as_u64()),
        (Some(true), Some(2)),
        "{v}"
    );
    assert_eq!(key_version(), v0, "a dry run rotated the key");
    let (ok, o, _) = run(&["rule", "history", "hourly", "--json"]);
    assert!(ok);
    assert_eq!(json(&o)["firings"], json("[]"), "a dry run left history");

    // Fire now: the key is rotated, the history has a manual row.
    let (ok, o, e) = run(&["rule", "fire", "hourly", "--wait-devices", "0"]);
    assert!(ok, "{e}");
    assert!(o.contains("2 command(s) queued"), "{o}");
    assert_eq!(key_version(), v0 + 1);
    // The rotation's own event, then the rule's.
    let rotated = lines.next().unwrap().unwrap();
    assert!(rotated.contains("topic_key_rotated"), "{rotated}");
    let fired = lines.next().unwrap().unwrap();
    assert!(
        fired.contains("rule_fired") && fired.contains("rule \"hourly\""),
        "{fired}"
    );
    let _ = ev.kill();
    let _ = ev.wait();
    let (ok, o, e) = run(&["rule", "history", "hourly"]);
    assert!(ok, "{e}");
    assert!(o.starts_with("ID") && o.contains("REASON"), "{o}");
    let row = o.lines().nth(2).expect(&o);
    assert!(
        row.contains("manual") && row.contains("fired") && row.contains("  2  "),
        "{o}"
    );
    let (ok, o, _) = run(&["rule", "history", "hourly", "--json", "--limit", "5"]);
    assert!(ok);
    let v = json(&o);
    let f = &v["firings"][0];
    assert_eq!(
        (
            f["reason"].as_str(),
            f["outcome"].as_str(),
            f["commands"].as_u64()
        ),
        (Some("manual"), Some("fired"), Some(2)),
        "{v}"
    );
    let (ok, o, _) = run(&["rule", "show", "hourly"]);
    assert!(ok);
    assert!(o.contains("last firings:") && o.contains("manual"), "{o}");
    let (ok, o, _) = run(&["rule", "show", "hourly", "--json"]);
    assert!(ok);
    let v = json(&o);
    assert!(v["last_fired_at"].as_i64().is_some(), "{v}");
    assert_eq!(v["last_firings"].as_array().unwrap().len(), 1, "{v}");

    // Disable, enable.
    let (ok, o, e) = run(&["rule", "disable", "hourly", "--json"]);
    assert!(ok, "{e}");
    let v = json(&o);
    assert_eq!(
        (v["enabled"].as_bool(), v["next_fire_at"].is_null()),
        (Some(false), true),
        "{v}"
    );
    let (ok, o, _) = run(&["rule", "list"]);
    assert!(ok);
    let row = o.lines().find(|l| l.starts_with("hourly")).expect(&o);
    assert!(row.contains("no") && row.contains("(disabled)"), "{row}");
    let (ok, o, e) = run(&["rule", "enable", "hourly", "--json"]);
    assert!(ok, "{e}");
    let v = json(&o);
    assert_eq!(v["enabled"], true, "{v}");
    assert!(v["next_fire_at"].as_i64().is_some(), "{v}");
    let (ok, _, e) = run(&[
        "rule",
        "add",
        "hourly",
        "--target",
        &target,
        "--trigger",
        "every:2h",
        "--action",
        "rotate-topic-key",
    ]);
    assert!(!ok && e.contains("already exists"), "{e}");

    // Refusals: the server's message, nothing added.
    let (ok, _, e) = run(&[
        "rule",
        "add",
        "bad-cron",
        "--target",
        &target,
        "--trigger",
        "cron:0 61 * * * *",
        "--action",
        "rotate-topic-key",
    ]);
    assert!(!ok);
    assert!(e.contains("field 2 (minutes) \"61\""), "{e}");
    assert!(!e.contains("InvalidArgument"), "{e}");
    let (ok, _, e) = run(&[
        "rule",
        "add",
        "no-topic",
        "--target",
        "topic:nope",
        "--trigger",
        "every:1h",
        "--action",
        "rotate-topic-key",
    ]);
    assert_eq!((ok, e.trim()), (false, "e4c2: topic \"nope\" not found"));
    let (ok, o, _) = run(&["rule", "list", "--json"]);
    assert!(ok);
    assert_eq!(json(&o)["rules"].as_array().unwrap().len(), 1, "{o}");

    // Removal.
    let (ok, o, e) = run(&["rule", "remove", "hourly"]);
    assert!(ok, "{e}");
    assert!(o.contains("removed"), "{o}");
    let (ok, o, _) = run(&["rule", "list", "--json"]);
    assert!(ok);
    assert_eq!(json(&o)["rules"], json("[]"), "{o}");
    let (ok, _, e) = run(&["rule", "show", "hourly"]);
    assert_eq!((ok, e.trim()), (false, "e4c2: rule \"hourly\" not found"));
    let _ = stop(c);
}
