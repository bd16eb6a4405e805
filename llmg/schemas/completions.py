"""OpenAI's legacy completions API (``POST /v1/completions``) as Structs.

https://platform.openai.com/docs/api-reference/completions. On providers without the endpoint the
prompt becomes one user message per prompt (``llmg.inbound.completions``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from .openai import StreamOptions, Usage

NonEmptyStr = Annotated[str, Meta(min_length=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]


class CompletionRequest(Struct, kw_only=True):
    """POST /v1/completions. Fields not listed here pass through to providers that have the endpoint."""

    model: NonEmptyStr
    prompt: str | Annotated[list[str], Meta(min_length=1, max_length=16)]
    max_tokens: Annotated[int, Meta(ge=1)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    n: Annotated[int, Meta(ge=1, le=16)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | Annotated[list[str], Meta(max_length=4)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, float] | None = None
    echo: bool | None = None
    suffix: str | None = None
    seed: int | None = None
    user: str | None = None


FinishReason = Literal["stop", "length", "content_filter"]


class CompletionChoice(Struct, kw_only=True):
    text: str
    index: int
    logprobs: Any | None = None
    finish_reason: FinishReason | None


class Completion(Struct, kw_only=True):
    """A complete answer, and (with ``object`` the same) one ``data:`` event of a streamed one."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | UnsetType = UNSET  # only on a complete answer and on a stream's last event
