"""OpenAI's official schema (../shared/reference/openai-openapi/openapi.yaml) as JSON Schema validators.

The spec is OpenAPI 3.0 in places (``nullable: true``), which JSON Schema does not know, so each
such schema becomes ``anyOf: [schema, {"type": "null"}]`` first. Loaded once per test session.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

_RELATIVE = "shared/reference/openai-openapi/openapi.yaml"
# ../shared/reference from the checkout (main sits one level above it, a worktree two).
SPEC: Path | None = next((p / _RELATIVE for p in Path(__file__).resolve().parents if (p / _RELATIVE).exists()), None)


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        # YAML reads some examples as dates; JSON Schema only has JSON's scalars.
        return node if node is None or isinstance(node, (str, int, float, bool)) else str(node)
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def spec() -> dict[str, Any]:
    assert SPEC is not None, "OpenAI's spec is not in ../shared/reference/openai-openapi"
    return yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def _components() -> dict[str, Any]:
    return _nullable(spec()["components"])


@functools.cache
def validator(name: str) -> Any:
    """A validator for ``components.schemas[name]`` of OpenAI's spec."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "allOf": [{"$ref": f"#/components/schemas/{name}"}], "components": _components()}
    return jsonschema_rs.validator_for(schema)


def errors(name: str, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator(name).iter_errors(instance)]
