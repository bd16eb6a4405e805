"""OpenAI Responses in, any provider out: request -> internal chat body, answer/stream -> Response.

Mapping (https://platform.openai.com/docs/api-reference/responses):
- ``instructions`` -> a system message first (not carried to the next turn, as OpenAI documents);
  ``previous_response_id`` -> the stored conversation (inputs and outputs) before this ``input``.
- message items -> chat messages (``developer`` -> system; input_text/output_text -> text parts,
  input_image -> image_url, input_file -> a ``file`` part); ``function_call`` items -> the
  assistant's ``tool_calls``; ``function_call_output`` -> ``tool`` messages; reasoning items are
  the provider's own and are not sent back.
- function tools -> chat function tools; ``tool_choice`` likewise; ``text.format`` json_schema /
  json_object -> ``response_format``; ``reasoning.effort`` -> ``reasoning_effort``;
  ``max_output_tokens`` -> ``max_tokens``.
Answers: reasoning_content -> a reasoning item (summary text), content -> a message item with one
output_text part, tool calls -> function_call items; finish_reason length / content_filter ->
status "incomplete" with that reason.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec
from msgspec import UNSET

from ..errors import GatewayError
from ..schemas.responses import (
    FunctionCallItem,
    FunctionToolChoice,
    IncompleteDetails,
    InputItem,
    InputTokensDetails,
    OutputMessage,
    OutputText,
    OutputTokensDetails,
    Reasoning,
    ReasoningItem,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    SummaryText,
    TextConfig,
    TextFormat,
)
from .sse import named_event

_encode = msgspec.json.Encoder().encode
_to_builtins = msgspec.to_builtins


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


# --- request --------------------------------------------------------------------------------------


def _part(part: Any) -> dict[str, Any] | None:
    kind = part.type
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.text or ""}
    if kind == "refusal":
        return {"type": "text", "text": part.refusal or part.text or ""}
    if kind == "input_image":
        if not part.image_url:
            return None  # a file_id names an upload at OpenAI; no other provider can read it
        image: dict[str, Any] = {"url": part.image_url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    file: dict[str, Any] = {k: v for k, v in (("file_data", part.file_data), ("file_id", part.file_id),
                                             ("filename", part.filename)) if v}
    return {"type": "file", "file": file}


def _message(item: InputItem) -> dict[str, Any]:
    role = item.role or "user"
    if role == "developer":
        role = "system"
    content = item.content
    if content is None:
        content = ""
    if isinstance(content, list):
        parts = [p for p in (_part(part) for part in content) if p is not None]
        if role != "user":  # system and assistant content is text only
            return {"role": role, "content": "".join(p.get("text", "") for p in parts)}
        return {"role": role, "content": parts}
    return {"role": role, "content": content}


def input_messages(items: str | list[InputItem]) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.type or "message"
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            call = {"id": item.call_id or new_id("call"), "type": "function",
                    "function": {"name": item.name or "", "arguments": item.arguments or "{}"}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # parallel calls share one message
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.call_id or "", "content": item.output or ""})
    return messages


def stored_items(items: str | list[InputItem]) -> list[dict[str, Any]]:
    """The input as items with ids, the shape GET /v1/responses/{id}/input_items lists."""
    if isinstance(items, str):
        items = [InputItem(type="message", role="user", content=items)]
    out: list[dict[str, Any]] = []
    for item in items:
        data = {k: v for k, v in _to_builtins(item).items() if v is not None}
        kind = data.setdefault("type", "message")
        if kind == "message":
            text_kind = "output_text" if data.get("role") == "assistant" else "input_text"
            if isinstance(data.get("content"), str):
                data["content"] = [{"type": text_kind, "text": data["content"]}]
            data.setdefault("role", "user")
            data.setdefault("status", "completed")
        data.setdefault("id", new_id({"message": "msg", "function_call": "fc", "function_call_output": "fco"}.get(kind, "rs")))
        out.append(data)
    return out


def to_chat(req: ResponsesRequest, history: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(internal chat body, the conversation so far without instructions)."""
    conversation = history + input_messages(req.input)
    messages = ([{"role": "system", "content": req.instructions}] if req.instructions else []) + conversation
    if not messages:
        messages = [{"role": "user", "content": ""}]
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.max_output_tokens is not None:
        body["max_tokens"] = req.max_output_tokens
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.tools:
        body["tools"] = [{"type": "function", "function": {k: v for k, v in (
            ("name", t.name), ("description", t.description), ("parameters", t.parameters), ("strict", t.strict)) if v is not None}}
            for t in req.tools]
        choice = req.tool_choice
        if isinstance(choice, FunctionToolChoice):
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif choice is not None:
            body["tool_choice"] = choice
    fmt = req.text.format if req.text else None
    if fmt is not None and fmt.type == "json_schema":
        schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {"type": "object"}}
        if fmt.description:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt is not None and fmt.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    if req.reasoning and req.reasoning.effort:
        body["reasoning_effort"] = req.reasoning.effort
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body, conversation


# --- answer ---------------------------------------------------------------------------------------


def usage_of(usage: object) -> ResponseUsage | None:
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return ResponseUsage(
        input_tokens=prompt,
        input_tokens_details=InputTokensDetails(
            cached_tokens=int(prompt_details.get("cached_tokens") or 0) if isinstance(prompt_details, dict) else 0),
        output_tokens=completion,
        output_tokens_details=OutputTokensDetails(
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0) if isinstance(completion_details, dict) else 0),
        total_tokens=int(usage.get("total_tokens") or prompt + completion),
    )


def shell(req: ResponsesRequest, response_id: str, status: str, output: list[Any]) -> ResponseObject:
    """A ResponseObject that echoes the request's settings, as OpenAI's does."""
    return ResponseObject(
        id=response_id,
        created_at=int(time.time()),
        status=status,  # type: ignore[arg-type]
        model=req.model,
        output=output,
        instructions=req.instructions,
        previous_response_id=req.previous_response_id,
        max_output_tokens=req.max_output_tokens,
        parallel_tool_calls=req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        temperature=req.temperature,
        top_p=req.top_p,
        tool_choice=req.tool_choice if req.tool_choice is not None else "auto",
        tools=list(req.tools or []),
        text=req.text if req.text and req.text.format else TextConfig(format=TextFormat(type="text")),
        reasoning=req.reasoning or Reasoning(),
        store=req.store is not False,
        metadata=dict(req.metadata or {}),
        user=req.user if req.user is not None else UNSET,
    )


def _finish(response: ResponseObject, finish: str | None) -> None:
    if finish == "length":
        response.status = "incomplete"
        response.incomplete_details = IncompleteDetails(reason="max_output_tokens")
    elif finish == "content_filter":
        response.status = "incomplete"
        response.incomplete_details = IncompleteDetails(reason="content_filter")
    else:
        response.status = "completed"


def assistant_message(text: str, calls: list[FunctionCallItem]) -> dict[str, Any]:
    """The answer in chat shape, kept for the next turn of a previous_response_id conversation."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [{"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                 for c in calls]
    return message


def from_chat(answer: dict[str, Any], req: ResponsesRequest, response_id: str) -> tuple[ResponseObject, dict[str, Any]]:
    choices = answer.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[Any] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(ReasoningItem(id=new_id("rs"), summary=[SummaryText(text=reasoning)]))
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if text:
        output.append(OutputMessage(id=new_id("msg"), status="completed", content=[OutputText(text=text)]))
    calls = [FunctionCallItem(id=new_id("fc"), call_id=c.get("id") or new_id("call"), name=(c.get("function") or {}).get("name", ""),
                              arguments=(c.get("function") or {}).get("arguments") or "", status="completed")
             for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    output.extend(calls)
    response = shell(req, response_id, "completed", output)
    _finish(response, choice.get("finish_reason"))
    response.usage = usage_of(answer.get("usage")) or UNSET
    return response, assistant_message(text, calls)


# --- stream ---------------------------------------------------------------------------------------


class StreamTranslator:
    """OpenAI chat chunks -> the Responses event sequence: response.created, response.in_progress,
    then per output item output_item.added, (content_part.added, output_text.delta...,
    output_text.done, content_part.done | function_call_arguments.delta..., .done |
    reasoning_summary_*), output_item.done, and finally response.completed (or .incomplete).
    Every event carries ``sequence_number``; items never interleave, so one is open at a time."""

    def __init__(self, req: ResponsesRequest, response_id: str) -> None:
        self.req = req
        self.response = shell(req, response_id, "in_progress", [])
        self.seq = 0
        self.open: Any = None  # the item being streamed
        self.tool_index: int | None = None
        self.finish: str | None = None
        self.pieces: list[str] = []  # the open item's deltas, joined when it closes (no quadratic +=)
        self.texts: list[str] = []
        self.calls: list[FunctionCallItem] = []

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return named_event(kind, payload)

    def start(self) -> list[bytes]:
        snapshot = _to_builtins(self.response)
        return [self._event("response.created", response=snapshot), self._event("response.in_progress", response=snapshot)]

    @property
    def _index(self) -> int:
        return len(self.response.output) - 1

    def _close(self) -> list[bytes]:
        item, self.open = self.open, None
        if item is None:
            return []
        joined, self.pieces = "".join(self.pieces), []
        if isinstance(item, OutputMessage):
            item.content[0].text = joined
            self.texts.append(joined)
        elif isinstance(item, FunctionCallItem):
            item.arguments = joined
        else:
            item.summary[0].text = joined
        index = self._index
        out: list[bytes] = []
        if isinstance(item, OutputMessage):
            part = item.content[0]
            out.append(self._event("response.output_text.done", item_id=item.id, output_index=index, content_index=0, text=part.text, logprobs=[]))
            out.append(self._event("response.content_part.done", item_id=item.id, output_index=index, content_index=0, part=_to_builtins(part)))
        elif isinstance(item, FunctionCallItem):
            out.append(self._event("response.function_call_arguments.done", item_id=item.id, output_index=index,
                                   name=item.name, arguments=item.arguments))
        elif isinstance(item, ReasoningItem):
            summary = item.summary[0]
            out.append(self._event("response.reasoning_summary_text.done", item_id=item.id, output_index=index, summary_index=0, text=summary.text))
            out.append(self._event("response.reasoning_summary_part.done", item_id=item.id, output_index=index, summary_index=0, part=_to_builtins(summary)))
        if not isinstance(item, ReasoningItem):
            item.status = "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=_to_builtins(item)))
        return out

    def _add(self, item: Any) -> list[bytes]:
        out = self._close()
        self.response.output.append(item)
        self.open = item
        snapshot = _to_builtins(item)
        if isinstance(item, OutputMessage):
            snapshot["content"] = []
        elif isinstance(item, ReasoningItem):
            snapshot["summary"] = []
        out.append(self._event("response.output_item.added", output_index=self._index, item=snapshot))
        return out

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(chunk.get("usage"), dict):
            self.response.usage = usage_of(chunk["usage"]) or UNSET
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                if not isinstance(self.open, ReasoningItem):
                    item: Any = ReasoningItem(id=new_id("rs"), summary=[SummaryText(text="")])
                    out += self._add(item)
                    out.append(self._event("response.reasoning_summary_part.added", item_id=item.id, output_index=self._index,
                                           summary_index=0, part={"type": "summary_text", "text": ""}))
                self.pieces.append(reasoning)
                out.append(self._event("response.reasoning_summary_text.delta", item_id=self.open.id, output_index=self._index,
                                       summary_index=0, delta=reasoning))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if not isinstance(self.open, OutputMessage):
                    item = OutputMessage(id=new_id("msg"), status="in_progress", content=[OutputText(text="")])
                    out += self._add(item)
                    out.append(self._event("response.content_part.added", item_id=item.id, output_index=self._index, content_index=0,
                                           part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
                self.pieces.append(text)
                out.append(self._event("response.output_text.delta", item_id=self.open.id, output_index=self._index,
                                       content_index=0, delta=text, logprobs=[]))
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                if not isinstance(self.open, FunctionCallItem) or self.tool_index != call.get("index", 0):
                    self.tool_index = call.get("index", 0)
                    item = FunctionCallItem(id=new_id("fc"), call_id=call.get("id") or new_id("call"), name=function.get("name") or "",
                                            arguments="", status="in_progress")
                    self.calls.append(item)
                    out += self._add(item)
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    self.pieces.append(arguments)
                    out.append(self._event("response.function_call_arguments.delta", item_id=self.open.id,
                                           output_index=self._index, delta=arguments))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def end(self) -> list[bytes]:
        out = self._close()
        _finish(self.response, self.finish)
        kind = "response.completed" if self.response.status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=_to_builtins(self.response)))
        return out

    def error(self, exc: GatewayError) -> bytes:
        return self._event("error", code=exc.code or exc.type, message=exc.message, param=exc.param)

    def assistant(self) -> dict[str, Any]:
        return assistant_message("".join(self.texts), self.calls)

