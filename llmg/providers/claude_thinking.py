"""Claude's extended-thinking rules, shared by every adapter that reaches Claude.

The Anthropic Messages API and Anthropic models on Bedrock (Converse puts ``thinking`` in
``additionalModelRequestFields`` and forwards it to the same model) refuse the same combinations
(docs.claude.com, "Building with extended thinking", feature compatibility):

- ``budget_tokens`` below 1024, or ``max_tokens`` not above the budget;
- ``temperature`` other than 1, ``top_p`` below 0.95, any ``top_k``;
- a forced tool choice (``any`` / ``tool``; OpenAI's ``required`` or a named function).

The adapters check them before sending, so a client gets a 400 naming the conflict instead of the
upstream's error; ``provider`` names the adapter in the message. Each adapter maps OpenAI's
fields to its wire names first and passes the values here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequest

# reasoning_effort -> thinking budget_tokens (Anthropic's minimum budget is 1024).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024

_SAMPLING_RULES = {"temperature": "must be 1", "top_p": "must be at least 0.95", "top_k": "cannot be set"}


def thinking_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def thinking_for_effort(effort: Any, asked_max: int | None, provider: str) -> dict[str, Any] | None:
    """``reasoning_effort`` -> ``{"type": "enabled", "budget_tokens"}``, or None for none/unset.
    The client's ``max_tokens`` wins: the budget shrinks to fit under it (never below 1024)."""
    if effort is None or effort == "none":
        return None
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise InvalidRequest(f"reasoning_effort must be one of none, {', '.join(THINKING_BUDGETS)} for {provider}",
                             param="reasoning_effort", code="invalid_value")
    if asked_max is not None:
        budget = min(budget, asked_max - 1)
        if budget < MIN_THINKING_BUDGET:
            raise InvalidRequest(f"{provider} needs max_tokens above {MIN_THINKING_BUDGET} for reasoning_effort",
                                 param="max_tokens", code="invalid_value")
    return {"type": "enabled", "budget_tokens": budget}


def check_thinking(thinking: Mapping[str, Any], asked_max: int | None, sampling: Mapping[str, Any], provider: str) -> int:
    """Enabled ``thinking``'s budget, after checking it, ``max_tokens`` (when the client set one)
    and the sampling values the client set (``temperature``, ``top_p``, ``top_k``; None = unset)."""
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_THINKING_BUDGET:
        raise InvalidRequest(f"thinking.budget_tokens must be an integer of at least {MIN_THINKING_BUDGET}",
                             param="thinking.budget_tokens", code="invalid_value")
    if asked_max is not None and asked_max <= budget:
        raise InvalidRequest(f"max_tokens must be greater than thinking.budget_tokens ({budget})",
                             param="max_tokens", code="invalid_value")
    for key, ok in (("temperature", lambda v: v == 1), ("top_p", lambda v: 0.95 <= v <= 1), ("top_k", lambda v: False)):
        value = sampling.get(key)
        if value is not None and not ok(value):
            raise InvalidRequest(f"with thinking on, {provider}'s {key} {_SAMPLING_RULES[key]}", param=key,
                                 code="unsupported_parameter")
    return budget


def forced_tool_refused(provider: str) -> InvalidRequest:
    """A forced tool choice with thinking on: Claude refuses it, so the client gets this 400."""
    return InvalidRequest(f"{provider} cannot force a tool call while thinking is on (tool_choice must be auto or none)",
                          param="tool_choice", code="unsupported_parameter")
