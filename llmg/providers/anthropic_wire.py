"""Anthropic's answers and stream events as msgspec Structs: the typed view the translator reads.

Only the fields the translation uses are declared; msgspec skips the rest while decoding, which is
also what makes this faster than walking a decoded dict. Stream events are a tagged union on
``type``; an event type added after this was written is skipped (``decode_event`` returns None),
as Anthropic's versioning policy asks of clients. Content blocks and deltas are one flat Struct
each, so an unknown block kind (server tools, citations) is read and ignored, not an error.

Reference: https://docs.anthropic.com/en/api/messages, .../build-with-claude/streaming
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct, field


class Usage(Struct, kw_only=True):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class Block(Struct, kw_only=True):
    """One content block: text, thinking, redacted_thinking, tool_use, or a kind we do not map."""

    type: str = ""
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = field(default_factory=dict)


class Message(Struct, kw_only=True):
    id: str | None = None
    model: str | None = None
    content: list[Block] = field(default_factory=list)
    stop_reason: str | None = None
    usage: Usage | None = None


class BlockDelta(Struct, kw_only=True):
    type: str = ""
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None  # signature_delta: the thinking block's signature, sent just before its stop


class MessageDeltaBody(Struct, kw_only=True):
    stop_reason: str | None = None


# --- stream events, tagged by "type" -------------------------------------------------------------


class MessageStart(Struct, tag="message_start", kw_only=True):
    message: Message = field(default_factory=Message)


class ContentBlockStart(Struct, tag="content_block_start", kw_only=True):
    index: int = 0
    content_block: Block = field(default_factory=Block)


class ContentBlockDelta(Struct, tag="content_block_delta", kw_only=True):
    index: int = 0
    delta: BlockDelta = field(default_factory=BlockDelta)


class ContentBlockStop(Struct, tag="content_block_stop", kw_only=True):
    index: int = 0


class MessageDelta(Struct, tag="message_delta", kw_only=True):
    delta: MessageDeltaBody = field(default_factory=MessageDeltaBody)
    usage: Usage | None = None


class MessageStop(Struct, tag="message_stop"):
    pass


class Ping(Struct, tag="ping"):
    pass


class Error(Struct, tag="error"):
    pass  # the raw event is what error handling reads (see anthropic_map.stream_error)


Event = MessageStart | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta | MessageStop | Ping | Error

_event = msgspec.json.Decoder(Event)
_message = msgspec.json.Decoder(Message)


class _Kind(Struct):
    type: str = ""


_kind = msgspec.json.Decoder(_Kind)
_KNOWN = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
          "message_delta", "message_stop", "ping", "error"}


def decode_event(data: str | bytes) -> Event | None:
    """One event's JSON -> its Struct; None for an event type this module does not know.

    Raises ``msgspec.DecodeError`` (not JSON) or ``msgspec.ValidationError`` (a known type with
    the wrong shape); the adapter turns both into a 502.
    """
    try:
        return _event.decode(data)
    except msgspec.ValidationError:
        if _kind.decode(data).type in _KNOWN:
            raise
        return None


def decode_message(body: bytes) -> Message:
    return _message.decode(body)
