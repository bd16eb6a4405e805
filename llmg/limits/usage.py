"""Token usage read from answers, for TPM and llmg/observe: complete JSON bodies and SSE streams
(OpenAI chat chunks, Anthropic's message_start/message_delta, the Responses API's response.completed).

Only the ``usage`` object is decoded (msgspec skips everything else without building it). Both
OpenAI's names (prompt/completion/total_tokens) and Anthropic's (input/output_tokens) are read, so
the same code serves every inbound format whose answers carry usage.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # --- observe: the cached and reasoning parts, for llmg_tokens_total and the access log ---
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    input_tokens_details: _PromptDetails | None = None  # the Responses API's names
    output_tokens_details: _CompletionDetails | None = None
    cache_read_input_tokens: int | None = None  # Anthropic's

    def kinds(self) -> tuple[int, int, int, int]:
        """(prompt, completion, cached, reasoning) in OpenAI's sense: cached is part of prompt,
        reasoning part of completion."""
        prompt = self.prompt_tokens if self.prompt_tokens is not None else (self.input_tokens or 0)
        completion = self.completion_tokens if self.completion_tokens is not None else (self.output_tokens or 0)
        details = self.prompt_tokens_details or self.input_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else (self.cache_read_input_tokens or 0)
        if self.cache_read_input_tokens and self.prompt_tokens is None:
            prompt += self.cache_read_input_tokens  # Anthropic counts cache reads outside input_tokens
        out = self.completion_tokens_details or self.output_tokens_details
        reasoning = (out.reasoning_tokens or 0) if out is not None else 0
        return prompt, completion, cached, reasoning
    # --- end observe ---

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
    # Where the other streamed formats carry it: Anthropic's message_start (the input side; its
    # message_delta has the output side at the top level), the Responses API's response.completed.
    message: _WithUsage | None = None
    response: _WithUsage | None = None


def _merged(old: _Usage | None, new: _Usage) -> _Usage:
    """A later usage object completes an earlier one: Anthropic's message_delta carries only the
    output count, its message_start the input and cache counts. Fields the new one names win."""
    if old is None:
        return new
    return _Usage(**{f: v if (v := getattr(new, f)) is not None else getattr(old, f) for f in _Usage.__struct_fields__})


# Events end with a blank line; the SSE format allows LF, CRLF and CR line ends.
_BOUNDARY = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
_ENDS = (b"\n\n", b"\r\r")  # what a chunk of whole events ends with (CRLF's ends in \n\n too)
# A usage object, as opposed to the `"usage":null` OpenAI puts in every chunk of a stream that
# asked for usage: only events matching this are decoded.
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
# A partial event longer than this is passed on unmetered instead of held back.
_MAX_HELD = 1 << 20


def _last_boundary(buffer: bytes, start: int = 0) -> int:
    """The index just past the last event end in ``buffer[start:]``, or -1."""
    end = -1
    for mark in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        at = buffer.rfind(mark, start)
        if at >= 0 and at + len(mark) > end:
            end = at + len(mark)
    return end


_body = msgspec.json.Decoder(_WithUsage)
_chunk = msgspec.json.Decoder(_Chunk)


def body_usage(body: bytes) -> _Usage | None:
    """The usage object of a complete answer; None if it carries none."""
    at = body.rfind(b'"usage"')  # rfind, not `in` (which builds and drops a TypeError first)
    if at < 0:
        return None
    # OpenAI-style answers end with their usage: decode only that tail, as an object of its own,
    # not the whole answer. The tail parses only if that "usage" is a top-level key (any deeper one
    # leaves an unbalanced closing brace; a string "usage" is not followed by a colon), else the
    # whole body is decoded as before.
    if at > 0:
        try:
            return _body.decode(b"{" + body[at:]).usage
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    try:
        return _body.decode(body).usage
    except msgspec.DecodeError:
        return None


def body_tokens(body: bytes) -> int | None:
    """Total tokens in a complete answer; None if it carries no usage."""
    usage = body_usage(body)
    return usage.total() if usage is not None else None


class StreamMeter:
    """Watches an outgoing SSE body for usage, and drops the usage-only chunk the gateway asked
    the upstream for (``stream_options.include_usage``) when the client did not ask for it.

    Only complete events are passed on (split at the blank line), so a chunk may be held back until
    its event is whole; chunks without a usage object pass through without being parsed.
    """

    __slots__ = ("drop_usage_chunk", "tokens", "usage", "_buffer")

    def __init__(self, drop_usage_chunk: bool) -> None:
        self.drop_usage_chunk = drop_usage_chunk
        self.tokens: int | None = None
        self.usage: _Usage | None = None  # the last usage seen (observe reads its kinds)
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        held = self._buffer
        if held:
            buffer = held + data
            # ``held`` has no event end: only one reaching into the new bytes counts (a mark is
            # at most 4 bytes, so it starts at most 3 bytes before them).
            end = _last_boundary(buffer, max(0, len(held) - 3))
        elif data.endswith(_ENDS):  # the usual chunk: whole events, nothing to search
            buffer, end = data, len(data)
        else:
            buffer, end = data, _last_boundary(data)
        if end < 0:
            if len(buffer) > _MAX_HELD:  # no event end in sight: pass it on rather than hold it
                self._buffer = b""
                return buffer
            self._buffer = buffer
            return b""
        if end == len(buffer):
            complete, self._buffer = buffer, b""
        else:
            complete, self._buffer = buffer[:end], buffer[end:]
        # Two C scans settle the usual chunk (no usage, or only OpenAI's "usage":null); the regex,
        # slower, only looks at the rest.
        seen = complete.count(b'"usage"')
        if not seen or seen == complete.count(b'"usage":null') or _USAGE_OBJECT.search(complete) is None:
            return complete
        parts = _BOUNDARY.split(complete)  # event, separator, event, separator, ..., b""
        kept: list[bytes] = []
        for i in range(0, len(parts) - 1, 2):
            event, separator = parts[i], parts[i + 1]
            if _USAGE_OBJECT.search(event) is not None and self._usage_only(event):
                continue
            kept.append(event + separator)
        out = b"".join(kept)
        # A bytes subclass marks a chunk for its sender (inbound.sse.Last: the stream's last
        # events, written with the end of the body): it stays marked.
        return data.__class__(out) if data.__class__ is not bytes and out and data is complete else out

    def _usage_only(self, event: bytes) -> bool:
        """Record the event's usage; True if it is the usage-only chunk and should be dropped."""
        data = b"\n".join(line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:"))
        try:
            chunk = _chunk.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        usage = chunk.usage
        nested = chunk.message if chunk.message is not None else chunk.response
        if usage is None and nested is not None:
            usage = nested.usage
        if usage is None:
            return False
        self.usage = _merged(self.usage, usage)
        self.tokens = self.usage.total()
        # Only OpenAI's usage-only chunk ("choices": [] beside the usage) is ours to drop; an
        # Anthropic message_delta has a top-level usage too, but no choices at all.
        return self.drop_usage_chunk and chunk.usage is not None and chunk.choices is not None and not chunk.choices

    def flush(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        return rest


_encode = msgspec.json.Encoder().encode
# Routes whose streamed body takes OpenAI's stream_options.include_usage.
_USAGE_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions"})
_ASK = b'{"stream_options":{"include_usage":true},'
_decode = msgspec.json.decode


def ask_for_usage(request: Any, options: dict[str, Any] | None) -> StreamMeter:
    """A meter for a streamed request's answer. The upstream sends usage only when asked
    (``stream_options.include_usage``): ask for it, and drop the extra chunk on the way out when
    the client did not ask itself. Used by the limits gate (TPM) and llmg/observe (usage, cost)."""
    if request.path not in _USAGE_ROUTES:  # Anthropic's and the Responses API's streams always carry usage
        return StreamMeter(drop_usage_chunk=False)
    options = options or {}
    asked = options.get("include_usage") is True
    if not asked:
        body: bytes = request.body
        start = body.lstrip()
        if body.find(b'"stream_options"') < 0 and start.startswith(b"{"):
            # No stream_options at all (the usual case): the member goes in front, so a prompt of
            # any size is neither decoded nor re-encoded. The body holds "stream", so it is not {}.
            request.body = _ASK + start[1:]
        else:
            data = _decode(body)
            data["stream_options"] = {**options, "include_usage": True}
            request.body = _encode(data)
    return StreamMeter(drop_usage_chunk=not asked)
