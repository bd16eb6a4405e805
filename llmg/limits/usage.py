"""Token usage read from answers, for TPM: complete JSON bodies and OpenAI-format SSE streams.

Only the ``usage`` object is decoded (msgspec skips everything else without building it). Both
OpenAI's names (prompt/completion/total_tokens) and Anthropic's (input/output_tokens) are read, so
the same code serves every inbound format whose answers carry usage.
"""

from __future__ import annotations

import re

import msgspec


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def total(self) -> int:
        if self.total_tokens is not None:
            return self.total_tokens
        if self.prompt_tokens is not None or self.completion_tokens is not None:
            return (self.prompt_tokens or 0) + (self.completion_tokens or 0)
        return (self.input_tokens or 0) + (self.output_tokens or 0)


class _WithUsage(msgspec.Struct):
    usage: _Usage | None = None


class _Chunk(msgspec.Struct):
    choices: list[msgspec.Raw] | None = None
    usage: _Usage | None = None


# Events end with a blank line; the SSE format allows LF, CRLF and CR line ends.
_BOUNDARY = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
# A partial event longer than this is passed on unmetered instead of held back.
_MAX_HELD = 1 << 20


def _last_boundary(buffer: bytes) -> int:
    """The index just past the last event end in ``buffer``, or -1."""
    return max(
        (at + len(mark) for mark in (b"\n\n", b"\r\n\r\n", b"\r\r") if (at := buffer.rfind(mark)) >= 0),
        default=-1,
    )


_body = msgspec.json.Decoder(_WithUsage)
_chunk = msgspec.json.Decoder(_Chunk)


def body_tokens(body: bytes) -> int | None:
    """Total tokens in a complete answer; None if it carries no usage."""
    if b'"usage"' not in body:
        return None
    try:
        usage = _body.decode(body).usage
    except msgspec.DecodeError:
        return None
    return usage.total() if usage is not None else None


class StreamMeter:
    """Watches an outgoing SSE body for usage, and drops the usage-only chunk the gateway asked
    the upstream for (``stream_options.include_usage``) when the client did not ask for it.

    Only complete events are passed on (split at the blank line), so a chunk may be held back until
    its event is whole; chunks without a usage object pass through without being parsed.
    """

    __slots__ = ("drop_usage_chunk", "tokens", "_buffer")

    def __init__(self, drop_usage_chunk: bool) -> None:
        self.drop_usage_chunk = drop_usage_chunk
        self.tokens: int | None = None
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer + data if self._buffer else data
        end = _last_boundary(buffer)
        if end < 0:
            if len(buffer) > _MAX_HELD:  # no event end in sight: pass it on rather than hold it
                self._buffer = b""
                return buffer
            self._buffer = buffer
            return b""
        complete, self._buffer = buffer[:end], buffer[end:]
        if b'"usage"' not in complete:
            return complete
        parts = _BOUNDARY.split(complete)  # event, separator, event, separator, ..., b""
        kept: list[bytes] = []
        for i in range(0, len(parts) - 1, 2):
            event, separator = parts[i], parts[i + 1]
            if b'"usage"' in event and self._usage_only(event):
                continue
            kept.append(event + separator)
        return b"".join(kept)

    def _usage_only(self, event: bytes) -> bool:
        """Record the event's usage; True if it is the usage-only chunk and should be dropped."""
        data = b"\n".join(line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:"))
        try:
            chunk = _chunk.decode(data)
        except msgspec.DecodeError:
            return False
        if chunk.usage is None:
            return False
        self.tokens = chunk.usage.total()
        return self.drop_usage_chunk and not chunk.choices

    def flush(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        return rest
