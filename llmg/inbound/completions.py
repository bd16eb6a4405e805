"""Legacy completions in, chat out: each prompt becomes one user message; answers and chunks go back
as ``text_completion`` objects (https://platform.openai.com/docs/api-reference/completions).

``max_tokens`` defaults to 16, the legacy API's own default. Several prompts are answered one after
the other; choice ``index`` is ``prompt number * n + choice``, as OpenAI numbers them. ``echo``
prepends the prompt; ``suffix`` and ``logprobs`` have no chat equivalent and are not sent on.
"""

from __future__ import annotations

import time
from typing import Any

from msgspec import UNSET

from ..schemas.completions import Completion, CompletionChoice, CompletionRequest
from ..schemas.openai import Usage

DEFAULT_MAX_TOKENS = 16
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}

_PASSED = ("temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "seed", "user")


def prompts(req: CompletionRequest) -> list[str]:
    return [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)


def to_chat(req: CompletionRequest, prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": req.model, "messages": [{"role": "user", "content": prompt}],
                            "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS}
    for name in _PASSED:
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def finish_reason(value: object) -> str | None:
    if value is None:
        return None
    return _FINISH.get(str(value), "stop")  # tool_calls / function_call: the text simply ended


def add_usage(total: Usage | None, usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return total
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    if total is None:
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
    total.prompt_tokens += prompt
    total.completion_tokens += completion
    total.total_tokens += prompt + completion
    return total


def choices_of(answer: dict[str, Any], req: CompletionRequest, number: int, prompt: str) -> list[CompletionChoice]:
    n = req.n or 1
    out = []
    for position, choice in enumerate(answer.get("choices") or []):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") or {}
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        index = choice.get("index", position) if isinstance(choice.get("index"), int) else position
        out.append(CompletionChoice(text=(prompt + text) if req.echo else text, index=number * n + index,
                                    finish_reason=finish_reason(choice.get("finish_reason") or "stop")))  # type: ignore[arg-type]
    return out


def completion(ident: str, model: str, choices: list[CompletionChoice], usage: Usage | None) -> Completion:
    return Completion(id=ident, created=int(time.time()), model=model, choices=choices,
                      usage=usage if usage is not None else UNSET)


def chunk_choices(chunk: dict[str, Any], req: CompletionRequest, number: int) -> list[CompletionChoice]:
    n = req.n or 1
    out = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta.get("content"), str) else ""
        reason = finish_reason(choice.get("finish_reason"))
        if text or reason:
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            out.append(CompletionChoice(text=text, index=number * n + index, finish_reason=reason))  # type: ignore[arg-type]
    return out
