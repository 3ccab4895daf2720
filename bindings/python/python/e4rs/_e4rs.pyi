"""Type stubs of the native module e4rs._e4rs (import e4rs instead)."""

from typing import List, Optional, Tuple, Union, final

__all__ = [
    "Client",
    "Command",
    "KemKeys",
    "SuiteInfo",
    "ProviderInfo",
    "suites",
    "providers",
    "topic_hash",
    "id_from_name",
    "control_topic",
    "key_from_password",
    "ed25519_from_password",
    "generate_key",
    "generate_id",
    "generate_ed25519",
    "ed25519_public_key",
    "generate_x25519",
    "generate_signing_keys",
    "generate_kem_keys",
    "_measure",
    "DEFAULT_PROVIDER",
    "ALL_SUITES",
]

_Buffer = Union[bytes, bytearray, memoryview]
"""Byte arguments accept bytes, bytearray and memoryview."""

DEFAULT_PROVIDER: str
"""The provider clients use when none is named (the fastest compiled in)."""

ALL_SUITES: Tuple[str, ...]
"""Every suite name e4-rs knows, compiled in or not."""

@final
class Command:
    """A command from C2 that Client.unprotect applied (it arrived on the
    client's control topic)."""

    @property
    def opcode(self) -> int:
        """0x00 RemoveTopic .. 0x07 SetC2Key (E4), 0x08 SetSuite, 0x09
        SetTopicFormat (e4-rs suite negotiation)."""
    @property
    def name(self) -> str:
        """The command's E4 name, e.g. "SetTopicKey"."""
    @property
    def negotiation(self) -> Optional[str]:
        """None, "accepted", "topic_format", "announce_requested", "rekey_requested" or "upgraded"."""
    @property
    def suite(self) -> Optional[str]:
        """The suite accepted or upgraded to, or the topic's new format."""
    @property
    def previous_suite(self) -> Optional[str]:
        """The suite before an upgrade."""
    @property
    def topic_hash(self) -> Optional[bytes]:
        """The topic hash a SetTopicFormat applies to."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class KemKeys:
    """The key pairs of a post-quantum or hybrid device."""

    def __new__(
        cls,
        suite: str,
        sig_secret_key: _Buffer,
        sig_public_key: _Buffer,
        kem_secret_key: _Buffer,
        kem_public_key: _Buffer,
    ) -> "KemKeys": ...
    @property
    def suite(self) -> str: ...
    @property
    def sig_secret_key(self) -> bytes: ...
    @property
    def sig_public_key(self) -> bytes: ...
    @property
    def kem_secret_key(self) -> bytes: ...
    @property
    def kem_public_key(self) -> bytes: ...

@final
class SuiteInfo:
    """A suite as this build has it (see suites())."""

    @property
    def name(self) -> str: ...
    @property
    def code(self) -> int: ...
    @property
    def family(self) -> str:
        """"e4-symmetric", "e4-public-key" or "kem"."""
    @property
    def message_overhead(self) -> int: ...
    @property
    def command_overhead(self) -> int: ...
    @property
    def signature_bytes(self) -> int: ...
    @property
    def public_key_bytes(self) -> int: ...
    @property
    def kem_public_key_bytes(self) -> int: ...
    @property
    def c2_public_key_bytes(self) -> int: ...
    @property
    def providers(self) -> List[str]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class ProviderInfo:
    """A crypto provider compiled into this build (see providers())."""

    @property
    def name(self) -> str: ...
    @property
    def suites(self) -> List[str]: ...
    @property
    def default(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Client:
    """An E4 client of one suite. Make one with Client.symmetric,
    Client.pubkey, Client.post_quantum, Client.hybrid or
    Client.from_password."""

    @staticmethod
    def symmetric(
        name_or_id: Union[str, _Buffer, None],
        key: _Buffer,
        *,
        provider: Optional[str] = None,
        now: Optional[int] = None,
    ) -> "Client":
        """E4's symmetric suite (AES-SIV), as e4go's SymIDAndKey.

        name_or_id: a device name (id = SHA3-256(name)[:16]), a 16-byte id,
        or None for a random id. key: the 32-byte client key."""
    @staticmethod
    def pubkey(
        name_or_id: Union[str, _Buffer, None],
        signing_key: _Buffer,
        c2_public_key: _Buffer,
        *,
        provider: Optional[str] = None,
        now: Optional[int] = None,
    ) -> "Client":
        """E4's public-key suite, as e4go's PubIDAndKey. signing_key: the
        Ed25519 private key (64 bytes seed ‖ public, or the 32-byte seed);
        c2_public_key: C2's 32-byte Curve25519 key."""
    @staticmethod
    def post_quantum(
        name_or_id: Union[str, _Buffer, None],
        c2_public_key: _Buffer,
        *,
        keys: Optional[KemKeys] = None,
        draft: bool = False,
        provider: Optional[str] = None,
        now: Optional[int] = None,
    ) -> "Client":
        """ML-DSA-65 + ML-KEM-768 (draft=True: the draft-FIPS
        Dilithium3/Kyber768). c2_public_key: C2's signature public key;
        keys: default generated now."""
    @staticmethod
    def hybrid(
        name_or_id: Union[str, _Buffer, None],
        c2_public_key: _Buffer,
        *,
        keys: Optional[KemKeys] = None,
        provider: Optional[str] = None,
        now: Optional[int] = None,
    ) -> "Client":
        """Ed25519 + ML-DSA-65 signatures, X25519 + ML-KEM-768 command keys."""
    @staticmethod
    def from_password(
        name: str,
        password: Union[str, _Buffer],
        *,
        suite: str = "symmetric",
        c2_public_key: Optional[_Buffer] = None,
        provider: Optional[str] = None,
        now: Optional[int] = None,
    ) -> "Client":
        """e4go's SymNameAndPassword / PubNameAndPassword (Argon2i)."""
    @property
    def id(self) -> bytes:
        """The 16-byte client id."""
    @property
    def suite(self) -> str:
        """The suite's name."""
    @property
    def provider(self) -> str:
        """The crypto provider's name."""
    @property
    def control_topic(self) -> str:
        """e4/<hex id>: where C2 sends commands."""
    @property
    def public_key(self) -> Optional[bytes]:
        """The signature public key (None for the symmetric suite)."""
    @property
    def kem_public_key(self) -> Optional[bytes]:
        """The KEM public key (post-quantum and hybrid suites)."""
    @property
    def overhead(self) -> int:
        """Bytes protection adds to a payload in this suite."""
    now: Optional[int]
    """None: the system clock; else fixed Unix seconds."""
    replay_protection: bool
    """Whether replayed topic messages are refused (default True)."""
    def overhead_for(self, topic: str) -> int: ...
    def topic_hash(self, topic: str) -> bytes: ...
    def has_topic_key(self, topic: str) -> bool: ...
    def is_control_topic(self, topic: str) -> bool: ...
    def topic_hashes(self) -> List[bytes]: ...
    def pubkey_ids(self) -> List[bytes]: ...
    def set_topic_key(self, topic: str, key: _Buffer) -> None:
        """Set the 32-byte key of topic."""
    def set_topic_key_hash(self, topic_hash: _Buffer, key: _Buffer) -> None:
        """set_topic_key by the topic's 16-byte hash."""
    def set_pubkey(self, id: _Buffer, key: _Buffer) -> None:
        """Set the signature public key of device id (16 bytes)."""
    def protect(self, topic: str, payload: _Buffer) -> bytes:
        """Protect payload for topic: the bytes to publish."""
    def unprotect(self, topic: str, data: _Buffer) -> Union[bytes, Command]:
        """The plaintext, or on the control topic the Command applied.
        Raises an E4Error subclass when data is refused."""

def suites() -> List[SuiteInfo]:
    """The suites compiled into this build."""

def providers() -> List[ProviderInfo]:
    """The crypto providers compiled into this build, default first."""

def topic_hash(topic: Union[str, _Buffer]) -> bytes:
    """SHA3-256(topic)[:16]."""

def id_from_name(name: Union[str, _Buffer]) -> bytes:
    """SHA3-256(name)[:16] (e4go's HashIDAlias)."""

def control_topic(id: _Buffer) -> str:
    """"e4/" + id.hex() for an id of 1 to 64 bytes."""

def key_from_password(password: Union[str, _Buffer]) -> bytes:
    """The 32-byte symmetric key e4go derives from a password."""

def ed25519_from_password(password: Union[str, _Buffer]) -> bytes:
    """The 64-byte Ed25519 private key e4go derives from a password."""

def generate_key() -> bytes:
    """A random 32-byte key."""

def generate_id() -> bytes:
    """A random 16-byte device id."""

def generate_ed25519() -> Tuple[bytes, bytes]:
    """(64-byte private key, 32-byte public key)."""

def ed25519_public_key(private_key: _Buffer) -> bytes:
    """The public key of an Ed25519 private key (64 bytes or 32-byte seed)."""

def generate_x25519(*, provider: Optional[str] = None) -> Tuple[bytes, bytes]:
    """(private, public) X25519 keys: C2's key in the public-key suite."""

def generate_signing_keys(suite: str, *, provider: Optional[str] = None) -> Tuple[bytes, bytes]:
    """(private, public) signature keys of suite (C2's key in the
    post-quantum and hybrid suites)."""

def generate_kem_keys(suite: str, *, provider: Optional[str] = None) -> KemKeys:
    """Signature and KEM key pairs for a pq, pq-draft or hybrid device."""

def _measure(
    suite: str,
    provider: str,
    size: int,
    *,
    min_time: float = 0.2,
    min_iterations: int = 10,
    max_iterations: int = 1000000,
) -> Tuple[float, float, int, int, int]:
    """(protect_s, unprotect_s, protect_iterations, unprotect_iterations,
    overhead_bytes): the engine of e4rs.bench.compare."""
