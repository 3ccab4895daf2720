"""e4rs: end-to-end encryption of MQTT (or any publish/subscribe) payloads.

Python bindings of e4-rs, a wire-compatible implementation of Teserakt's E4
with post-quantum and hybrid suites. Every cryptographic operation runs in
Rust (the ``e4-client``, ``e4-proto`` and ``e4-backends`` crates), with the
GIL released.

>>> import e4rs
>>> key = e4rs.generate_key()
>>> alice = e4rs.Client.symmetric("alice", e4rs.generate_key())
>>> bob = e4rs.Client.symmetric("bob", e4rs.generate_key())
>>> for c in (alice, bob):
...     c.set_topic_key("sensors/temp", key)
>>> wire = alice.protect("sensors/temp", b"21.5 C")
>>> bob.unprotect("sensors/temp", wire)
b'21.5 C'

Errors are :class:`E4Error` subclasses carrying a ``category``
(:class:`NotAuthentic`, :class:`Replayed`, :class:`TopicKeyNotFound`, ...).
:mod:`e4rs.bench` compares suites and providers.
"""

from __future__ import annotations

from types import ModuleType

from . import _errors
from ._e4rs import (
    ALL_SUITES,
    DEFAULT_PROVIDER,
    Client,
    Command,
    KemKeys,
    ProviderInfo,
    SuiteInfo,
    control_topic,
    ed25519_from_password,
    ed25519_public_key,
    generate_ed25519,
    generate_id,
    generate_kem_keys,
    generate_key,
    generate_signing_keys,
    generate_x25519,
    id_from_name,
    key_from_password,
    providers,
    suites,
    topic_hash,
)
from ._errors import (
    BY_CATEGORY,
    BufferTooSmall,
    CleartextRefused,
    ControlTopicRefused,
    CryptoFailure,
    E4Error,
    InvalidArgument,
    InvalidCommand,
    InvalidCommandLength,
    InvalidKeyLength,
    InvalidPassword,
    InvalidProtectedLen,
    InvalidSignature,
    InvalidTopic,
    NegotiationRefused,
    NotAuthentic,
    PubKeyNotFound,
    Replayed,
    StateError,
    StoreFull,
    TimestampInFuture,
    TimestampTooOld,
    TooShortCiphertext,
    TopicFormatRefused,
    TopicKeyNotFound,
    UnknownProvider,
    UnknownSuite,
    UnsupportedOperation,
    UnsupportedSuite,
    exception_for,
)

__all__ = [
    "ALL_SUITES",
    "DEFAULT_PROVIDER",
    "Client",
    "Command",
    "KemKeys",
    "ProviderInfo",
    "SuiteInfo",
    "control_topic",
    "ed25519_from_password",
    "ed25519_public_key",
    "generate_ed25519",
    "generate_id",
    "generate_kem_keys",
    "generate_key",
    "generate_signing_keys",
    "generate_x25519",
    "id_from_name",
    "key_from_password",
    "providers",
    "suites",
    "topic_hash",
    "bench",
    "E4Error",
    "TooShortCiphertext",
    "InvalidProtectedLen",
    "TimestampTooOld",
    "TimestampInFuture",
    "NotAuthentic",
    "InvalidSignature",
    "PubKeyNotFound",
    "TopicKeyNotFound",
    "InvalidCommand",
    "InvalidCommandLength",
    "UnsupportedOperation",
    "InvalidArgument",
    "InvalidKeyLength",
    "InvalidTopic",
    "InvalidPassword",
    "UnsupportedSuite",
    "UnknownSuite",
    "UnknownProvider",
    "StoreFull",
    "Replayed",
    "BufferTooSmall",
    "CryptoFailure",
    "NegotiationRefused",
    "ControlTopicRefused",
    "CleartextRefused",
    "TopicFormatRefused",
    "StateError",
    "BY_CATEGORY",
    "exception_for",
]


def __getattr__(name: str) -> ModuleType:
    # e4rs.bench is imported on first use (it imports dataclasses and,
    # when asked for a DataFrame, pandas).
    if name == "bench":
        import importlib

        return importlib.import_module(".bench", __name__)
    raise AttributeError(f"module 'e4rs' has no attribute {name!r}")
