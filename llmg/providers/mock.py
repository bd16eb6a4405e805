"""The built-in offline provider: deterministic OpenAI-shaped answers with no network at all.

It is the embedded default, so a fresh machine answers the README's curl example with no keys.
Same request, same answer: the reply text, token counts, ids and embedding vectors are derived
from the request itself. It honours ``max_tokens``/``max_completion_tokens`` (finish_reason
"length"), ``stream_options.include_usage``, ``n`` (streamed too), ``dimensions`` and
``encoding_format``. ``response_format`` is honoured: ``json_object`` answers a JSON object and
``json_schema`` an instance of the schema (mock_schema.py), so structured-output clients work
offline. A request that offers tools is answered with a tool call whose arguments satisfy the
tool's parameter schema: the tool ``tool_choice`` names, else the first one (``auto`` does not call
again after a tool result, so tool-call round trips end).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator

import msgspec

from ..errors import InvalidRequest
from ..schemas.openai import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Embedding,
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbeddingsUsage,
    FinishReason,
    FunctionCall,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
    encode,
)
from ..sse import DONE, event
from .base import Call, Provider, Reply
from .mock_schema import instance

DEFAULT_DIMENSIONS = 16

# Caps that keep a tiny request from making the mock build a huge answer on the event loop (a
# 447-byte body once asked for 62 MB of embeddings). Far above what trying the gateway needs.
MAX_N = 8  # choices per chat answer
MAX_TOKENS = 100_000  # max_tokens / max_completion_tokens
MAX_ANSWER_WORDS = 200_000  # words over all choices (the answer echoes the prompt)
MAX_EMBEDDING_VALUES = 262_144  # inputs x dimensions in one embeddings answer


def _over(what: str, limit: int, param: str) -> InvalidRequest:
    return InvalidRequest(f"The mock provider allows at most {limit:,} {what}", param=param, code="mock_limit_exceeded")


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.text for part in content if part.type == "text" and part.text)
    return ""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


JSON_PIECE = 16  # characters of a JSON answer per "token" (stream chunk, max_tokens unit)


def _pick_tool(request: ChatCompletionRequest) -> Tool | None:
    """The tool the mock calls, or None for a text answer."""
    choice = request.tool_choice
    tools = [t for t in request.tools or () if isinstance(t, Tool)]  # function tools: custom ones are not called
    if not tools or choice == "none":
        return None
    if isinstance(choice, ToolChoice):
        for tool in tools:
            if tool.function.name == choice.function.name:
                return tool
        raise InvalidRequest(f"tool_choice names {choice.function.name!r}, which is not in tools", param="tool_choice")
    if choice != "required" and request.messages[-1].role == "tool":
        return None  # "auto" answers the tool result in text, so a round trip ends
    return tools[0]


def _json_content(request: ChatCompletionRequest, said: str) -> str | None:
    """The JSON text response_format asks for, or None when it asks for plain text."""
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return msgspec.json.encode({"response": f"This is a mock response from LLMG. You said: {said}"}).decode()
    schema = fmt.json_schema.schema if fmt.json_schema else None
    return msgspec.json.encode(instance(schema, "response_format")).decode()


class MockProvider(Provider):
    def _answer(self, request: ChatCompletionRequest) -> tuple[list[str], str, FinishReason, ToolCall | None, int]:
        """(answer pieces, the string between pieces, finish reason, tool call or None, prompt tokens)."""
        limit = request.max_completion_tokens or request.max_tokens
        if limit is not None and limit > MAX_TOKENS:
            raise _over("tokens per answer", MAX_TOKENS, "max_completion_tokens" if request.max_completion_tokens else "max_tokens")
        if (request.n or 1) > MAX_N:
            raise _over("choices (n)", MAX_N, "n")
        prompt_tokens = sum(len(_text_of(m.content).split()) + 1 for m in request.messages)
        last = request.messages[-1]
        tool = _pick_tool(request)
        if tool is not None:
            params = tool.function.parameters
            arguments = msgspec.json.encode(instance(params, "tools")).decode() if params else "{}"
            ident = f"call_{_digest(tool.function.name.encode())[:16]}"
            call = ToolCall(id=ident, function=FunctionCall(name=tool.function.name, arguments=arguments))
            return [], "", "tool_calls", call, prompt_tokens
        said = _text_of(last.content).strip() or "(nothing)"
        if last.role == "tool":
            said = f"the tool result {said}"
        structured = _json_content(request, said)
        if structured is not None:
            # Pieces that join to the JSON text with no separator: the first piece carries no space.
            pieces = [structured[i : i + JSON_PIECE] for i in range(0, len(structured), JSON_PIECE)]
            joiner = ""
        else:
            pieces = f"This is a mock response from LLMG. You said: {said}".split()
            joiner = " "
        finish: FinishReason = "stop"
        if limit is not None and limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        if len(pieces) * (request.n or 1) > MAX_ANSWER_WORDS:
            raise _over("answer words over all choices", MAX_ANSWER_WORDS, "n" if request.n else "messages")
        return pieces, joiner, finish, None, prompt_tokens

    async def chat(self, call: Call) -> Reply:
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        words, joiner, finish, tool_call, prompt_tokens = self._answer(request)
        message = AssistantMessage(content=None if tool_call else joiner.join(words), tool_calls=[tool_call] if tool_call else None)
        completion_tokens = len(words) + (1 if tool_call else 0)
        reply = ChatCompletion(
            id=f"chatcmpl-mock-{_digest(call.raw)}",
            created=int(time.time()),
            model=call.model,
            choices=[Choice(index=i, message=message, finish_reason=finish) for i in range(request.n or 1)],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            system_fingerprint="llmg-mock",
        )
        return Reply(encode(reply))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[bytes]:
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        words, joiner, finish, tool_call, prompt_tokens = self._answer(request)
        ident, created, model = f"chatcmpl-mock-{_digest(call.raw)}", int(time.time()), call.model

        def chunk(index: int, delta: Delta, finish_reason: str | None = None) -> bytes:
            choice = ChunkChoice(index=index, delta=delta, finish_reason=finish_reason)  # type: ignore[arg-type]
            return event(ChatCompletionChunk(id=ident, created=created, model=model, choices=[choice]))

        # Every choice streams, interleaved piece by piece the way OpenAI interleaves n > 1.
        choices = range(request.n or 1)
        for i in choices:
            yield chunk(i, Delta(role="assistant", content="" if not tool_call else None))
        if tool_call:
            for i in choices:
                start = ToolCallDelta(index=0, id=tool_call.id, type="function", function={"name": tool_call.function.name, "arguments": ""})
                yield chunk(i, Delta(tool_calls=[start]))
                yield chunk(i, Delta(tool_calls=[ToolCallDelta(index=0, function={"arguments": tool_call.function.arguments})]))
        for n, word in enumerate(words):
            piece = word if n == 0 else joiner + word
            for i in choices:
                yield chunk(i, Delta(content=piece))
        for i in choices:
            yield chunk(i, Delta(), finish)
        if request.stream_options and request.stream_options.include_usage:
            completion_tokens = len(words) + (1 if tool_call else 0)
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens)
            yield event(ChatCompletionChunk(id=ident, created=created, model=model, choices=[], usage=usage))
        yield DONE

    async def embeddings(self, call: Call) -> Reply:
        request = call.request
        assert isinstance(request, EmbeddingsRequest)
        items = request.input
        texts: list[str] = [items] if isinstance(items, str) else [str(x) for x in items]
        if isinstance(items, list) and items and isinstance(items[0], int):
            texts = [" ".join(map(str, items))]
        dims = request.dimensions or DEFAULT_DIMENSIONS
        if len(texts) * dims > MAX_EMBEDDING_VALUES:
            raise _over("embedding values (inputs x dimensions)", MAX_EMBEDDING_VALUES, "dimensions" if request.dimensions else "input")
        data = []
        for index, text in enumerate(texts):
            vector = _vector(text, dims)
            value: list[float] | str = vector
            if request.encoding_format == "base64":
                value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
            data.append(Embedding(index=index, embedding=value))
        tokens = sum(len(t.split()) for t in texts)
        reply = EmbeddingsResponse(data=data, model=call.model, usage=EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens))
        return Reply(encode(reply))


def _vector(text: str, dims: int) -> list[float]:
    """A unit vector derived from the text's hash: equal texts, equal vectors."""
    seed = hashlib.sha256(text.encode()).digest()
    raw: list[float] = []
    counter = 0
    while len(raw) < dims:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        raw.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    raw = raw[:dims]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


ADAPTER = MockProvider
