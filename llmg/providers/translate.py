"""The one contract every stream translator follows, and the loop that drives it.

A translator turns one provider's stream events into OpenAI ``chat.completion.chunk`` events:

    feed(event) -> list[bytes]   one decoded upstream event in, zero or more SSE events out
    close()     -> list[bytes]   the upstream is done: the last chunks (finish, usage), or a
                                 ProviderError if the stream ended before the provider said it was over
    done: bool                   True once the provider has said the answer is over (reading stops)

Translators write every chunk through a ``ChunkWriter``, which holds what is constant for the
stream (id, created, model, whether usage was asked for) and the tool-call numbering, and encodes
``schemas.openai`` Structs only — so ``contracts/openapi.yaml`` describes every byte they send.
No translator writes ``[DONE]``: ``run`` does, once, after ``close()`` (and ``sse.relay_sse`` for
streams passed through untranslated).
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from ..errors import ProviderError
from ..schemas.openai import ChatCompletionChunk, ChunkChoice, Delta, FinishReason, ToolCallDelta, Usage
from ..sse import DONE, SSEEvent, event, sse_events
from ..transports import UpstreamStream

E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)


class StreamTranslator(Protocol[E_contra]):
    done: bool

    def feed(self, event: E_contra) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...


class ChunkWriter:
    """Builds the OpenAI chunks of one stream; the state every translator used to keep itself."""

    __slots__ = ("id", "created", "model", "include_usage", "_tools", "_counts", "_argued")

    def __init__(self, model: str, include_usage: bool, *, ident: str = "", created: int | None = None) -> None:
        self.id = ident
        self.created = created if created is not None else int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._tools: dict[tuple[int, object], int] = {}  # (choice, upstream key) -> our tool-call index
        self._counts: dict[int, int] = {}  # choice -> tool calls numbered so far
        self._argued: set[tuple[int, int]] = set()  # (choice, tool index) that got an arguments fragment

    def chunk(self, delta: Delta, finish: FinishReason | None = None, index: int = 0, logprobs: Any = None) -> bytes:
        choice = ChunkChoice(index=index, delta=delta, finish_reason=finish, logprobs=logprobs)
        return event(ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[choice]))

    def usage(self, usage: Usage | None) -> list[bytes]:
        """The usage-only chunk (``choices: []``), when the client asked for it and there is one."""
        if not self.include_usage or usage is None:
            return []
        return [event(ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[], usage=usage))]

    def tool_index(self, key: object, choice: int = 0) -> tuple[int, bool]:
        """Our index (0, 1, ... per choice, in order of first sight) for the upstream's tool call
        ``key``, and whether this is its first sight."""
        found = self._tools.get((choice, key))
        if found is not None:
            return found, False
        index = self.new_tool(choice)
        self._tools[(choice, key)] = index
        return index, True

    def find_tool(self, key: object, choice: int = 0) -> int | None:
        return self._tools.get((choice, key))

    def new_tool(self, choice: int = 0) -> int:
        """The next index for a tool call the upstream does not number (Gemini's functionCall parts)."""
        index = self._counts.get(choice, 0)
        self._counts[choice] = index + 1
        return index

    def tool_count(self, choice: int = 0) -> int:
        return self._counts.get(choice, 0)

    def tool_arguments(self, index: int, part: str, choice: int = 0) -> bytes:
        """The chunk carrying one fragment of tool call ``index``'s arguments (``part`` non-empty)."""
        self._argued.add((choice, index))
        return self.chunk(Delta(tool_calls=[ToolCallDelta(index=index, function={"arguments": part})]), index=choice)

    def empty_arguments(self, choice: int = 0) -> list[bytes]:
        """``"{}"`` for every tool call that got no arguments at all (a tool without parameters):
        OpenAI sends ``"{}"`` there, and clients ``json.loads`` the joined fragments. Sent before
        the finish chunk; each call gets it once."""
        out = []
        for index in range(self.tool_count(choice)):
            if (choice, index) not in self._argued:
                out.append(self.tool_arguments(index, "{}", choice))
        return out


async def run(events: AsyncIterator[E], translator: StreamTranslator[E]) -> AsyncIterator[bytes]:
    """Drive ``translator`` over ``events``: the translated chunks, then ``[DONE]`` (the only place
    a translated stream gets it)."""
    async for item in events:
        for out in translator.feed(item):
            yield out
        if translator.done:
            break
    for out in translator.close():
        yield out
    yield DONE
    if translator.done:
        await _drain(events)


# Events read and dropped after the provider's final one: normally none, only the end of the body.
_DRAIN_EVENTS = 16


async def _drain(events: AsyncIterator[Any]) -> None:
    """Read what the upstream still sends after its final event, so that its body ends cleanly
    and the connection goes back to the pool (closed half-read, every stream paid a new TCP
    connection). The client already has its whole answer and [DONE] (``send_stream`` keeps
    iterating after it for this): a failure here is dropped, and an upstream that keeps talking
    is cut after ``_DRAIN_EVENTS`` events."""
    count = 0
    try:
        async for _ in events:
            count += 1
            if count >= _DRAIN_EVENTS:
                return
    except Exception:  # the answer is complete: only the connection's reuse is lost
        pass


async def sse_decoded(chunks: AsyncIterator[bytes], decode: Callable[[SSEEvent], E | None]) -> AsyncIterator[E]:
    """An SSE body's events, each decoded by ``decode`` (None: skip the event)."""
    async for ev in sse_events(chunks):
        item = decode(ev)
        if item is not None:
            yield item


async def require_event_stream(stream: UpstreamStream, provider: str) -> UpstreamStream:
    """The guard every streaming adapter runs before translating or relaying: an upstream that
    ignored ``stream: true`` answers ``application/json``, which is no event stream at all, so the
    client gets a 502 before any byte instead of an empty or broken stream."""
    if stream.headers.get("content-type", "").lower().startswith("application/json"):
        await stream.aclose()
        raise ProviderError(f"{provider}: upstream answered without streaming", code="upstream_bad_response")
    return stream


def embedding_value(vector: list[float], encoding_format: str | None) -> list[float] | str:
    """One embedding as OpenAI returns it: the floats, or (``encoding_format: base64``) their
    little-endian float32 bytes in base64, as the OpenAI SDKs decode them."""
    if encoding_format != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
