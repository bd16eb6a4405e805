"""The public API's shapes, as msgspec Structs: the single source of the schema.

Request Structs validate what the gateway reads (types, ranges, required fields). They ignore
unknown fields on decode, but the gateway never forwards a re-encoded Struct: it forwards the
client's original bytes (or its decoded dict) so that every field the client sent passes through.
Response Structs are what the gateway itself produces (mock provider, translators, /v1/models).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

NonEmptyStr = Annotated[str, Meta(min_length=1)]

# --- chat requests ------------------------------------------------------------------------------


class ImageURL(Struct, kw_only=True):
    url: str
    detail: str | None = None


class ContentPart(Struct, kw_only=True):
    """One part of a multimodal message: text, image_url, input_audio, file, refusal, ...

    Only the fields of the part's own type are checked: OpenAI's spec lets other parts carry
    extra members (a ``text`` number on a ``file`` part is its business, not the gateway's)."""

    type: NonEmptyStr
    text: Any = None
    image_url: Any = None

    def __post_init__(self) -> None:
        if self.type == "text" and not isinstance(self.text, str):
            raise ValueError("a text part needs a string `text`")
        if self.type == "image_url":
            if not isinstance(self.image_url, dict) or not isinstance(self.image_url.get("url"), str):
                raise ValueError("an image_url part needs `image_url.url`, a string")


# The same rule for the contract (JSON Schema cannot see __post_init__).
_PART_RULES = {"anyOf": [
    {"properties": {"type": {"not": {"enum": ["text", "image_url"]}}}},
    {"properties": {"type": {"const": "text"}, "text": {"type": "string"}}, "required": ["text"]},
    {"properties": {"type": {"const": "image_url"},
                    "image_url": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}},
     "required": ["image_url"]},
]}
Part = Annotated[ContentPart, Meta(extra_json_schema=_PART_RULES)]


class FunctionCall(Struct, kw_only=True):
    name: str
    arguments: str


class ToolCall(Struct, kw_only=True):
    id: str
    type: str = "function"
    function: FunctionCall


class CustomCall(Struct, kw_only=True):
    name: str
    input: str


# OpenAI's tools, tool choices and tool calls are unions tagged by ``type``, each carrying the
# object its type names: function ones a ``function``, custom ones a ``custom``.


class FunctionToolCall(Struct, kw_only=True, tag_field="type", tag="function"):
    id: str
    function: FunctionCall


class CustomToolCall(Struct, kw_only=True, tag_field="type", tag="custom"):
    id: str
    custom: CustomCall


class ChatMessage(Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[FunctionToolCall | CustomToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None


class FunctionDefinition(Struct, kw_only=True):
    name: NonEmptyStr
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CustomToolDefinition(Struct, kw_only=True):
    name: NonEmptyStr
    description: str | None = None
    format: dict[str, Any] | None = None


class Tool(Struct, kw_only=True, tag_field="type", tag="function"):
    function: FunctionDefinition


class CustomTool(Struct, kw_only=True, tag_field="type", tag="custom"):
    """A custom tool: free-form or grammar-constrained text input (OpenAI-format upstreams only)."""

    custom: CustomToolDefinition


class ToolChoiceFunction(Struct, kw_only=True):
    name: str


class AllowedTools(Struct, kw_only=True):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoice(Struct, kw_only=True, tag_field="type", tag="function"):
    function: ToolChoiceFunction


class CustomToolChoice(Struct, kw_only=True, tag_field="type", tag="custom"):
    custom: ToolChoiceFunction


class AllowedToolsChoice(Struct, kw_only=True, tag_field="type", tag="allowed_tools"):
    """A subset of ``tools`` and a mode (``auto`` / ``required``)."""

    allowed_tools: AllowedTools


class JSONSchemaFormat(Struct, kw_only=True):
    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(Struct, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(Struct, kw_only=True):
    include_usage: bool | None = None


Temperature = Annotated[float, Meta(ge=0, le=2)]
Probability = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
PositiveInt = Annotated[int, Meta(ge=1)]


class ChatCompletionRequest(Struct, kw_only=True):
    """POST /v1/chat/completions. Fields not listed here pass through to the provider untouched."""

    model: NonEmptyStr
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stop: str | list[str] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    seed: int | None = None
    user: str | None = None
    tools: list[Tool | CustomTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | CustomToolChoice | AllowedToolsChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None


# --- chat responses -----------------------------------------------------------------------------


class PromptTokensDetails(Struct, kw_only=True, omit_defaults=True):
    cached_tokens: int | None = None


class CompletionTokensDetails(Struct, kw_only=True, omit_defaults=True):
    reasoning_tokens: int | None = None


class Usage(Struct, kw_only=True, omit_defaults=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


def cached_prompt_usage(input_tokens: int, output_tokens: int, cache_read: int | None, cache_write: int = 0) -> Usage:
    """Usage for providers that count cached prompt tokens apart from ``input_tokens`` (Anthropic,
    Bedrock): ``prompt_tokens`` counts all of them, as OpenAI's does, and ``cached_tokens`` is the
    part read from the cache (reported only when the provider reported it)."""
    prompt = input_tokens + (cache_read or 0) + cache_write
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output_tokens,
        total_tokens=prompt + output_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cache_read) if cache_read is not None else None,
    )


class AssistantMessage(Struct, kw_only=True):
    """``content`` and ``refusal`` are always sent (null when empty), as OpenAI's schema requires;
    ``tool_calls`` only when there are some: OpenAI's schema has no ``"tool_calls": null``."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | msgspec.UnsetType | None = msgspec.UNSET
    refusal: str | None = None

    def __post_init__(self) -> None:
        if self.tool_calls is None:
            self.tool_calls = msgspec.UNSET


class ReasoningMessage(AssistantMessage, kw_only=True):
    """An assistant message that also carries the model's reasoning (Anthropic, Bedrock).

    ``reasoning_content`` is the readable text (the field name DeepSeek, vLLM and others use);
    ``thinking_blocks`` are Anthropic's blocks as sent, signatures and redacted data included, so a
    client that sends the message back unchanged keeps a thinking + tool-use conversation valid
    (Anthropic requires the signed thinking block before the tool_use it led to).
    """

    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET  # left out unless set


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class Choice(Struct, kw_only=True):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason | None
    logprobs: Any | None = None


class ChatCompletion(Struct, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    # Left out when unknown: OpenAI's schema has neither "usage": null nor "system_fingerprint": null.
    usage: Usage | msgspec.UnsetType | None = msgspec.UNSET
    system_fingerprint: str | msgspec.UnsetType | None = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.usage is None:
            self.usage = msgspec.UNSET
        if self.system_fingerprint is None:
            self.system_fingerprint = msgspec.UNSET


class ToolCallDelta(Struct, kw_only=True, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: dict[str, str] | None = None


class Delta(Struct, kw_only=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    refusal: str | None = None
    # The model's reasoning text, as DeepSeek, vLLM and others stream it (every translator uses it).
    reasoning_content: str | None = None
    # Whole signed (or redacted) reasoning blocks, in ReasoningMessage.thinking_blocks' shape, sent
    # once each block is complete so a client can send them back on the next turn (Anthropic, Bedrock).
    thinking_blocks: list[dict[str, Any]] | None = None


class ChunkChoice(Struct, kw_only=True):
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: Any | None = None


class ChatCompletionChunk(Struct, kw_only=True):
    """One ``data:`` event of a streamed chat completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


# --- embeddings ---------------------------------------------------------------------------------

# A string, or a non-empty array of strings, of token ids, or of token-id arrays. msgspec allows one
# array type per union, so the element kinds are checked to be uniform in __post_init__.
EmbeddingInput = Annotated[str, Meta(min_length=1)] | Annotated[list[str | int | list[int]], Meta(min_length=1, max_length=2048)]


class EmbeddingsRequest(Struct, kw_only=True):
    """POST /v1/embeddings. Fields not listed here pass through to the provider untouched."""

    model: NonEmptyStr
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Meta(ge=1, le=65536)] | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.input, list) and len({type(item) for item in self.input}) > 1:
            raise ValueError("input must be a string, or an array of strings, of token ids, or of token-id arrays")


class Embedding(Struct, kw_only=True):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingsUsage(Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingsUsage


# --- models and health --------------------------------------------------------------------------


class Model(Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Model]


class Health(Struct, kw_only=True):
    status: Literal["ok"] = "ok"
    version: str
    providers: int


class Readiness(Struct, kw_only=True):
    """GET /health/ready when the worker takes traffic (llmg/lifecycle.py)."""

    status: Literal["ready"] = "ready"
    # 1 at start, +1 for each successful reload: lets a deploy script see that a reload landed.
    generation: int


encode = msgspec.json.Encoder().encode
