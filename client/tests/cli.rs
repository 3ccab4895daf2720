//! The `e4` binary: keygen, protect/unprotect against e4go's vectors, exit
//! codes, and an interactive session on a real broker.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{hexv, random, vectors, Broker, C2};
use e4_client::mqtt::{E4Mqtt, Event, MqttConfig};
use e4_client::{Client, Config, SymKey};
use e4_proto::SuiteId;

fn e4(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e4"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading its input closes the pipe early.
    match child.stdin.take().unwrap().write_all(stdin) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_private_files_and_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], usize, Option<usize>); 6] = [
        ("symmetric", &[], 32, None),
        ("ed25519", &[], 64, Some(32)),
        ("curve25519", &[], 32, Some(32)),
        ("ml-kem", &[], 2400, Some(1184)),
        ("ml-dsa", &[], 4032, Some(1952)),
        ("ml-dsa", &["--suite", "pq-draft"], 4032, Some(1952)),
    ];
    for (i, (kind, extra, secret_len, public_len)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("k{i}"));
        let out_s = out.to_str().unwrap();
        let mut args = vec!["keygen", "--type", kind, "--out", out_s];
        args.extend_from_slice(extra);
        let o = e4(&args, b"");
        assert_eq!(code(&o), 0, "{kind}: {}", stderr(&o));
        assert_eq!(std::fs::read(&out).unwrap().len(), *secret_len, "{kind}");
        assert_eq!(mode(&out), 0o600);
        let public = dir.path().join(format!("k{i}.pub"));
        match public_len {
            Some(n) => {
                assert_eq!(std::fs::read(&public).unwrap().len(), *n);
                assert_eq!(mode(&public), 0o600);
            }
            None => assert!(!public.exists()),
        }
        let before = std::fs::read(&out).unwrap();
        let again = e4(&args, b"");
        assert_eq!(code(&again), 1);
        assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
        assert_eq!(std::fs::read(&out).unwrap(), before);
        args.push("--force");
        assert_eq!(code(&e4(&args, b"")), 0);
        assert_ne!(
            std::fs::read(&out).unwrap(),
            before,
            "{kind}: --force writes a new key"
        );
    }
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    for bad in [
        vec!["keygen", "--type", "rsa", "--out", out],
        vec![
            "keygen",
            "--type",
            "ml-kem",
            "--suite",
            "symmetric",
            "--out",
            out,
        ],
        vec![
            "keygen",
            "--type",
            "symmetric",
            "--suite",
            "pq",
            "--out",
            out,
        ],
        vec![
            "keygen",
            "--type",
            "curve25519",
            "--password-file",
            out,
            "--out",
            out,
        ],
        vec!["keygen"],
    ] {
        let o = e4(&bad, b"");
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(!Path::new(out).exists());
    }
}

#[test]
fn keygen_from_a_password_matches_e4go() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    let mut checked = 0;
    for v in vectors("derived.jsonl") {
        let (kind, field) = match v["kind"].as_str().unwrap() {
            "symkey_from_password" => ("symmetric", "key"),
            "ed25519_from_password" => ("ed25519", "ed25519_private_key"),
            _ => continue,
        };
        if v["expect"] != "ok" || v["password"].as_str().unwrap().contains('\n') {
            continue;
        }
        std::fs::write(&pw, format!("{}\n", v["password"].as_str().unwrap())).unwrap();
        let out = dir.path().join(format!("k{checked}"));
        let o = e4(
            &[
                "keygen",
                "--type",
                kind,
                "--password-file",
                pw.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            hexv(&v[field]),
            "{}",
            v["case"]
        );
        checked += 1;
    }
    assert!(checked >= 2);
}

#[test]
fn protect_reproduces_e4go_vectors_and_unprotect_reads_them() {
    for v in vectors("symkey_messages.jsonl") {
        if v["expect"] != "ok" || v["timestamp"] != v["now"] {
            continue;
        }
        let (topic, key, now) = (
            v["topic"].as_str().unwrap(),
            v["topic_key"].as_str().unwrap(),
            v["now"].to_string(),
        );
        let o = e4(
            &[
                "protect",
                "--topic",
                topic,
                "--topic-key",
                key,
                "--now",
                &now,
            ],
            &hexv(&v["plaintext"]),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(o.stdout, hexv(&v["protected"]), "{}", v["case"]);
        let o = e4(
            &[
                "unprotect",
                "--topic",
                topic,
                "--topic-key",
                key,
                "--now",
                &now,
            ],
            &hexv(&v["protected"]),
        );
        assert_eq!(o.stdout, hexv(&v["plaintext"]));
        // Ten minutes later the message is too old.
        let late = (v["now"].as_u64().unwrap() + 600).to_string();
        let o = e4(
            &[
                "unprotect",
                "--topic",
                topic,
                "--topic-key",
                key,
                "--now",
                &late,
            ],
            &hexv(&v["protected"]),
        );
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("timestamp too old"), "{}", stderr(&o));
    }
    for v in vectors("pubkey_messages.jsonl") {
        if v["expect"] != "ok" || v["timestamp"] != v["now"] {
            continue;
        }
        let s = |f: &str| v[f].as_str().unwrap().to_owned();
        let now = v["now"].to_string();
        let o = e4(
            &[
                "protect",
                "--suite",
                "pubkey",
                "--topic",
                &s("topic"),
                "--topic-key",
                &s("topic_key"),
                "--signing-key",
                &s("sender_ed25519_private_key"),
                "--id",
                &s("sender_id"),
                "--now",
                &now,
            ],
            &hexv(&v["plaintext"]),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(o.stdout, hexv(&v["protected"]), "{}", v["case"]);
        let o = e4(
            &[
                "unprotect",
                "--suite",
                "pubkey",
                "--topic",
                &s("topic"),
                "--topic-key",
                &s("topic_key"),
                "--sender-key",
                &s("sender_ed25519_public_key"),
                "--sender-name",
                &s("sender_name"),
                "--now",
                &now,
            ],
            &hexv(&v["protected"]),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(o.stdout, hexv(&v["plaintext"]));
    }
}

#[test]
fn post_quantum_round_trip_with_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    for (kind, name) in [("ml-dsa", "signer"), ("symmetric", "topic")] {
        let o = e4(&["keygen", "--type", kind, "--out", &p(name)], b"");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let (signer, signer_pub, topic) = (p("signer"), p("signer.pub"), p("topic"));
    let o = e4(
        &[
            "protect",
            "--suite",
            "pq",
            "--topic",
            "t",
            "--topic-key",
            &topic,
            "--signing-key",
            &signer,
            "--name",
            "dev",
        ],
        b"post-quantum payload",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let wire = o.stdout;
    let o = e4(
        &[
            "unprotect",
            "--suite",
            "pq",
            "--topic",
            "t",
            "--topic-key",
            &topic,
            "--sender-key",
            &signer_pub,
            "--sender-name",
            "dev",
        ],
        &wire,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(o.stdout, b"post-quantum payload");
    let o = e4(
        &[
            "unprotect",
            "--suite",
            "pq",
            "--topic",
            "t",
            "--topic-key",
            &topic,
            "--sender-key",
            &signer_pub,
            "--sender-name",
            "other",
        ],
        &wire,
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("signer public key not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unprotect_with_a_state_file_applies_commands() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev.e4");
    let c2 = C2::new(SuiteId::Symmetric);
    let key = SymKey::new(random());
    let client = Client::create(&state, Config::sym_id_and_key(None, key.clone())).unwrap();
    let dev = c2.register_symmetric(*client.id(), &key);
    let control = client.control_topic().to_string();
    drop(client);
    let topic_key = SymKey::new(random());
    let cmd = c2.set_topic_key(&dev, "plant/t", &topic_key, common::now());
    let s = state.to_str().unwrap();
    let o = e4(&["unprotect", "--state", s, "--topic", &control], &cmd);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("command applied: SetTopicKey"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    assert_eq!(mode(&state), 0o600);
    // The key is in the state now, and the command cannot be replayed.
    let o = e4(
        &["protect", "--state", s, "--topic", "plant/t"],
        b"from the state",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = e4(
        &[
            "unprotect",
            "--topic",
            "plant/t",
            "--topic-key",
            &hex::encode(topic_key.as_bytes()),
        ],
        &o.stdout,
    );
    assert_eq!(o.stdout, b"from the state");
    let o = e4(&["unprotect", "--state", s, "--topic", &control], &cmd);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("message replayed"), "{}", stderr(&o));
    // A damaged state is refused, not replaced.
    std::fs::write(&state, b"{\"format\": \"e4-client-state\", \"vers").unwrap();
    let o = e4(&["protect", "--state", s, "--topic", "plant/t"], b"x");
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("corrupted"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_with_2_and_failures_with_1() {
    let key = "00".repeat(31) + "01";
    for args in [
        vec![],
        vec!["protect"],
        vec!["protect", "--topic", "t"],
        vec!["protect", "--topic", "t", "--topic-key", "not-hex-nor-file"],
        vec![
            "protect",
            "--topic",
            "t",
            "--topic-key",
            &key,
            "--signing-key",
            &key,
        ],
        vec![
            "protect",
            "--suite",
            "pubkey",
            "--topic",
            "t",
            "--topic-key",
            &key,
        ],
        vec![
            "unprotect",
            "--suite",
            "pq",
            "--topic",
            "t",
            "--topic-key",
            &key,
        ],
        vec![
            "client",
            "--broker",
            "nonsense",
            "--state",
            "/nonexistent/x",
        ],
        vec!["frobnicate"],
    ] {
        let o = e4(&args, b"");
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--help"), "{args:?}: {}", stderr(&o));
    }
    let o = e4(
        &["unprotect", "--topic", "t", "--topic-key", &key],
        b"garbage that is long enough to parse",
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("e4 unprotect: error:"),
        "{}",
        stderr(&o)
    );
    for help in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["client", "--help"],
        vec!["protect", "--help"],
    ] {
        let o = e4(&help, b"");
        assert_eq!(code(&o), 0);
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: e4"));
    }
    let o = e4(&["id", "--name", "dev1"], b"");
    let out = String::from_utf8(o.stdout).unwrap();
    let id = Client::new(Config::sym_name_and_password("dev1", "0123456789abcdef")).unwrap();
    assert!(
        out.contains(&format!("control topic: {}", id.control_topic())),
        "{out}"
    );
}

/// Lines of a child's stdout (and stderr, with `Lines::of`), read on threads.
struct Lines(mpsc::Receiver<String>, Vec<String>);

impl Lines {
    /// The child's stdout and stderr lines, prefixed `stdout: ` and
    /// `stderr: ` (both must be piped).
    fn of(child: &mut std::process::Child) -> Lines {
        let (tx, rx) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        let err = BufReader::new(child.stderr.take().unwrap());
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(format!("stdout: {line}"));
            }
        });
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        Lines(rx, Vec::new())
    }

    /// Like `wait`, but a line already read counts: for lines of stdout
    /// and stderr, whose relative order is not kept.
    fn seen_or_wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        if !self.1.iter().any(|l| pred(l)) {
            self.wait(what, pred);
        }
    }

    fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    self.1.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "waiting for {what}; shell output so far:\n{}",
                    self.1.join("\n")
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_client_session() {
    let Some(broker) = Broker::start("interactive_client_session") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let state = dir.path().join("shell.e4");
    let key = SymKey::new(random());
    let mut peer = Client::new(Config::sym_id_and_key(None, SymKey::new(random()))).unwrap();
    peer.set_topic_key("chat/room", &key).unwrap();
    let mut peer = E4Mqtt::connect(peer, MqttConfig::new("127.0.0.1", broker.port)).unwrap();
    peer.subscribe("chat/room").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "peer subscription");
        if let Some(Event::Subscribed { filters }) = peer.next_event().await {
            if filters.iter().any(|f| f == "chat/room") {
                break;
            }
        }
    }

    let mut shell = Command::new(env!("CARGO_BIN_EXE_e4"))
        .args([
            "client",
            "--broker",
            &broker.address(),
            "--state",
            state.to_str().unwrap(),
        ])
        .args([
            "--name",
            "shell-device",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .args(["--subscribe", "chat/room"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::of(&mut shell);
    let mut input = shell.stdin.take().unwrap();
    lines.wait("the subscription", |l| {
        l.starts_with("stdout: subscribed to") && l.contains("chat/room")
    });
    let hex_key = hex::encode(key.as_bytes());
    writeln!(input, "e4msg chat/room before the key").unwrap();
    lines.wait("a refusal", |l| {
        l == "stderr: error: failed to protect message: topic key not found"
    });
    writeln!(input, "set-topic-key chat/room {hex_key}").unwrap();
    lines.wait("the key", |l| l == "stdout: topic key set for chat/room");
    writeln!(input, "e4msg chat/room hello from the shell").unwrap();
    writeln!(input, "clearmsg chat/room in clear").unwrap();
    lines.wait("the cleartext refusal", |l| {
        l.starts_with("stderr: error: failed to send cleartext message")
    });
    // The peer gets the protected message.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "peer reception");
        match peer.next_event().await {
            Some(Event::Message { payload, .. }) if payload == b"hello from the shell" => break,
            Some(Event::Message { payload, .. }) => panic!("unexpected {payload:?}"),
            _ => {}
        }
    }
    peer.publish("chat/room", b"hello shell").await.unwrap();
    lines.wait("the peer's message", |l| {
        l == "stdout: received protected message on topic chat/room: hello shell"
    });
    writeln!(input, "state").unwrap();
    lines.wait("the state", |l| l.contains("(chat/room)"));
    writeln!(input, "bogus").unwrap();
    lines.wait("unknown command", |l| {
        l == "stderr: error: unknown command `bogus`: type help"
    });
    writeln!(input, "exit").unwrap();
    lines.wait("exit", |l| l == "stdout: disconnected");
    // Standard input is not a terminal: the three failed commands make the
    // exit status 1.
    lines.seen_or_wait("the summary", |l| {
        l == "stderr: e4 client: error: 3 commands failed (errors above)"
    });
    assert_eq!(shell.wait().unwrap().code(), Some(1));
    assert_eq!(mode(&state), 0o600);
    // The key set in the shell was saved.
    let saved = Client::open(&state).unwrap();
    assert!(saved.has_topic_key("chat/room"));
    let named = Client::new(Config::sym_name_and_password(
        "shell-device",
        "correct horse battery staple",
    ))
    .unwrap();
    assert_eq!(saved.id(), named.id());
    peer.disconnect().await;
}

#[test]
fn keygen_makes_hybrid_keys() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, sk_min, pk_len) in [("ml-dsa", 1, 1984), ("ml-kem", 1, 1216)] {
        let out = dir.path().join(kind);
        let o = e4(
            &[
                "keygen",
                "--type",
                kind,
                "--suite",
                "hybrid",
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(std::fs::read(&out).unwrap().len() >= sk_min);
        let pub_path = dir.path().join(format!("{kind}.pub"));
        assert_eq!(std::fs::read(pub_path).unwrap().len(), pk_len, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_capabilities_announces() {
    let Some(broker) = Broker::start("client_with_capabilities_announces") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("neg.e4");
    let key = hex::encode(random::<32>());
    let mut shell = Command::new(env!("CARGO_BIN_EXE_e4"))
        .args(["client", "--broker", &broker.address()])
        .args(["--state", state.to_str().unwrap(), "--key", &key])
        .args(["--capabilities", "pq,hybrid", "--negotiation-retry", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(shell.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Lines(rx, Vec::new());
    let mut input = shell.stdin.take().unwrap();
    lines.wait("the offer", |l| l.starts_with("negotiation: offering"));
    lines.wait("the announce", |l| {
        l.starts_with("negotiation: announced, offering") && l.contains("hybrid")
    });
    writeln!(input, "state").unwrap();
    lines.wait("the status", |l| l.starts_with("negotiation: Announced"));
    writeln!(input, "exit").unwrap();
    lines.wait("exit", |l| l == "disconnected");
    assert!(shell.wait().unwrap().success());
    let saved = Client::open(&state).unwrap();
    assert_eq!(
        saved.capabilities(),
        e4_client::SuiteSet::of(&[e4_proto::SuiteId::PostQuantum, e4_proto::SuiteId::Hybrid])
    );
    assert_eq!(
        saved.negotiation_status(),
        e4_client::NegotiationStatus::Announced
    );
    drop(saved);
    // `--capabilities none` turns it off again.
    let o = e4(
        &[
            "client",
            "--broker",
            &broker.address(),
            "--state",
            state.to_str().unwrap(),
            "--capabilities",
            "none",
        ],
        b"exit\n",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let saved = Client::open(&state).unwrap();
    assert!(saved.capabilities().is_empty());
}

/// `e4 client` with stdout and stderr piped, read by `Lines`.
fn spawn_client(args: &[&str]) -> (std::process::Child, Lines, std::process::ChildStdin) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e4"))
        .arg("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let input = child.stdin.take().unwrap();
    (child, lines, input)
}

/// Wait for a child to end (at most 30 s) and return its exit code.
fn exit_code(child: &mut std::process::Child, lines: &Lines) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exit code, not a signal");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client did not end; output:\n{}", lines.1.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The scripted session of the README: a listener subscribed to a quoted
/// topic with a space and Unicode, a sender whose script ends, then the
/// listener stopped by SIGTERM. Keys come as @FILE.
#[test]
fn scripted_shells_exchange_on_a_quoted_topic() {
    let Some(broker) = Broker::start("scripted_shells_exchange_on_a_quoted_topic") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("topic.key");
    std::fs::write(&key_file, random::<32>()).unwrap();
    let topic = "living room/温度 ñ";
    let setup = format!(
        "set-topic-key '{topic}' @{}\nsubscribe \"{topic}\"\n",
        key_file.display()
    );
    let state = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let (listener_state, sender_state) = (state("listener.e4"), state("sender.e4"));
    let (lkey, skey) = (hex::encode(random::<32>()), hex::encode(random::<32>()));
    let address = broker.address();
    let (mut listener, mut lines, mut input) = spawn_client(&[
        "--broker",
        &address,
        "--state",
        &listener_state,
        "--key",
        &lkey,
        "--listen",
    ]);
    input.write_all(setup.as_bytes()).unwrap();
    drop(input);
    lines.wait("the listener's key", |l| {
        l == "stdout: topic key set for \"living room/温度 ñ\""
    });
    // Both, in either order (the acknowledgement may name the control
    // topic too).
    let end = |l: &str| l == "stdout: end of input: listening until SIGINT or SIGTERM";
    let subscribed =
        |l: &str| l.starts_with("stdout: subscribed to ") && l.ends_with("\"living room/温度 ñ\"");
    lines.seen_or_wait("the end of input", end);
    lines.seen_or_wait("the subscription", subscribed);

    let script = format!(
        "# a comment\nset-topic-key \"{topic}\" {}\ne4msg '{topic}' \"21.5 °C, it's  warm\"\n",
        key_file.display()
    );
    let o = e4(
        &[
            "client",
            "--broker",
            &address,
            "--state",
            &sender_state,
            "--key",
            &skey,
        ],
        script.as_bytes(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    assert!(
        out.contains("protected message published on topic \"living room/温度 ñ\""),
        "{out}"
    );
    lines.wait("the message", |l| {
        l == "stdout: received protected message on topic \"living room/温度 ñ\": 21.5 °C, it's  warm"
    });
    // Still listening: stopped by SIGTERM, cleanly, with exit status 0.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.try_wait().unwrap().is_none(),
        "{}",
        lines.1.join("\n")
    );
    let kill = Command::new("kill")
        .args(["-TERM", &listener.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    lines.wait("the signal", |l| l == "stdout: SIGTERM: stopping");
    lines.wait("the disconnection", |l| l == "stdout: disconnected");
    assert_eq!(exit_code(&mut listener, &lines), 0);
    let saved = Client::open(&listener_state).unwrap();
    assert!(saved.has_topic_key(topic));
}

/// A script runs every command, prints each failure on stderr and exits
/// with 1; `--listen SECONDS` ends by itself.
#[test]
fn failing_commands_make_a_script_exit_1() {
    let Some(broker) = Broker::start("failing_commands_make_a_script_exit_1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("fail.e4");
    let key = hex::encode(random::<32>());
    let script = format!(
        "e4msg no/key hello\n\
         subscribe 'a/#/b'\n\
         subscribe \"tab\there\"\n\
         set-topic-key e4c2/announce/x {key}\n\
         e4msg 'sensors/+' x\n\
         subscribe one two\n\
         e4msg 'not closed\n\
         bogus\n\
         set-topic-key 'ok topic' @{}\n\
         state\n",
        dir.path().join("missing.key").display()
    );
    let address = broker.address();
    let args = [
        "client",
        "--broker",
        &address,
        "--state",
        state.to_str().unwrap(),
        "--key",
        &key,
        "--listen",
        "1",
    ];
    let started = Instant::now();
    let o = e4(&args, script.as_bytes());
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(code(&o), 1, "{out}\n{err}");
    for expected in [
        "error: failed to protect message: topic key not found",
        "error: failed to subscribe to a/#/b: invalid topic \"a/#/b\": the filter has `#` at byte 2: `#` must be the whole last level (as in a/#)",
        "error: failed to subscribe to \"tab\\there\": invalid topic \"tab\\there\": the topic contains a control character (U+0009) at byte 3",
        "error: set-topic-key: invalid topic \"e4c2/announce/x\": topics under e4c2/ are reserved for C2 (suite announcements)",
        "error: failed to protect message: invalid topic \"sensors/+\": the topic contains the MQTT wildcard `+` at byte 8; wildcards are only allowed in subscription filters",
        "error: subscribe: expected subscribe <filter>, got 2 arguments (quote a topic or key holding spaces)",
        "error: cannot read the command: a quote (') is not closed",
        "error: unknown command `bogus`: type help",
        "error: set-topic-key: cannot read",
        "e4 client: error: 9 commands failed (errors above)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // Every command ran: the last one printed the state.
    assert!(out.contains("topic keys: 0"), "{out}");
    assert!(
        out.contains("end of input: listening for 1 s (or until SIGINT or SIGTERM)"),
        "{out}"
    );
    assert!(out.ends_with("disconnected\n"), "{out}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // A script without failures exits with 0.
    let o = e4(&args[..args.len() - 2], b"subscribe 'ok/+'\nstate\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `--provision FILE`: a new client from C2's provisioning file, with its
/// broker; the same file again is ignored; another device's is refused.
#[test]
fn provisioning_file_creates_the_client() {
    use e4_client::Provisioning;
    let Some(broker) = Broker::start("provisioning_file_creates_the_client") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = random::<32>();
    let id = e4_client::config::id_from_name(e4_client::provider(), "dev-p").unwrap();
    let file = dir.path().join("dev-p.json");
    let issued = e4_client::BrokerCredentials::new(id.to_string(), "c".repeat(64));
    Provisioning::symmetric("dev-p", &id, &key)
        .with_broker(Some(broker.address()))
        .with_mqtt_credentials(Some(issued.clone()))
        .write_new(&file)
        .unwrap();
    let state = dir.path().join("dev-p.e4");
    let (f, s) = (file.to_str().unwrap(), state.to_str().unwrap());
    let o = e4(&["client", "--provision", f, "--state", s], b"state\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "created client state {s} for device dev-p from {f}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("connecting to {}", broker.address())),
        "{out}"
    );
    assert!(out.contains(&format!("id: {id}")), "{out}");
    assert!(stderr(&o).contains("delete it"), "{}", stderr(&o));
    let saved = Client::open(&state).unwrap();
    assert_eq!(*saved.id(), id);
    // The broker credentials of the file are kept in the state.
    assert_eq!(saved.broker_credentials(), Some(&issued));
    // The device holds the provisioned key: a command sealed with it applies.
    let c2 = C2::new(SuiteId::Symmetric);
    let dev = c2.register_symmetric(id, &SymKey::new(key));
    let cmd = c2.set_topic_key(&dev, "plant/t", &SymKey::new(random()), common::now());
    drop(saved);
    let control = id.control_topic().to_string();
    let o = e4(&["unprotect", "--state", s, "--topic", &control], &cmd);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The same file again: its keys are ignored, with a note.
    let o = e4(&["client", "--provision", f, "--state", s], b"");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "note: {s} exists, so its keys are used; the keys in {f} are ignored"
        )),
        "{}",
        stderr(&o)
    );
    // A reissued password replaces the saved one, the user name stays.
    let pw = dir.path().join("mqtt.pw");
    std::fs::write(&pw, format!("{}\n", "d".repeat(64))).unwrap();
    let pw_arg = pw.to_str().unwrap();
    let o = e4(
        &[
            "client",
            "--state",
            s,
            "--broker",
            &broker.address(),
            "--mqtt-password-file",
            pw_arg,
        ],
        b"",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let reissued = e4_client::BrokerCredentials::new(id.to_string(), "d".repeat(64));
    let creds = || Client::open(&state).unwrap().broker_credentials().cloned();
    assert_eq!(creds(), Some(reissued.clone()));
    // The provisioning file again does not bring back the old password.
    let o = e4(&["client", "--provision", f, "--state", s], b"");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(creds(), Some(reissued));
    // Another device's file: refused.
    let other_id = e4_client::config::id_from_name(e4_client::provider(), "dev-q").unwrap();
    let other = dir.path().join("dev-q.json");
    Provisioning::symmetric("dev-q", &other_id, &random::<32>())
        .write_new(&other)
        .unwrap();
    let o_s = other.to_str().unwrap();
    let args = ["client", "--provision", o_s, "--state", s];
    let o = e4(&[&args[..], &["--broker", &broker.address()]].concat(), b"");
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!(
            "{s} holds client {id}, but --provision {o_s} is for client {other_id} (dev-q)"
        )),
        "{}",
        stderr(&o)
    );
    // No broker anywhere: a usage error.
    let o = e4(&args, b"");
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!(
            "no broker: {o_s} names none, give --broker HOST:PORT"
        )),
        "{}",
        stderr(&o)
    );
    let o = e4(&["client", "--state", s], b"");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no broker: give --broker HOST:PORT"));
    // --provision with the identity options: a usage error.
    let o = e4(
        &["client", "--provision", f, "--state", s, "--name", "x"],
        b"",
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

/// protect/unprotect refuse topic names that break the rules (usage
/// errors), and take keys as hex, FILE or @FILE.
#[test]
fn topic_names_and_key_files_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    std::fs::write(&key, random::<32>()).unwrap();
    let (k, at_k) = (
        key.to_str().unwrap().to_owned(),
        format!("@{}", key.display()),
    );
    for (topic, expected) in [
        ("a/#", "the topic contains the MQTT wildcard `#` at byte 2"),
        ("", "the topic is empty"),
        (
            "a\nb",
            "the topic contains a control character (U+000A) at byte 1",
        ),
        (
            "x\u{85}",
            "the topic contains a control character (U+0085) at byte 1",
        ),
        (
            "e4/0123",
            "topics under e4/ are reserved for E4 control topics",
        ),
        ("e4c2/announce/d", "topics under e4c2/ are reserved for C2"),
    ] {
        for cmd in ["protect", "unprotect"] {
            let o = e4(&[cmd, "--topic", topic, "--topic-key", &k], b"x");
            assert_eq!(code(&o), 2, "{cmd} {topic:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(expected),
                "{cmd} {topic:?}: {}",
                stderr(&o)
            );
        }
    }
    let topic = "living room/温度";
    let o = e4(
        &["protect", "--topic", topic, "--topic-key", &at_k],
        b"21.5",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = e4(
        &["unprotect", "--topic", topic, "--topic-key", &k],
        &o.stdout,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(o.stdout, b"21.5");
    let o = e4(
        &["protect", "--topic", "t", "--topic-key", "@/nonexistent/k"],
        b"",
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("cannot read /nonexistent/k"),
        "{}",
        stderr(&o)
    );
    for cmd in [
        &["client", "--help"][..],
        &["protect", "--help"],
        &["unprotect", "--help"],
    ] {
        let o = e4(cmd, b"");
        let help = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains("hex, or a file holding raw bytes or hex (FILE or @FILE)"),
            "{cmd:?}: {help}"
        );
    }
    let o = e4(&["client", "--help"], b"");
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--listen [<SECONDS>]",
        "--provision <FILE>",
        "exit status is 1",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}
