"""The built-in offline provider: deterministic OpenAI-shaped answers with no network at all.

It is the embedded default, so a fresh machine answers the README's curl example with no keys.
Same request, same answer: the reply text, token counts, ids and embedding vectors are derived
from the request itself. It honours ``max_tokens``/``max_completion_tokens`` (finish_reason
"length"), ``stream_options.include_usage``, ``dimensions`` and ``encoding_format``, and answers a
request that offers tools (and whose last message is not a tool result) with a call to the first
tool, so tool-call round trips can be tried offline.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator

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
    Usage,
    encode,
)
from ..sse import DONE, event
from .base import Call, Provider, Reply

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


class MockProvider(Provider):
    def _answer(self, request: ChatCompletionRequest) -> tuple[list[str], FinishReason, ToolCall | None, int]:
        """(answer words, finish reason, tool call or None, prompt tokens)."""
        limit = request.max_completion_tokens or request.max_tokens
        if limit is not None and limit > MAX_TOKENS:
            raise _over("tokens per answer", MAX_TOKENS, "max_completion_tokens" if request.max_completion_tokens else "max_tokens")
        if (request.n or 1) > MAX_N:
            raise _over("choices (n)", MAX_N, "n")
        prompt_tokens = sum(len(_text_of(m.content).split()) + 1 for m in request.messages)
        last = request.messages[-1]
        functions = [t.function for t in request.tools or () if isinstance(t, Tool)]
        if functions and request.tool_choice != "none" and last.role != "tool":
            tool = functions[0]
            call = ToolCall(id=f"call_{_digest(tool.name.encode())[:16]}", function=FunctionCall(name=tool.name, arguments="{}"))
            return [], "tool_calls", call, prompt_tokens
        said = _text_of(last.content).strip() or "(nothing)"
        if last.role == "tool":
            said = f"the tool result {said}"
        words = f"This is a mock response from LLMG. You said: {said}".split()
        finish: FinishReason = "stop"
        if limit is not None and limit < len(words):
            words, finish = words[:limit], "length"
        if len(words) * (request.n or 1) > MAX_ANSWER_WORDS:
            raise _over("answer words over all choices", MAX_ANSWER_WORDS, "n" if request.n else "messages")
        return words, finish, None, prompt_tokens

    async def chat(self, call: Call) -> Reply:
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        words, finish, tool_call, prompt_tokens = self._answer(request)
        message = AssistantMessage(content=None if tool_call else " ".join(words), tool_calls=[tool_call] if tool_call else None)
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
        words, finish, tool_call, prompt_tokens = self._answer(request)
        ident, created, model = f"chatcmpl-mock-{_digest(call.raw)}", int(time.time()), call.model

        def chunk(delta: Delta, finish_reason: str | None = None) -> bytes:
            choice = ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)  # type: ignore[arg-type]
            return event(ChatCompletionChunk(id=ident, created=created, model=model, choices=[choice]))

        yield chunk(Delta(role="assistant", content="" if not tool_call else None))
        if tool_call:
            yield chunk(Delta(tool_calls=[ToolCallDelta(index=0, id=tool_call.id, type="function",
                                                        function={"name": tool_call.function.name, "arguments": ""})]))
            yield chunk(Delta(tool_calls=[ToolCallDelta(index=0, function={"arguments": tool_call.function.arguments})]))
        for i, word in enumerate(words):
            yield chunk(Delta(content=word if i == 0 else " " + word))
        yield chunk(Delta(), finish)
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
