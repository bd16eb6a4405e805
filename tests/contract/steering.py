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


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clamp_to_mock(body: dict[str, Any]) -> None:
    # Numbers, not just ints: the schema's integers may come as integral floats (1e5), which the
    # gateway accepts as integers (schemas/decode.py), so they must be clamped too.
    if _number(body.get("n")) and body["n"] > mock.MAX_N:
        body["n"] = mock.MAX_N
    # Responses says max_output_tokens, Anthropic Messages max_tokens.
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if _number(body.get(key)) and body[key] > mock.MAX_TOKENS:
            body[key] = mock.MAX_TOKENS
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    dims = body.get("dimensions")
    if _number(dims) and dims * count > mock.MAX_EMBEDDING_VALUES:
        body["dimensions"] = max(1, mock.MAX_EMBEDDING_VALUES // count)
    # A tool_choice naming a tool the request does not offer is a 400 (as OpenAI
    # answers it); a schema-valid body may still pair them, so the choice goes.
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)}
        if named not in offered:
            body.pop("tool_choice", None)
