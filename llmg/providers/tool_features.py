"""OpenAI's tool features that only OpenAI-format upstreams take, resolved or refused for translators.

OpenAI's spec has, besides function tools: custom tools (``tools[].type = "custom"``, free-form or
grammar input), ``tool_choice`` of type ``allowed_tools`` (a subset of ``tools`` and a mode) or
``custom``, and custom tool calls in the history. The gateway accepts them all and forwards them
untouched to OpenAI-compatible upstreams. A translated provider knows function tools only, so:

- ``allowed_tools`` is expressible: it becomes the allowed subset of ``tools`` and ``auto`` /
  ``required``, which every translator already maps;
- the custom ones are not: a clear 400 that names the feature and where it is, before any
  upstream call.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest


def _unsupported(feature: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{feature} ({param}) cannot be expressed for this provider: it takes function tools only",
        param=param,
        code="unsupported_feature",
    )


def _is_custom(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "custom"


def function_tools_only(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` for a translator that knows function tools only: unchanged when it uses none of
    the features above, a shallow copy with ``allowed_tools`` resolved, or an InvalidRequest."""
    tools = data.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if _is_custom(tool):
                raise _unsupported("custom tools", f"tools[{i}]")
    choice = data.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "custom":
            raise _unsupported("a custom tool_choice", "tool_choice")
    for i, message in enumerate(data.get("messages") or ()):
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        if isinstance(calls, list):
            for j, call in enumerate(calls):
                if _is_custom(call):
                    raise _unsupported("custom tool calls", f"messages[{i}].tool_calls[{j}]")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return _resolve_allowed(data, choice.get("allowed_tools") or {}, tools or [])
    return data


def _resolve_allowed(data: dict[str, Any], allowed: dict[str, Any], tools: list[Any]) -> dict[str, Any]:
    names: set[str] = set()
    for i, entry in enumerate(allowed.get("tools") or ()):
        if _is_custom(entry):
            raise _unsupported("custom tools", f"tool_choice.allowed_tools.tools[{i}]")
        name = (entry.get("function") or {}).get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            names.add(name)
    kept = [t for t in tools if isinstance(t, dict) and (t.get("function") or {}).get("name") in names]
    if not kept:
        raise InvalidRequest(
            "tool_choice.allowed_tools names none of the request's tools",
            param="tool_choice.allowed_tools.tools",
            code="invalid_tool_choice",
        )
    out = dict(data)
    out["tools"] = kept
    out["tool_choice"] = allowed.get("mode") or "auto"
    return out
