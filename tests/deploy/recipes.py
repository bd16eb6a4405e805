"""Readers for the deployment recipes (Dockerfile, compose, Kubernetes), shared by their tests.

This machine cannot pull images, so the recipes are checked by reading them: these helpers turn
each file into plain data the tests can compare with the gateway's own config and routes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmg.config import LoadedConfig, parse

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def all(self, instruction: str) -> list[str]:
        return [args for kind, args in self.instructions if kind == instruction]

    def last(self, instruction: str) -> str | None:
        found = self.all(instruction)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """ENV KEY=VALUE pairs of this stage (the only ENV form our Dockerfile uses)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV without '=': {args!r}"
                values[key] = value
        return values


def dockerfile_stages(text: str) -> list[Stage]:
    """Stages in order, instructions with line continuations joined and comments dropped; global
    ARG defaults substituted into FROM."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical: list[str] = []
    pending = ""
    heredoc: str | None = None
    for raw in text.splitlines():
        if heredoc is not None:  # RUN <<'EOF' ... EOF: body lines belong to the instruction
            pending += "\n" + raw
            if raw.strip() == heredoc:
                logical.append(pending)
                pending, heredoc = "", None
            continue
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        opened = re.search(r"<<-?'?(\w+)'?", pending)
        if opened:
            heredoc = opened.group(1)
            continue
        logical.append(pending)
        pending = ""
    for instruction in logical:
        kind, _, rest = instruction.partition(" ")
        kind, rest = kind.upper(), rest.strip()
        if kind == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif kind == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            assert stages, f"{kind} before FROM"
            stages[-1].instructions.append((kind, rest))
    return stages


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubernetes_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object under deploy/kubernetes/ (kustomization.yaml aside), keyed by (kind, name)."""
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"{key} defined twice"
            objects[key] = doc
    return objects


COMPOSE_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def compose_interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's own ${VAR}, ${VAR:-default} and ${VAR:?error} (what `docker compose` does to the
    file before any container sees it)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in environ and (environ[name] or not (op or "").startswith(":")):
            return environ[name]
        if op and op.endswith("?"):
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg or ""

    return COMPOSE_VAR.sub(one, value)


def parse_config(text: str, source: str, environ: dict[str, str]) -> LoadedConfig:
    """The gateway's own parser, so a recipe's llmg.toml is judged exactly as `llmg serve` would."""
    return parse(text, source, environ)
