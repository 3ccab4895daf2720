"""Errors: one E4Error subclass per category, raised with the right one."""

from __future__ import annotations

import pytest

import e4rs
from conftest import TOPIC, Pair, make_client

# e4_proto::Error::category() of every variant (e4-proto/src/error.rs).
PROTOCOL_CATEGORIES = [
    "too_short_ciphertext",
    "invalid_protected_len",
    "timestamp_too_old",
    "timestamp_in_future",
    "not_authentic",
    "invalid_signature",
    "pubkey_not_found",
    "topic_key_not_found",
    "invalid_command",
    "invalid_command_length",
    "unsupported_operation",
    "invalid_argument",
    "invalid_password",
    "unsupported_suite",
    "store_full",
    "replayed",
    "buffer_too_small",
    "crypto_failure",
    "unknown_suite",
    "negotiation_refused",
]


def test_hierarchy() -> None:
    for category in PROTOCOL_CATEGORIES:
        cls = e4rs.BY_CATEGORY[category]
        assert issubclass(cls, e4rs.E4Error)
        assert cls.category == category
        assert getattr(e4rs, cls.__name__) is cls
        e = cls("message")
        assert e.category == category and str(e) == "message"
    assert issubclass(e4rs.InvalidKeyLength, e4rs.InvalidArgument)
    assert issubclass(e4rs.InvalidKeyLength, ValueError)
    assert issubclass(e4rs.UnknownSuite, ValueError)
    assert e4rs._errors.exception_for("something new") is e4rs.E4Error
    assert e4rs.E4Error("x", "something new").category == "something new"


def test_tampered_message(suite: str) -> None:
    pair = Pair(suite)
    wire = bytearray(pair.alice.protect(TOPIC, b"do not touch"))
    # Flip one byte of the ciphertext (the last payload byte is before the
    # signature in signed suites).
    sig = {s.name: s.signature_bytes for s in e4rs.suites()}[suite]
    wire[len(wire) - sig - 1] ^= 0x01
    expected = e4rs.NotAuthentic if suite == "symmetric" else e4rs.InvalidSignature
    with pytest.raises(expected) as info:
        pair.bob.unprotect(TOPIC, bytes(wire))
    assert info.value.category == expected.category
    assert isinstance(info.value, e4rs.E4Error)
    # A tampered timestamp (symmetric: authenticated data; signed: signed).
    # One second older, still inside the window.
    wire = bytearray(pair.alice.protect(TOPIC, b"do not touch either"))
    ts = int.from_bytes(wire[:8], "little")
    wire[:8] = (ts - 1).to_bytes(8, "little")
    with pytest.raises(expected):
        pair.bob.unprotect(TOPIC, bytes(wire))


def test_wrong_topic_key(suite: str) -> None:
    pair = Pair(suite)
    # A third device with another key for the topic (not a rotation: a
    # rotated key keeps the previous one valid for the transition period).
    carol = make_client(suite, "carol")
    carol.set_topic_key(TOPIC, e4rs.generate_key())
    if carol.public_key is not None:
        carol.set_pubkey(pair.alice.id, pair.alice.public_key)
    with pytest.raises(e4rs.NotAuthentic) as info:
        carol.unprotect(TOPIC, pair.alice.protect(TOPIC, b"secret"))
    assert info.value.category == "not_authentic"


def test_unknown_signer(suite: str) -> None:
    if suite == "symmetric":
        pytest.skip("symmetric messages are not signed")
    pair = Pair(suite)
    stranger = make_client(suite, "stranger")
    stranger.set_topic_key(TOPIC, pair.topic_key)
    with pytest.raises(e4rs.PubKeyNotFound):
        pair.bob.unprotect(TOPIC, stranger.protect(TOPIC, b"who am I"))


def test_unknown_topic(suite: str) -> None:
    pair = Pair(suite)
    with pytest.raises(e4rs.TopicKeyNotFound) as info:
        pair.alice.protect("no/key/here", b"x")
    assert info.value.category == "topic_key_not_found"
    pair.bob.set_topic_key("other", pair.topic_key)
    with pytest.raises(e4rs.TopicKeyNotFound):
        pair.bob.unprotect("no/key/here", pair.alice.protect(TOPIC, b"x"))


def test_replay_and_short_messages(suite: str) -> None:
    pair = Pair(suite)
    wire = pair.alice.protect(TOPIC, b"once")
    assert pair.bob.unprotect(TOPIC, wire) == b"once"
    with pytest.raises(e4rs.Replayed) as info:
        pair.bob.unprotect(TOPIC, wire)
    assert info.value.category == "replayed"
    with pytest.raises((e4rs.TooShortCiphertext, e4rs.InvalidProtectedLen)):
        pair.bob.unprotect(TOPIC, wire[:20])


def test_bad_key_lengths() -> None:
    with pytest.raises(e4rs.InvalidKeyLength) as info:
        e4rs.Client.symmetric("x", b"\x01" * 31)
    assert info.value.category == "invalid_key_length"
    assert isinstance(info.value, ValueError)
    c = e4rs.Client.symmetric("x", e4rs.generate_key())
    for bad in (b"", b"\x01" * 16, b"\x01" * 33):
        with pytest.raises(e4rs.InvalidKeyLength):
            c.set_topic_key(TOPIC, bad)
    with pytest.raises(e4rs.InvalidKeyLength):
        c.set_topic_key_hash(b"\x01" * 15, e4rs.generate_key())
    sk, _ = e4rs.generate_ed25519()
    _, c2 = e4rs.generate_x25519()
    with pytest.raises(e4rs.InvalidKeyLength):
        e4rs.Client.pubkey("p", sk[:40], c2)
    with pytest.raises(e4rs.InvalidKeyLength):
        e4rs.Client.pubkey("p", sk, c2[:31])
    p = e4rs.Client.pubkey("p", sk, c2)
    with pytest.raises(e4rs.InvalidKeyLength):
        p.set_pubkey(e4rs.generate_id(), b"\x01" * 31)
    with pytest.raises(e4rs.InvalidArgument):
        p.set_pubkey(b"short id", b"\x01" * 32)
    with pytest.raises(e4rs.UnsupportedOperation):
        c.set_pubkey(e4rs.generate_id(), b"\x01" * 32)
    _, pq_c2 = e4rs.generate_signing_keys("pq")
    with pytest.raises(e4rs.InvalidKeyLength):
        e4rs.Client.post_quantum("q", pq_c2[:-1])
    q = e4rs.Client.post_quantum("q", pq_c2)
    with pytest.raises(e4rs.InvalidKeyLength):
        q.set_pubkey(e4rs.generate_id(), b"\x01" * 32)


def test_invalid_topic_names() -> None:
    c = e4rs.Client.symmetric("t", e4rs.generate_key())
    for bad in ("", "a/\x00/b", "e4c2/announce/x", "e4/not-mine", "a/#/b", "a+"):
        with pytest.raises(e4rs.InvalidTopic) as info:
            c.set_topic_key(bad, e4rs.generate_key())
        assert info.value.category == "invalid_topic"
        assert isinstance(info.value, ValueError)
        with pytest.raises(e4rs.InvalidTopic):
            c.protect(bad, b"x")
    # The client's own control topic has its own error.
    with pytest.raises(e4rs.ControlTopicRefused):
        c.protect(c.control_topic, b"x")


def test_invalid_keys_and_arguments() -> None:
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.Client.symmetric("x", bytes(32))  # all zeros
    sk, _ = e4rs.generate_ed25519()
    _, c2 = e4rs.generate_x25519()
    bad = sk[:32] + bytes(a ^ 1 for a in sk[32:])
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.Client.pubkey("p", bad, c2)
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.Client.symmetric("", e4rs.generate_key())
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.Client.symmetric(b"\x01" * 15, e4rs.generate_key())
    with pytest.raises(e4rs.InvalidPassword) as info:
        e4rs.Client.from_password("dev", "too short")
    assert info.value.category == "invalid_password"
    with pytest.raises(e4rs.InvalidPassword):
        e4rs.key_from_password(b"\xff" * 20)
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.Client.from_password("dev", "long enough password", suite="pubkey")
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.control_topic(b"")


def test_suites_and_providers_by_name() -> None:
    with pytest.raises(e4rs.UnknownSuite) as info:
        e4rs.generate_signing_keys("rot13")
    assert info.value.category == "unknown_suite"
    with pytest.raises(e4rs.UnknownProvider) as pinfo:
        e4rs.Client.symmetric("x", e4rs.generate_key(), provider="openssl")
    assert pinfo.value.category == "unknown_provider"
    with pytest.raises(e4rs.UnsupportedSuite):
        sk, _ = e4rs.generate_ed25519()
        e4rs.Client.pubkey("p", sk, e4rs.generate_x25519()[1], provider="small")
    with pytest.raises(e4rs.UnsupportedSuite):
        e4rs.Client.post_quantum("q", e4rs.generate_signing_keys("pq-draft")[1], draft=True,
                                 provider="libcrux")
    with pytest.raises(e4rs.UnsupportedOperation):
        e4rs.generate_signing_keys("symmetric")
    with pytest.raises(e4rs.InvalidArgument):
        e4rs.generate_kem_keys("pubkey")
