"""OpenAI Responses API shapes (``/v1/responses``) as Structs.

Requests describe what the gateway serves on every provider: function tools (not OpenAI's hosted
tools), text/image input, ``text.format``, ``reasoning``. A body outside that subset routed to
OpenAI itself still passes through as sent (``llmg.inbound.responses``). Input items are one loose
Struct, not a tagged union, because the API lets a message item leave out ``type``.
Field names follow https://platform.openai.com/docs/api-reference/responses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

NonEmptyStr = Annotated[str, Meta(min_length=1)]

# --- requests -------------------------------------------------------------------------------------


class InputContent(Struct, kw_only=True):
    """One part of a message item: input_text / output_text / refusal (text), input_image, input_file."""

    type: Literal["input_text", "output_text", "refusal", "input_image", "input_file"]
    text: str | None = None
    refusal: str | None = None
    image_url: str | None = None
    detail: Literal["low", "high", "auto"] | None = None
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class InputItem(Struct, kw_only=True):
    """A message (``type`` "message" or left out), a function_call, a function_call_output, or a
    reasoning item (accepted and not sent on: its text is the provider's own)."""

    type: Literal["message", "function_call", "function_call_output", "reasoning"] | None = None
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[InputContent] | None = None
    id: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class FunctionTool(Struct, kw_only=True):
    type: Literal["function"]
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern="^[a-zA-Z0-9_-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionToolChoice(Struct, kw_only=True):
    type: Literal["function"]
    name: NonEmptyStr


class TextFormat(Struct, kw_only=True, omit_defaults=True):
    type: Literal["text", "json_schema", "json_object"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextConfig(Struct, kw_only=True, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class Reasoning(Struct, kw_only=True):
    effort: Literal["minimal", "low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class ResponsesRequest(Struct, kw_only=True):
    """POST /v1/responses."""

    model: NonEmptyStr
    input: Annotated[str, Meta(min_length=1)] | Annotated[list[InputItem], Meta(min_length=1)]
    instructions: str | None = None
    previous_response_id: NonEmptyStr | None = None
    store: bool | None = None
    stream: bool | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    max_output_tokens: Annotated[int, Meta(ge=1)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None


# --- answers --------------------------------------------------------------------------------------


class OutputText(Struct, kw_only=True):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = []
    logprobs: list[Any] = []


class OutputMessage(Struct, kw_only=True, tag_field="type", tag="message"):
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class FunctionCallItem(Struct, kw_only=True, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


class SummaryText(Struct, kw_only=True):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningItem(Struct, kw_only=True, tag_field="type", tag="reasoning"):
    id: str
    summary: list[SummaryText]


OutputItem = ReasoningItem | OutputMessage | FunctionCallItem


class InputTokensDetails(Struct, kw_only=True):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(Struct, kw_only=True):
    reasoning_tokens: int = 0


class ResponseUsage(Struct, kw_only=True):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class IncompleteDetails(Struct, kw_only=True):
    reason: Literal["max_output_tokens", "content_filter"]


class ResponseError(Struct, kw_only=True):
    code: str
    message: str


class ResponseObject(Struct, kw_only=True):
    """A response: the answer of POST /v1/responses, GET /v1/responses/{id}, and the payload of the
    stream's response.created / in_progress / completed events."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    model: str
    output: list[OutputItem]
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice = "auto"
    tools: list[FunctionTool] = []
    text: TextConfig
    reasoning: Reasoning
    store: bool = True
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | UnsetType = UNSET  # left out until known, as OpenAI does
    metadata: dict[str, str] = {}
    user: str | UnsetType = UNSET  # echoed when the request had one (OpenAI's schema has no null here)


class InputItemList(Struct, kw_only=True):
    """GET /v1/responses/{id}/input_items: the items the response was made from, oldest first."""

    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


class DeletedResponse(Struct, kw_only=True):
    id: str
    object: Literal["response"] = "response"
    deleted: Literal[True] = True
