"""Anthropic Messages API shapes (``POST /v1/messages``, ``/v1/messages/count_tokens``) as Structs.

Request Structs describe what the gateway can serve on *every* provider (the subset that translates
to the OpenAI chat shape); block, tool-choice and thinking kinds are tagged unions on ``type``, so
the schema is exact and a schema-valid body never fails translation. A body routed natively to
Anthropic that is outside this subset (a server tool, a new block type) is still forwarded as sent:
Anthropic validates its own API (see ``llmg.inbound.anthropic``).
Field names and kinds follow https://docs.anthropic.com/en/api/messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

NonEmptyStr = Annotated[str, Meta(min_length=1)]
UnitFloat = Annotated[float, Meta(ge=0, le=1)]

# --- content blocks -------------------------------------------------------------------------------


class CacheControl(Struct, kw_only=True):
    type: Literal["ephemeral"] = "ephemeral"
    ttl: str | None = None


class Base64ImageSource(Struct, kw_only=True, tag_field="type", tag="base64"):
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: NonEmptyStr


class URLImageSource(Struct, kw_only=True, tag_field="type", tag="url"):
    url: NonEmptyStr


class DocumentSource(Struct, kw_only=True):
    """A PDF as base64 or URL, or plain text (``type`` text, ``media_type`` text/plain)."""

    type: Literal["base64", "url", "text"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class TextBlock(Struct, kw_only=True, tag_field="type", tag="text"):
    text: str
    cache_control: CacheControl | None = None


class SystemBlock(Struct, kw_only=True):
    """A text block of ``system`` (not in a union there, so ``type`` is an ordinary required field)."""

    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None


class ImageBlock(Struct, kw_only=True, tag_field="type", tag="image"):
    source: Base64ImageSource | URLImageSource
    cache_control: CacheControl | None = None


class DocumentBlock(Struct, kw_only=True, tag_field="type", tag="document"):
    source: DocumentSource
    title: str | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(Struct, kw_only=True, tag_field="type", tag="tool_use"):
    id: NonEmptyStr
    name: NonEmptyStr
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolResultBlock(Struct, kw_only=True, tag_field="type", tag="tool_result"):
    tool_use_id: NonEmptyStr
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(Struct, kw_only=True, tag_field="type", tag="thinking"):
    thinking: str
    signature: str


class RedactedThinkingBlock(Struct, kw_only=True, tag_field="type", tag="redacted_thinking"):
    data: str


InputBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock


class InputMessage(Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[InputBlock]


# --- tools, tool choice, thinking -----------------------------------------------------------------


class ToolDefinition(Struct, kw_only=True):
    """A client tool. (Anthropic's server tools are served only when routed to Anthropic itself.)"""

    name: Annotated[str, Meta(min_length=1, max_length=128, pattern="^[a-zA-Z0-9_-]+$")]
    input_schema: dict[str, Any]
    description: str | None = None
    type: Literal["custom"] | None = None
    cache_control: CacheControl | None = None


class ToolChoiceAuto(Struct, kw_only=True, tag_field="type", tag="auto"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(Struct, kw_only=True, tag_field="type", tag="any"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(Struct, kw_only=True, tag_field="type", tag="tool"):
    name: NonEmptyStr
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(Struct, kw_only=True, tag_field="type", tag="none"):
    pass


class ThinkingEnabled(Struct, kw_only=True, tag_field="type", tag="enabled"):
    budget_tokens: Annotated[int, Meta(ge=1024)]


class ThinkingDisabled(Struct, kw_only=True, tag_field="type", tag="disabled"):
    pass


class RequestMetadata(Struct, kw_only=True):
    user_id: str | None = None


class MessagesRequest(Struct, kw_only=True):
    """POST /v1/messages. Unknown fields are ignored on translation and forwarded to Anthropic natively."""

    model: NonEmptyStr
    max_tokens: Annotated[int, Meta(ge=1)]
    messages: Annotated[list[InputMessage], Meta(min_length=1)]
    system: str | list[SystemBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: UnitFloat | None = None
    top_p: UnitFloat | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone | None = None
    thinking: ThinkingEnabled | ThinkingDisabled | None = None
    metadata: RequestMetadata | None = None


class CountTokensRequest(Struct, kw_only=True):
    """POST /v1/messages/count_tokens: the request of /v1/messages without max_tokens."""

    model: NonEmptyStr
    messages: Annotated[list[InputMessage], Meta(min_length=1)]
    system: str | list[SystemBlock] | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone | None = None
    thinking: ThinkingEnabled | ThinkingDisabled | None = None


# --- answers --------------------------------------------------------------------------------------


class TextOut(Struct, kw_only=True, tag_field="type", tag="text"):
    text: str


class ThinkingOut(Struct, kw_only=True, tag_field="type", tag="thinking"):
    thinking: str
    signature: str = ""


class ToolUseOut(Struct, kw_only=True, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]


class MessagesUsage(Struct, kw_only=True):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class MessageResponse(Struct, kw_only=True):
    """A complete answer of POST /v1/messages."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ThinkingOut | TextOut | ToolUseOut]
    stop_reason: StopReason | None
    stop_sequence: str | None = None
    usage: MessagesUsage


class CountTokensResponse(Struct, kw_only=True):
    input_tokens: int


class AnthropicErrorBody(Struct, kw_only=True):
    type: str
    message: str


class AnthropicErrorResponse(Struct, kw_only=True):
    """Every error on the /v1/messages routes, in Anthropic's shape."""

    type: Literal["error"] = "error"
    error: AnthropicErrorBody
