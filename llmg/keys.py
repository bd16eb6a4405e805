"""Gateway keys: who is calling, and what that key may do.

Every configured key, plain (``[server.auth] keys``) or named (``[keys.NAME]``), is kept only as
its SHA-256 digest. A presented token is hashed once and compared with *every* digest by
``hmac.compare_digest`` without an early exit: the time taken depends neither on which key
matched, nor on how long the real keys are (all digests are 32 bytes), nor on how many leading
bytes the guess got right.

A named key carries its policy: model globs (compiled once here, at start-up), rpm / tpm /
max_parallel, and an expiry instant.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .config import AuthConfig, KeyConfig


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What one named key may do. ``name`` is safe to log; nothing here is secret."""

    name: str
    models: tuple[str, ...]
    rpm: int
    tpm: int
    max_parallel: int
    expires_at: float | None  # Unix time; None = never
    _models_re: re.Pattern[str] | None  # None: every model ("*")

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.tpm or self.max_parallel)

    def allows_model(self, *names: str) -> bool:
        """True if any of ``names`` (what the client sent, its alias target) matches a glob."""
        pattern = self._models_re
        if pattern is None:
            return True
        return any(pattern.fullmatch(name) is not None for name in names if name)


# The identity of a caller with a plain [server.auth] key, any token, or auth switched off.
PLAIN = KeyPolicy("", (), 0, 0, 0, None, None)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _compile(globs: list[str]) -> re.Pattern[str] | None:
    if "*" in globs:
        return None
    # fnmatchcase semantics (case-sensitive, "*" also crosses "/"), joined into one pattern.
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


def policy(name: str, config: KeyConfig) -> KeyPolicy:
    return KeyPolicy(
        name=name,
        models=tuple(config.models),
        rpm=config.rpm,
        tpm=config.tpm,
        max_parallel=config.max_parallel,
        expires_at=config.expires.timestamp() if config.expires is not None else None,
        _models_re=_compile(config.models),
    )


def _usable(key: str | None) -> bool:
    # Empty after ${VAR} expansion, or a ${VAR} left unexpanded: never a key that anyone can send.
    return bool(key) and "${" not in key  # type: ignore[operator]


class KeyRing:
    """All gateway keys as digests, each with its policy (PLAIN for the plain list)."""

    def __init__(self, auth: AuthConfig, named: Mapping[str, KeyConfig]) -> None:
        entries: list[tuple[bytes, KeyPolicy]] = []
        self.unusable: list[str] = []  # where an unusable key was configured (never its value)
        for index, key in enumerate(auth.keys):
            if _usable(key):
                entries.append((digest(key), PLAIN))
            else:
                self.unusable.append(f"server.auth.keys[{index}]")
        self.policies: dict[str, KeyPolicy] = {}
        for name, config in named.items():
            key_policy = policy(name, config)
            self.policies[name] = key_policy
            if config.key_sha256 is not None:
                entries.append((bytes.fromhex(config.key_sha256), key_policy))
            elif _usable(config.key):
                entries.append((digest(config.key), key_policy))  # type: ignore[arg-type]
            else:
                self.unusable.append(f"keys.{name}.key")
        self.entries = tuple(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def identify(self, token: str) -> KeyPolicy | None:
        """The policy of the key ``token`` is, or None. Constant time in the token and the keys."""
        presented = digest(token)
        found: KeyPolicy | None = None
        for key_digest, key_policy in self.entries:  # no early exit, by design
            if hmac.compare_digest(presented, key_digest):
                found = key_policy
        return found
