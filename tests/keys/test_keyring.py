"""The key ring keeps digests only and finds keys of any length the same way."""

from __future__ import annotations

import hashlib

from llmg.config import parse
from llmg.keys import PLAIN, KeyRing


def ring(toml: str, env: dict[str, str] | None = None) -> KeyRing:
    config = parse(toml, "test", env or {}).config
    return KeyRing(config.server.auth, config.keys)


def test_only_32_byte_digests_are_kept() -> None:
    keys = ring('[server.auth]\nkeys = ["k", "a-much-longer-plain-key-0123456789"]\n'
                '[keys.a]\nkey = "sk-named"\n[keys.b]\nkey_sha256 = "' + hashlib.sha256(b"x").hexdigest() + '"\n')
    assert len(keys) == 4
    assert all(len(digest) == 32 for digest, _ in keys.entries)
    stored = b"".join(digest for digest, _ in keys.entries)
    for plaintext in (b"a-much-longer-plain-key-0123456789", b"sk-named"):
        assert plaintext not in stored


def test_identify_plain_named_and_unknown() -> None:
    keys = ring('[server.auth]\nkeys = ["plain"]\n[keys.team]\nkey = "sk-team"\nrpm = 5\n')
    assert keys.identify("plain") is PLAIN
    team = keys.identify("sk-team")
    assert team is not None and team.name == "team" and team.rpm == 5
    for wrong in ("", "p", "plai", "plainx", "sk-tea", "sk-team ", "SK-TEAM"):
        assert keys.identify(wrong) is None


def test_unusable_keys_are_reported_by_place_never_by_value() -> None:
    keys = ring('[server.auth]\nkeys = ["${UNSET_A}"]\n[keys.n]\nkey = "${EMPTY}"\n', {"EMPTY": ""})
    assert keys.unusable == ["server.auth.keys[0]", "keys.n.key"]
    assert len(keys) == 0
    assert keys.identify("${UNSET_A}") is None and keys.identify("") is None


def test_model_globs() -> None:
    keys = ring('[keys.g]\nkey = "k"\nmodels = ["openai/gpt-4o*", "fast", "anthropic/*"]\n')
    policy = keys.policies["g"]
    assert policy.allows_model("openai/gpt-4o-mini") and policy.allows_model("fast")
    assert policy.allows_model("anthropic/claude-3-5-sonnet")
    assert not policy.allows_model("openai/gpt-3.5") and not policy.allows_model("fast2")
    assert not policy.allows_model("Fast")  # case-sensitive
    assert policy.allows_model("nope", "fast")  # the alias target (second name) may match
