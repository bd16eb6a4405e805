"""Point schema-valid requests at the registered provider, for fuzz runs against the mock.

A generated ``provider/model`` almost never names a registered provider, so without this nearly every
valid request would stop at 404 ``Unknown provider`` and the provider path would go unfuzzed. Half of
the positive cases (chosen by the length of the generated id, so runs stay reproducible) get their
provider replaced with ``mock``; the rest of the id is untouched, so the body stays schema-valid and
every check still applies. Negative cases are never touched.

A case bound for the mock is also clamped to the mock's own amplification caps (``n``,
``max_tokens``, inputs x ``dimensions``; llmg/providers/mock.py): like any provider it refuses more,
and the schema, which describes every provider, cannot say so.
"""

from __future__ import annotations

from typing import Any

from llmg.providers import mock

PROVIDER = "mock"


def steer(case: Any) -> None:
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    model = case.body.get("model")
    if isinstance(model, str) and "/" in model and len(model) % 2 == 0:
        case.body["model"] = f"{PROVIDER}/{model.partition('/')[2]}"
    if isinstance(case.body.get("model"), str) and case.body["model"].startswith(f"{PROVIDER}/"):
        _clamp_to_mock(case.body)


def _clamp_to_mock(body: dict[str, Any]) -> None:
    if isinstance(body.get("n"), int) and body["n"] > mock.MAX_N:
        body["n"] = mock.MAX_N
    # Integers may arrive as floats ("4176.0" is a valid JSON Schema integer); Responses says
    # max_output_tokens, Anthropic Messages max_tokens.
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > mock.MAX_TOKENS:
            body[key] = mock.MAX_TOKENS
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    dims = body.get("dimensions")
    if isinstance(dims, (int, float)) and not isinstance(dims, bool) and dims * count > mock.MAX_EMBEDDING_VALUES:
        body["dimensions"] = max(1, mock.MAX_EMBEDDING_VALUES // count)
    # --- mockcreds: n may arrive as a float too ("9.0" is a valid JSON Schema integer).
    n = body.get("n")
    if isinstance(n, float) and n > mock.MAX_N:
        body["n"] = mock.MAX_N
    # A tool_choice naming a tool the request does not offer is a 400 (as OpenAI
    # answers it); a schema-valid body may still pair them, so the choice goes.
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)}
        if named not in offered:
            body.pop("tool_choice", None)
