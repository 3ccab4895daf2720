from __future__ import annotations

from typing import List, Tuple

import pytest

import e4rs

TOPIC = "sensors/temp"


def suite_provider_pairs() -> List[Tuple[str, str]]:
    """Every (suite, provider) pair compiled in."""
    return [(s.name, p) for s in e4rs.suites() for p in s.providers]


class Pair:
    """Two devices of one suite sharing TOPIC's key; each knows the
    other's public key where the suite signs."""

    def __init__(self, suite: str, provider: str | None = None, now: int | None = None) -> None:
        self.suite = suite
        self.topic_key = e4rs.generate_key()
        self.alice = make_client(suite, "alice", provider, now)
        self.bob = make_client(suite, "bob", provider, now)
        for c in (self.alice, self.bob):
            c.set_topic_key(TOPIC, self.topic_key)
        introduce(self.alice, self.bob)


def introduce(a: e4rs.Client, b: e4rs.Client) -> None:
    if a.public_key is not None:
        a.set_pubkey(b.id, b.public_key)
        b.set_pubkey(a.id, a.public_key)


def make_client(suite: str, name: str, provider: str | None = None, now: int | None = None) -> e4rs.Client:
    if suite == "symmetric":
        return e4rs.Client.symmetric(name, e4rs.generate_key(), provider=provider, now=now)
    if suite == "pubkey":
        sk, _ = e4rs.generate_ed25519()
        _, c2 = e4rs.generate_x25519()
        return e4rs.Client.pubkey(name, sk, c2, provider=provider, now=now)
    _, c2 = e4rs.generate_signing_keys(suite, provider=provider)
    if suite == "hybrid":
        return e4rs.Client.hybrid(name, c2, provider=provider, now=now)
    return e4rs.Client.post_quantum(name, c2, draft=suite == "pq-draft", provider=provider, now=now)


@pytest.fixture(params=[s.name for s in e4rs.suites()])
def suite(request: pytest.FixtureRequest) -> str:
    return request.param
