"""The shared e4go vectors (vectors/interop/e4go/*.jsonl, format in that
folder's README.md), replayed through the Python API.

Every case of every file is a test. Clients are built from the case's
fields, with the clock fixed at the case's ``now``; outcomes are compared
with ``expect`` (a plaintext, a Command, or the error category of the
exception raised), and the state a case describes afterwards with what the
client exposes (the topic hashes and public-key ids it holds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import e4rs

REPO = Path(__file__).resolve().parents[3]
E4GO = REPO / "vectors" / "interop" / "e4go"
FILES = sorted(E4GO.glob("*.jsonl"))

Case = Dict[str, Any]


def load_cases() -> Iterator[Tuple[str, Case]]:
    for path in FILES:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    case = json.loads(line)
                    yield f"{path.name}:{case.get('case', n)}", case


CASES = list(load_cases())


def test_vectors_are_there() -> None:
    assert E4GO.is_dir(), f"{E4GO} is missing"
    names = {p.name for p in FILES}
    for expected in (
        "derived.jsonl",
        "symkey_messages.jsonl",
        "pubkey_messages.jsonl",
        "commands_symkey.jsonl",
        "commands_pubkey.jsonl",
        "negative.jsonl",
        "key_transition.jsonl",
    ):
        assert expected in names
    assert len(CASES) >= 80


def h(s: Optional[str]) -> bytes:
    return bytes.fromhex(s or "")


def outcome(fn, *args) -> Tuple[str, Any]:
    """("ok", plaintext), ("ok_command", Command) or (category, exception)."""
    try:
        out = fn(*args)
    except e4rs.E4Error as e:
        return e.category, e
    if isinstance(out, e4rs.Command):
        return "ok_command", out
    return "ok", out


def make_client(case: Case, now: int, prefix: str = "client") -> e4rs.Client:
    """The receiving client of a case (symkey or pubkey mode)."""
    mode = case.get("mode")
    cid = h(case[f"{prefix}_id"])
    if mode == "symkey":
        c = e4rs.Client.symmetric(cid, h(case[f"{prefix}_key"]), now=now)
    elif mode == "pubkey":
        c = e4rs.Client.pubkey(
            cid,
            h(case[f"{prefix}_ed25519_private_key"]),
            h(case.get("c2_curve25519_public_key") or "01" * 32),
            now=now,
        )
    else:
        raise AssertionError(f"unknown mode {mode!r}")
    # e4go has no replay rejection of topic messages; commands are still
    # refused when replayed.
    c.replay_protection = False
    return c


def load_state(c: e4rs.Client, state: Optional[Case], now: int) -> None:
    """Topic keys, transition keys and public keys of a `state` object."""
    if not state:
        return
    for tk in state.get("topic_keys", []):
        c.set_topic_key_hash(h(tk["topic_hash"]), h(tk["key"]))
    for tr in state.get("transition_keys", []):
        # A transition entry: the old key, replaced at `timestamp`.
        topic = h(tr["topic_hash"])
        current = next(
            tk["key"] for tk in state["topic_keys"] if tk["topic_hash"] == tr["topic_hash"]
        )
        c.set_topic_key_hash(topic, h(tr["old_key"]))
        c.now = tr["timestamp"]
        c.set_topic_key_hash(topic, h(current))
        c.now = now
    for pk in state.get("pubkeys", []):
        c.set_pubkey(h(pk["id"]), h(pk["public_key"]))


def check_state(c: e4rs.Client, state: Optional[Case], what: str) -> None:
    if not state:
        return
    topics = sorted(tk["topic_hash"] for tk in state.get("topic_keys", []))
    assert sorted(t.hex() for t in c.topic_hashes()) == topics, f"{what}: topics"
    if "pubkeys" in state and c.suite == "pubkey":
        ids = sorted(pk["id"] for pk in state["pubkeys"])
        assert sorted(i.hex() for i in c.pubkey_ids()) == ids, f"{what}: public keys"
    assert c.id.hex() == state["id"], f"{what}: id"
    if "receiving_topic" in state:
        assert c.control_topic == state["receiving_topic"], f"{what}: control topic"


def expect_outcome(got: Tuple[str, Any], expect: str, what: str, plaintext: Optional[str] = None,
                   opcode: Optional[int] = None) -> None:
    kind, value = got
    assert kind == expect, f"{what}: expected {expect}, got {kind} ({value!r})"
    if kind == "ok" and plaintext is not None:
        assert value == h(plaintext), f"{what}: plaintext"
    if kind == "ok_command" and opcode is not None:
        assert value.opcode == opcode, f"{what}: opcode"


# ----------------------------------------------------------------- per kind


def replay_derived(case: Case) -> None:
    kind = case["kind"]
    if kind == "topic_hash":
        topic = h(case["topic_hex"]) if "topic_hex" in case else case["topic"].encode()
        assert e4rs.topic_hash(topic) == h(case["topic_hash"])
        if "topic_hex" not in case or topic == case["topic"].encode():
            assert e4rs.topic_hash(case["topic"]) == h(case["topic_hash"])
    elif kind == "control_topic":
        assert e4rs.control_topic(h(case["id"])) == case["control_topic"]
    elif kind == "id_from_name":
        name = h(case["name_hex"]) if "name_hex" in case else case["name"].encode()
        assert e4rs.id_from_name(name) == h(case["id"])
        if "control_topic" in case:
            assert e4rs.control_topic(h(case["id"])) == case["control_topic"]
    elif kind in ("symkey_from_password", "ed25519_from_password"):
        password = h(case["password_hex"]) if "password_hex" in case else case["password"].encode()
        fn = e4rs.key_from_password if kind == "symkey_from_password" else e4rs.ed25519_from_password
        got = outcome(fn, password)
        expect_outcome(got, case["expect"], kind)
        if got[0] != "ok":
            return
        if kind == "symkey_from_password":
            assert got[1] == h(case["key"])
            if case.get("client_name"):
                c = e4rs.Client.from_password(case["client_name"], password)
                assert c.id == h(case["client_id"])
        else:
            assert got[1][:32] == h(case["seed"])
            assert got[1] == h(case["ed25519_private_key"])
            assert e4rs.ed25519_public_key(got[1]) == h(case["ed25519_public_key"])
    elif kind == "pubkey_shared_key":
        # The client derives the command key C2 computes: a command sealed
        # with `shared_key` (E4's command protection is the symmetric message
        # format, so a symmetric client with that key as a topic key seals
        # it) is accepted on the client's control topic.
        now = 1_795_451_461
        c = e4rs.Client.pubkey(
            h(case["client_id"]),
            h(case["client_ed25519_private_key"]),
            h(case["c2_curve25519_public_key"]),
            now=now,
        )
        assert e4rs.ed25519_public_key(h(case["client_ed25519_seed"])) == h(
            case["client_ed25519_public_key"]
        )
        sealer = e4rs.Client.symmetric(None, e4rs.generate_key(), now=now)
        sealer.set_topic_key("seal", h(case["shared_key"]))
        cmd = sealer.protect("seal", bytes([0x01]))  # ResetTopics
        got = c.unprotect(c.control_topic, cmd)
        assert isinstance(got, e4rs.Command) and got.name == "ResetTopics"
        wrong = e4rs.Client.symmetric(None, e4rs.generate_key(), now=now)
        wrong.set_topic_key("seal", e4rs.generate_key())
        with pytest.raises(e4rs.NotAuthentic):
            c.unprotect(c.control_topic, wrong.protect("seal", bytes([0x01])))
    elif kind == "aead":
        # E4's symmetric message is LE64(ts) ‖ AES-SIV(K‖K, AD=[LE64(ts)], m).
        ad = h(case["associated_data"])
        assert len(ad) == 8
        ts = int.from_bytes(ad, "little")
        c = e4rs.Client.symmetric(None, e4rs.generate_key(), now=ts)
        c.set_topic_key("aead", h(case["key"]))
        assert c.protect("aead", h(case["plaintext"])) == ad + h(case["output"])
        if case["plaintext"]:
            assert c.unprotect("aead", ad + h(case["output"])) == h(case["plaintext"])
    else:
        pytest.fail(f"unknown derived kind {kind}")


def replay_symkey_message(case: Case) -> None:
    now = case["now"]
    c = make_client(case, now)
    c.set_topic_key(case["topic"], h(case["topic_key"]))
    assert c.topic_hash(case["topic"]) == h(case["topic_hash"])
    expect_outcome(outcome(c.unprotect, case["topic"], h(case["protected"])), case["expect"],
                   "unprotect", case.get("plaintext"))
    # AES-SIV is deterministic: protecting at the same second gives e4go's bytes.
    sender = make_client(case, case["timestamp"])
    sender.set_topic_key(case["topic"], h(case["topic_key"]))
    assert sender.protect(case["topic"], h(case["plaintext"])) == h(case["protected"])


def replay_pubkey_message(case: Case) -> None:
    now = case["now"]
    c = make_client(case, now, prefix="receiver")
    for pk in case.get("receiver_known_pubkeys", []):
        c.set_pubkey(h(pk["id"]), h(pk["public_key"]))
    c.set_topic_key(case["topic"], h(case["topic_key"]))
    expect_outcome(outcome(c.unprotect, case["topic"], h(case["protected"])), case["expect"],
                   "unprotect", case.get("plaintext"))
    # Ed25519 is deterministic too: the sender's bytes are reproduced.
    sender = e4rs.Client.pubkey(
        h(case["sender_id"]),
        h(case["sender_ed25519_private_key"]),
        h(case["c2_curve25519_public_key"]),
        now=case["timestamp"],
    )
    sender.set_topic_key(case["topic"], h(case["topic_key"]))
    assert sender.protect(case["topic"], h(case["plaintext"])) == h(case["protected"])


def run_steps(c: e4rs.Client, case: Case, steps: List[Case], topic: Optional[str],
              accepted: Optional[set] = None) -> None:
    accepted = set() if accepted is None else accepted
    for i, step in enumerate(steps):
        what = f"step {i + 1} ({step.get('description', '')})"
        c.now = step["now"]
        is_command = step.get("op") == "command" or (
            "command_bytes" in step and step.get("op") != "unprotect"
        )
        target = case["receiving_topic"] if is_command else step.get("topic") or topic
        got = outcome(c.unprotect, target, h(step["protected"]))
        opcode = h(step["command_bytes"])[0] if is_command and step.get("command_bytes") else None
        expect = step["expect"]
        if is_command and expect == "ok_command" and step["protected"] in accepted:
            # e4go applies a byte-identical command again; e4-client always
            # refuses a replayed command (docs/compat.md), and nothing changes.
            expect = "replayed"
        expect_outcome(got, expect, what, step.get("plaintext"), opcode)
        if got[0] == "ok_command":
            accepted.add(step["protected"])
        if expect != step["expect"]:
            # Reach e4go's state the direct way where the API has one.
            cmd = h(step.get("command_bytes"))
            if cmd[:1] == b"\x03" and len(cmd) == 49:  # SetTopicKey key(32) ‖ hash(16)
                c.set_topic_key_hash(cmd[33:], cmd[1:33])
            else:
                pytest.skip(f"{what}: e4go re-applies a replayed {cmd[:1].hex()} command")
            continue
        check_state(c, step.get("state_after"), what)


def replay_command(case: Case) -> None:
    now = case["now"]
    c = make_client(case, now)
    load_state(c, case.get("initial_state"), now)
    check_state(c, case.get("initial_state"), "initial state")
    assert c.control_topic == case["receiving_topic"]
    got = outcome(c.unprotect, case["receiving_topic"], h(case["protected"]))
    opcode = case.get("command_code")
    if opcode is None and case.get("command_bytes"):
        opcode = h(case["command_bytes"])[0]
    expect = case["expect"]
    if expect == "invalid_command" and opcode in (0x08, 0x09) and got[0] == "negotiation_refused":
        # 0x08 and 0x09 are e4-rs's negotiation commands (SetSuite,
        # SetTopicFormat): e4-client parses them as such and refuses the
        # malformed one (e4go: unknown opcode). Either way nothing changes.
        expect = "negotiation_refused"
    expect_outcome(got, expect, "command", None, opcode)
    if got[0] == "ok_command":
        assert got[1].name == e4rs_name(got[1].opcode)
    check_state(c, case.get("state_after"), "state after")
    accepted = {case["protected"]} if got[0] == "ok_command" else set()
    run_steps(c, case, case.get("followups", []), None, accepted)
    check_state(c, case.get("state_after_followups"), "state after followups")


def e4rs_name(opcode: int) -> str:
    return [
        "RemoveTopic",
        "ResetTopics",
        "SetIdKey",
        "SetTopicKey",
        "RemovePubKey",
        "ResetPubKeys",
        "SetPubKey",
        "SetC2Key",
    ][opcode]


def replay_negative(case: Case) -> None:
    kind = case["kind"]
    now = case["now"]
    if kind in ("symkey_command", "pubkey_command"):
        replay_command(case)
        return
    c = make_client(case, now)
    if kind == "symkey_protect":
        expect_outcome(outcome(c.protect, case["topic"], h(case["plaintext"])), case["expect"],
                       "protect")
        return
    assert kind in ("symkey_message", "pubkey_message"), kind
    if case.get("client_topic_key"):
        c.set_topic_key_hash(e4rs.topic_hash(topic_bytes(case)), h(case["client_topic_key"]))
    for pk in case.get("known_pubkeys", []) or []:
        c.set_pubkey(h(pk["id"]), h(pk["public_key"]))
    apply_setup(c, case)
    expect_outcome(outcome(c.unprotect, case["topic"], h(case["protected"])), case["expect"],
                   "unprotect", case.get("plaintext"))


def topic_bytes(obj: Case) -> bytes:
    return h(obj["topic_hex"]) if "topic_hex" in obj else obj["topic"].encode()


def apply_setup(c: e4rs.Client, case: Case) -> None:
    """Extra receiver state some negative cases need."""
    if case.get("setup_command_bytes"):
        cmd = h(case["setup_command_bytes"])
        if cmd[:1] == b"\x03" and len(cmd) == 49:  # SetTopicKey key(32) ‖ hash(16)
            c.set_topic_key_hash(cmd[33:], cmd[1:33])
        elif cmd[:1] == b"\x06" and len(cmd) > 17:  # SetPubKey key ‖ id(16)
            c.set_pubkey(cmd[-16:], cmd[1:-16])
        else:
            pytest.fail(f"unsupported setup command {cmd.hex()}")
        return
    extra = case.get("extra_client_topic_key")
    if isinstance(extra, str):
        c.set_topic_key_hash(e4rs.topic_hash(case["message_topic"]), h(extra))
    elif extra:
        c.set_topic_key_hash(e4rs.topic_hash(topic_bytes(extra)), h(extra["key"]))
    if case.get("extra_known_pubkey"):
        pk = case["extra_known_pubkey"]
        c.set_pubkey(h(pk["id"]), h(pk["public_key"]))


def replay_transition(case: Case) -> None:
    steps = case["steps"]
    now = steps[0]["now"] if steps else 0
    c = make_client(case, now)
    load_state(c, case.get("initial_state"), now)
    check_state(c, case.get("initial_state"), "initial state")
    run_steps(c, case, steps, case.get("topic"))


@pytest.mark.parametrize("name,case", CASES, ids=[n for n, _ in CASES])
def test_e4go_vector(name: str, case: Case) -> None:
    file = name.split(":", 1)[0]
    if file == "derived.jsonl":
        replay_derived(case)
    elif file == "symkey_messages.jsonl":
        replay_symkey_message(case)
    elif file == "pubkey_messages.jsonl":
        replay_pubkey_message(case)
    elif file.startswith("commands_"):
        replay_command(case)
    elif file == "negative.jsonl":
        replay_negative(case)
    elif file == "key_transition.jsonl":
        replay_transition(case)
    else:
        pytest.fail(f"no replayer for {file}")


def test_setup_fields_of_the_larger_vector_set() -> None:
    """The fields only the larger set uses (setup_command_bytes,
    extra_client_topic_key as a key or an object, extra_known_pubkey) set
    the state they describe."""
    sk, pk = e4rs.generate_ed25519()
    c = e4rs.Client.pubkey(None, sk, e4rs.generate_x25519()[1])
    key, peer = e4rs.generate_key(), e4rs.generate_id()
    apply_setup(c, {"setup_command_bytes": ("03" + key.hex() + e4rs.topic_hash("s/t").hex())})
    assert c.has_topic_key("s/t")
    apply_setup(c, {"setup_command_bytes": "06" + pk.hex() + peer.hex()})
    assert peer in c.pubkey_ids()
    apply_setup(c, {"message_topic": "m/t", "extra_client_topic_key": key.hex()})
    assert c.has_topic_key("m/t")
    apply_setup(c, {"extra_client_topic_key": {"topic": "o/t", "key": key.hex()},
                    "extra_known_pubkey": {"id": "11" * 16, "public_key": pk.hex()}})
    assert c.has_topic_key("o/t") and bytes.fromhex("11" * 16) in c.pubkey_ids()
