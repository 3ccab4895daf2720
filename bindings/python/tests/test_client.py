"""Round trips per suite and provider, commands, bytes-like inputs, the
clock, threads."""

from __future__ import annotations

import threading
import time

import pytest

import e4rs
from conftest import TOPIC, Pair, introduce, make_client, suite_provider_pairs

PAIRS = suite_provider_pairs()


def test_every_suite_is_compiled_in() -> None:
    assert [s.name for s in e4rs.suites()] == ["symmetric", "pubkey", "pq", "pq-draft", "hybrid"]
    assert list(e4rs.ALL_SUITES) == ["symmetric", "pubkey", "pq", "pq-draft", "hybrid"]
    names = [p.name for p in e4rs.providers()]
    assert names == ["pqclean", "libcrux", "rustcrypto", "small"]
    assert [p.name for p in e4rs.providers() if p.default] == [e4rs.DEFAULT_PROVIDER]
    by_name = {p.name: p for p in e4rs.providers()}
    assert by_name["small"].suites == ["symmetric"]
    for s in e4rs.suites():
        for p in s.providers:
            assert s.name in by_name[p].suites


@pytest.mark.parametrize("suite,provider", PAIRS, ids=[f"{s}-{p}" for s, p in PAIRS])
def test_round_trip(suite: str, provider: str) -> None:
    pair = Pair(suite, provider)
    a, b = pair.alice, pair.bob
    assert a.suite == suite and a.provider == provider
    info = {s.name: s for s in e4rs.suites()}[suite]
    assert a.overhead == info.message_overhead == a.overhead_for(TOPIC)
    for payload in (b"x", b"21.5 C", bytes(range(256)) * 40):
        wire = a.protect(TOPIC, payload)
        assert isinstance(wire, bytes)
        assert len(wire) == len(payload) + a.overhead
        if len(payload) > 4:
            assert payload not in wire
        assert b.unprotect(TOPIC, wire) == payload
        back = b.protect(TOPIC, payload)
        assert a.unprotect(TOPIC, back) == payload


@pytest.mark.parametrize("suite", ["symmetric", "pubkey", "pq", "hybrid"])
def test_providers_interoperate(suite: str) -> None:
    providers = {s.name: s.providers for s in e4rs.suites()}[suite]
    clients = [make_client(suite, f"dev-{p}", provider=p) for p in providers]
    key = e4rs.generate_key()
    for c in clients:
        c.set_topic_key(TOPIC, key)
    for a in clients:
        for b in clients:
            if a is not b and a.public_key is not None:
                b.set_pubkey(a.id, a.public_key)
    for a in clients:
        wire = a.protect(TOPIC, b"across providers " + a.provider.encode())
        for b in clients:
            if b is not a:
                assert b.unprotect(TOPIC, wire) == b"across providers " + a.provider.encode()


def test_kem_clients_from_given_keys() -> None:
    for suite in ("pq", "hybrid"):
        c2_sk, c2_pk = e4rs.generate_signing_keys(suite)
        info = {s.name: s for s in e4rs.suites()}[suite]
        assert len(c2_pk) == info.c2_public_key_bytes
        keys = e4rs.generate_kem_keys(suite)
        assert keys.suite == suite
        assert len(keys.sig_public_key) == info.public_key_bytes
        assert len(keys.kem_public_key) == info.kem_public_key_bytes
        assert "secret keys hidden" in repr(keys)
        make = e4rs.Client.hybrid if suite == "hybrid" else e4rs.Client.post_quantum
        c = make("gateway", c2_pk, keys=keys)
        assert c.public_key == keys.sig_public_key
        assert c.kem_public_key == keys.kem_public_key
        again = e4rs.KemKeys(suite, keys.sig_secret_key, keys.sig_public_key,
                             keys.kem_secret_key, keys.kem_public_key)
        assert make("gateway", c2_pk, keys=again).public_key == keys.sig_public_key
        with pytest.raises(e4rs.InvalidArgument):
            e4rs.Client.post_quantum("x", c2_pk, keys=e4rs.generate_kem_keys("hybrid"))


def test_ids_names_and_control_topics() -> None:
    key = e4rs.generate_key()
    named = e4rs.Client.symmetric("device-1", key)
    assert named.id == e4rs.id_from_name("device-1")
    assert named.control_topic == "e4/" + named.id.hex() == e4rs.control_topic(named.id)
    assert named.is_control_topic(named.control_topic)
    ident = e4rs.generate_id()
    assert e4rs.Client.symmetric(ident, key).id == ident
    assert e4rs.Client.symmetric(memoryview(ident), key).id == ident
    r1, r2 = e4rs.Client.symmetric(None, key), e4rs.Client.symmetric(None, key)
    assert len(r1.id) == 16 and r1.id != r2.id
    assert e4rs.topic_hash(TOPIC) == named.topic_hash(TOPIC) == e4rs.topic_hash(TOPIC.encode())
    assert "symmetric" in repr(named)


def test_password_clients_match_e4go_derivation() -> None:
    pw = "correct horse battery staple"
    c = e4rs.Client.from_password("sensor-7", pw)
    assert c.id == e4rs.id_from_name("sensor-7")
    d = e4rs.Client.symmetric("sensor-7", e4rs.key_from_password(pw))
    key = e4rs.generate_key()
    for x in (c, d):
        x.set_topic_key(TOPIC, key)
    d.replay_protection = False
    assert d.unprotect(TOPIC, c.protect(TOPIC, b"same key")) == b"same key"
    _, c2 = e4rs.generate_x25519()
    p = e4rs.Client.from_password("meter", pw, suite="pubkey", c2_public_key=c2)
    sk = e4rs.ed25519_from_password(pw)
    assert p.public_key == e4rs.ed25519_public_key(sk) == sk[32:]


def test_bytes_like_inputs() -> None:
    pair = Pair("symmetric")
    a, b = pair.alice, pair.bob
    payload = b"bytes, bytearray and memoryview"
    for given in (payload, bytearray(payload), memoryview(payload),
                  memoryview(b"xx" + payload + b"yy")[2:-2]):
        wire = a.protect(TOPIC, given)
        for as_type in (bytes, bytearray, memoryview):
            b.replay_protection = False
            assert b.unprotect(TOPIC, as_type(wire)) == payload
    # Keys too.
    key = bytearray(e4rs.generate_key())
    c = e4rs.Client.symmetric("k", memoryview(key))
    c.set_topic_key(TOPIC, bytearray(pair.topic_key))
    assert c.unprotect(TOPIC, a.protect(TOPIC, payload)) == payload
    for bad in ("a string", 42, [1, 2, 3], None):
        with pytest.raises(TypeError):
            a.protect(TOPIC, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            b.unprotect(TOPIC, bad)  # type: ignore[arg-type]


def seal_command(client_key: bytes, command: bytes, now: int | None = None) -> bytes:
    """A command protected with a symmetric client's key, as C2 does (E4's
    command protection is the symmetric message format under the client
    key)."""
    sealer = e4rs.Client.symmetric(None, e4rs.generate_key(), now=now)
    sealer.set_topic_key("c2", client_key)
    return sealer.protect("c2", command)


def test_commands_on_the_control_topic() -> None:
    key = e4rs.generate_key()
    dev = e4rs.Client.symmetric("device", key)
    topic_key = e4rs.generate_key()
    cmd = dev.unprotect(dev.control_topic,
                        seal_command(key, b"\x03" + topic_key + e4rs.topic_hash("a/b")))
    assert isinstance(cmd, e4rs.Command)
    assert (cmd.opcode, cmd.name, cmd.negotiation) == (3, "SetTopicKey", None)
    assert "SetTopicKey" in repr(cmd)
    assert dev.has_topic_key("a/b")
    peer = e4rs.Client.symmetric("peer", e4rs.generate_key())
    peer.set_topic_key("a/b", topic_key)
    assert dev.unprotect("a/b", peer.protect("a/b", b"hi")) == b"hi"
    # RemoveTopic, then the same command again: a replay.
    remove = seal_command(key, b"\x00" + e4rs.topic_hash("a/b"))
    removed = dev.unprotect(dev.control_topic, remove)
    assert isinstance(removed, e4rs.Command) and removed.name == "RemoveTopic"
    assert removed != cmd
    assert not dev.has_topic_key("a/b")
    with pytest.raises(e4rs.Replayed):
        dev.unprotect(dev.control_topic, remove)
    # A public-key-only command on a symmetric client.
    with pytest.raises(e4rs.UnsupportedOperation):
        dev.unprotect(dev.control_topic, seal_command(key, b"\x05"))
    # A command under another key.
    with pytest.raises(e4rs.NotAuthentic):
        dev.unprotect(dev.control_topic, seal_command(e4rs.generate_key(), b"\x01"))
    # Application data cannot go to the control topic.
    with pytest.raises(e4rs.ControlTopicRefused):
        dev.protect(dev.control_topic, b"x")


def test_fixed_clock() -> None:
    now = 1_800_000_000
    pair = Pair("symmetric", now=now)
    a, b = pair.alice, pair.bob
    assert a.now == now
    wire = a.protect(TOPIC, b"at a fixed time")
    assert int.from_bytes(wire[:8], "little") == now
    b.now = now + 599
    assert b.unprotect(TOPIC, wire) == b"at a fixed time"
    b.now = now + 600
    with pytest.raises(e4rs.TimestampTooOld):
        b.unprotect(TOPIC, wire)
    b.now = now - 1
    with pytest.raises(e4rs.TimestampInFuture):
        b.unprotect(TOPIC, wire)
    b.now = None
    assert b.now is None
    a.now = None
    assert abs(int.from_bytes(a.protect(TOPIC, b"x")[:8], "little") - time.time()) < 5


def test_threads_share_a_client_and_the_gil_is_released() -> None:
    pair = Pair("pq")
    a, b = pair.alice, pair.bob
    b.replay_protection = False
    payloads = [bytes([i]) * (1000 + i) for i in range(8)]
    wires = {}

    def work(i: int) -> None:
        wires[i] = a.protect(TOPIC, payloads[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [b.unprotect(TOPIC, wires[i]) for i in range(8)] == payloads

    # While another thread measures for ~1.2 s in Rust (two 0.6 s loops),
    # this thread keeps running Python: the GIL is released during the
    # work (held, it would stall this thread for the whole call).
    done = threading.Event()

    def measure() -> None:
        e4rs._e4rs._measure("symmetric", e4rs.DEFAULT_PROVIDER, 64,
                             min_time=0.6, min_iterations=1)
        done.set()

    t = threading.Thread(target=measure)
    last = time.perf_counter()
    biggest_gap = 0.0
    t.start()
    while not done.is_set():
        now = time.perf_counter()
        biggest_gap = max(biggest_gap, now - last)
        last = now
    t.join()
    assert biggest_gap < 0.8, f"Python thread stalled {biggest_gap:.2f} s"
