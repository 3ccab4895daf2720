"""The exceptions of e4rs: one class per error category, all subclasses of
:class:`E4Error`.

The categories are those of the E4 cross-implementation vectors (the
``expect`` values of ``vectors/interop/e4go``) plus e4-rs's own
(``replayed``, ``unsupported_suite``, ...). The native module raises them
through :func:`exception_for`.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
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


class E4Error(Exception):
    """Base class of every error e4rs raises for a refused operation.

    ``category`` is the error's category name (e.g. ``"not_authentic"``),
    the same string as the E4 vectors' ``expect`` field; each category has
    its own subclass. A refused operation changes nothing in the client.
    """

    category: str = "e4_error"

    def __init__(self, message: str = "", category: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if category is not None:
            self.category = category

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, category={self.category!r})"


class TooShortCiphertext(E4Error):
    """A message or command too short to be protected data."""

    category = "too_short_ciphertext"


class InvalidProtectedLen(E4Error):
    """A signed message too short for its format."""

    category = "invalid_protected_len"


class TimestampTooOld(E4Error):
    """Older than the 600 s window (or a transition key past its hour)."""

    category = "timestamp_too_old"


class TimestampInFuture(E4Error):
    """A timestamp ahead of the client's clock."""

    category = "timestamp_in_future"


class NotAuthentic(E4Error):
    """AES-SIV authentication failed: tampered data or the wrong key."""

    category = "not_authentic"


class InvalidSignature(E4Error):
    """A signature did not verify."""

    category = "invalid_signature"


class PubKeyNotFound(E4Error):
    """The signer's public key is unknown."""

    category = "pubkey_not_found"


class TopicKeyNotFound(E4Error):
    """No key is held for the topic."""

    category = "topic_key_not_found"


class InvalidCommand(E4Error):
    """An unknown command opcode."""

    category = "invalid_command"


class InvalidCommandLength(E4Error):
    """A known command with arguments of the wrong length."""

    category = "invalid_command_length"


class UnsupportedOperation(E4Error):
    """An operation or command the client's suite does not have."""

    category = "unsupported_operation"


class InvalidArgument(E4Error, ValueError):
    """An argument that fails validation (all-zero key, bad id, ...)."""

    category = "invalid_argument"


class InvalidKeyLength(InvalidArgument):
    """A key of the wrong length for its use or suite."""

    category = "invalid_key_length"


class InvalidTopic(InvalidArgument):
    """A topic name that breaks the topic-name rules: empty, longer than
    65535 bytes, a control character, a misplaced MQTT wildcard, or under
    the reserved ``e4/`` and ``e4c2/``."""

    category = "invalid_topic"


class InvalidPassword(E4Error, ValueError):
    """A password shorter than 16 bytes or not valid UTF-8."""

    category = "invalid_password"


class UnsupportedSuite(E4Error):
    """A known suite this build or provider does not implement, or a
    message of another suite."""

    category = "unsupported_suite"


class UnknownSuite(E4Error, ValueError):
    """A name that names no suite."""

    category = "unknown_suite"


class UnknownProvider(E4Error, ValueError):
    """A crypto provider that does not exist or is not compiled in."""

    category = "unknown_provider"


class StoreFull(E4Error):
    """The key store has no room left."""

    category = "store_full"


class Replayed(E4Error):
    """A message or command already accepted."""

    category = "replayed"


class BufferTooSmall(E4Error):
    """An output buffer too small (internal)."""

    category = "buffer_too_small"


class CryptoFailure(E4Error):
    """A crypto backend failed internally."""

    category = "crypto_failure"


class NegotiationRefused(E4Error):
    """A suite-negotiation message or step was refused."""

    category = "negotiation_refused"


class ControlTopicRefused(E4Error):
    """Application data addressed to the client's control topic, which only
    carries protected commands from C2."""

    category = "control_topic"


class CleartextRefused(E4Error):
    """No key for the topic and cleartext is not allowed there."""

    category = "cleartext_refused"


class TopicFormatRefused(E4Error):
    """A topic format this client cannot use."""

    category = "topic_format"


class StateError(E4Error):
    """The client's state could not be read or written."""

    category = "state"


BY_CATEGORY: Dict[str, Type[E4Error]] = {
    cls.category: cls
    for cls in (
        TooShortCiphertext,
        InvalidProtectedLen,
        TimestampTooOld,
        TimestampInFuture,
        NotAuthentic,
        InvalidSignature,
        PubKeyNotFound,
        TopicKeyNotFound,
        InvalidCommand,
        InvalidCommandLength,
        UnsupportedOperation,
        InvalidArgument,
        InvalidKeyLength,
        InvalidTopic,
        InvalidPassword,
        UnsupportedSuite,
        UnknownSuite,
        UnknownProvider,
        StoreFull,
        Replayed,
        BufferTooSmall,
        CryptoFailure,
        NegotiationRefused,
        ControlTopicRefused,
        CleartextRefused,
        TopicFormatRefused,
        StateError,
    )
}
"""Every category name and its exception class."""


def exception_for(category: str) -> Type[E4Error]:
    """The exception class of ``category`` (:class:`E4Error` itself for a
    category this version does not know)."""
    return BY_CATEGORY.get(category, E4Error)
