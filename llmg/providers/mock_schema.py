"""A deterministic instance of a JSON Schema, for the mock provider's structured answers.

The mock answers ``response_format: json_schema`` and forced tool calls with a value that
validates against the caller's schema, so instructor, langchain's ``with_structured_output`` and
the openai SDK's ``parse`` work offline. Same schema, same value: nothing here is random.

It covers what structured-output schemas use in practice (OpenAI's strict subset and what
pydantic emits): ``type`` (one or a list), ``enum``/``const``, ``properties``/``required``,
``items``/``prefixItems``, ``anyOf``/``oneOf`` (the first branch that yields), ``allOf`` (merged),
local ``$ref`` (``#/$defs/...``, ``#/definitions/...``, ``#``), string lengths and common
``format``s, numeric bounds and ``multipleOf``, ``minItems``/``minProperties``. A ``pattern`` is
not solved; the schema's ``default`` or first ``examples`` entry is used when one is given. What
the walk does not understand (a remote ``$ref``, an unknown type, a malformed keyword) gets a
placeholder value, never an error: judging schemas is the real provider's job.

A schema is caller input, so the walk is bounded: a recursive ``$ref`` stops at an optional value,
and a schema that demands a huge instance (``minItems: 10**9``) is refused with a 400 rather than
built on the event loop.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidRequest

MAX_DEPTH = 32  # nesting levels; a recursive $ref is cut at the first optional point past this
MAX_NODES = 10_000  # values in one instance
MAX_STRING = 10_000  # characters demanded by one minLength

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "mock@example.com",
    "idn-email": "mock@example.com",
    "uri": "https://example.com/mock",
    "url": "https://example.com/mock",
    "iri": "https://example.com/mock",
    "uri-reference": "/mock",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "PT1S",
}


class _TooBig(Exception):
    pass


class _Walk:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.nodes = 0

    def ref(self, pointer: Any) -> dict[str, Any]:
        # A remote or unresolvable $ref is not the mock's business to refuse (a provider might
        # resolve it): it stands for "any value".
        if pointer == "#":
            return self.root
        if not isinstance(pointer, str) or not pointer.startswith("#/"):
            return {}
        node: Any = self.root
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return node if isinstance(node, dict) else {}

    def value(self, schema: Any, name: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig
        if depth > MAX_DEPTH * 2:  # a recursion with no optional exit: stop with a placeholder
            return None
        if schema is True or schema is None or schema == {}:
            return f"mock {name}"
        if not isinstance(schema, dict):  # not a schema the mock understands: any value will do
            return f"mock {name}"
        if "$ref" in schema:
            merged = {**self.ref(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if "default" in schema:
            return schema["default"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged = _merge([self.resolve(s) for s in schema["allOf"]] + [{k: v for k, v in schema.items() if k != "allOf"}])
            return self.value(merged, name, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                # Past the depth budget prefer a null branch: it ends a recursive structure.
                if depth > MAX_DEPTH:
                    for branch in branches:
                        if self.resolve(branch).get("type") == "null":
                            return None
                return self.value(branches[0], name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = "null" if depth > MAX_DEPTH and "null" in kind else kinds[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.obj(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "string":
            return _string(schema, name)
        if kind == "integer":
            return _number(schema, integer=True)
        if kind == "number":
            return _number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return f"mock {name}"  # an unknown type: the mock answers rather than judges the schema

    def resolve(self, schema: Any) -> dict[str, Any]:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = {**self.ref(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema if isinstance(schema, dict) else {}

    def obj(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for key, sub in props.items():
            # Past the depth budget only required keys are filled: that is what ends recursion.
            if depth > MAX_DEPTH and key not in required:
                continue
            out[key] = self.value(sub, key, depth + 1)
        extra = schema.get("additionalProperties")
        for key in sorted(required - out.keys()):
            out[key] = self.value(extra if isinstance(extra, dict) else {}, key, depth + 1)
        wanted = schema.get("minProperties") or 0
        index = 0
        while len(out) < wanted:
            if extra is False:
                break
            out[f"key{index}"] = self.value(extra if isinstance(extra, dict) else {}, f"key{index}", depth + 1)
            index += 1
        return out

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items")
        if isinstance(items, list):  # draft-04 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        wanted = max(int(schema.get("minItems") or 0), 1 if depth <= MAX_DEPTH else 0)
        if schema.get("maxItems") is not None:
            wanted = min(wanted, int(schema["maxItems"]))
        wanted = max(wanted, len(prefix) if depth <= MAX_DEPTH else 0)
        if wanted > MAX_NODES:
            raise _TooBig
        out = [self.value(prefix[i], name, depth + 1) for i in range(min(wanted, len(prefix)))]
        while len(out) < wanted:
            if items is False:
                break
            value = self.value(items if items is not None else {}, name, depth + 1)
            if schema.get("uniqueItems") and value in out:
                value = _distinct(value, len(out))
            out.append(value)
        return out


def _merge(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in schemas:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged.setdefault(key, value)
    return merged


def _string(schema: dict[str, Any], name: str) -> str:
    text = _FORMATS.get(str(schema.get("format")), f"mock {name}")
    low = int(schema.get("minLength") or 0)
    if low > MAX_STRING:
        raise _TooBig
    if len(text) < low:
        text = (text + " " + "x" * low)[:low]
    high = schema.get("maxLength")
    if high is not None and len(text) > int(high):
        text = text[: int(high)]
    return text


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    xlow = schema.get("exclusiveMinimum")
    xhigh = schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    # Start from 1 (a plausible count or score), then move inside the bounds.
    value: float = 1
    if isinstance(low, (int, float)) and value < low:
        value = low
    if isinstance(xlow, (int, float)) and not isinstance(xlow, bool) and value <= xlow:
        value = xlow + (1 if integer else (abs(xlow) * 1e-6 or 1e-6))
    if isinstance(high, (int, float)) and value > high:
        value = high
    if isinstance(xhigh, (int, float)) and not isinstance(xhigh, bool) and value >= xhigh:
        value = xhigh - (1 if integer else (abs(xhigh) * 1e-6 or 1e-6))
    if isinstance(step, (int, float)) and step > 0:
        value = math.ceil(value / step) * step
        if isinstance(high, (int, float)) and value > high:
            value -= step
    if integer:
        return math.ceil(value) if not isinstance(high, (int, float)) or math.ceil(value) <= high else math.floor(value)
    return float(value)


def _distinct(value: Any, index: int) -> Any:
    if isinstance(value, str):
        return f"{value} {index}"
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value + index
    return value


def instance(schema: dict[str, Any] | None, param: str) -> Any:
    """A value that validates against ``schema``; ``param`` names the request field in a 400."""
    if schema is None:
        return {}
    try:
        return _Walk(schema).value(schema, "value", 0)
    except _TooBig:
        raise InvalidRequest(
            f"The mock provider builds instances of at most {MAX_NODES:,} values and {MAX_STRING:,}-character strings",
            param=param,
            code="mock_limit_exceeded",
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
        # A schema-valid request may carry a schema that is not valid JSON Schema ("minItems":
        # "many", "properties": []): answer a plain object rather than fail the request.
        return {}
