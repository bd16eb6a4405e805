"""Translation cost per answer and per stream, over the golden files in tests/providers/golden/.

    .venv/bin/python -m benchmarks.translate [iterations]

Every case starts from the upstream's bytes, as the adapter receives them, and ends with the
client's bytes: a complete answer is decoded (into the typed wire Structs) and translated; a
stream is parsed as SSE (Anthropic) or taken as one JSON body per event (Gemini), decoded,
translated and framed, through the same decode functions and ``translate.run`` loop the adapters
use. The best of 5 repeats is reported, in microseconds per answer or per whole stream.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import msgspec

from llmg.providers import anthropic_map as am
from llmg.providers import anthropic_wire
from llmg.providers import gemini_map as gm
from llmg.providers import gemini_wire
from llmg.providers.translate import run, sse_decoded
from llmg.schemas.openai import encode
from llmg.sse import SSEEvent

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "providers" / "golden"
_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode


def _anthropic_event(ev: SSEEvent) -> anthropic_wire.Event | None:
    return anthropic_wire.decode_event(ev.data) if ev.data else None


def _drain(stream: AsyncIterator[bytes]) -> list[bytes]:
    """Run an async generator that never awaits real I/O to its end, without an event loop per call."""
    out: list[bytes] = []
    coro = stream.__anext__()
    while True:
        try:
            coro.send(None)
        except StopIteration as done:
            out.append(done.value)
            coro = stream.__anext__()
        except StopAsyncIteration:
            return out


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _items(items: list[object]) -> AsyncIterator[object]:
    for item in items:
        yield item


def cases() -> Iterator[tuple[str, Callable[[], object]]]:
    for path in sorted((GOLDEN / "anthropic").glob("response_*.json")):
        raw = _encode(_decode(path.read_bytes())["anthropic"])
        yield f"anthropic {path.stem}", lambda raw=raw: encode(am.from_anthropic(anthropic_wire.decode_message(raw), "m", created=0))
    for path in sorted((GOLDEN / "anthropic").glob("stream_*.sse")):
        if path.stem == "stream_error":
            continue
        sse = path.read_bytes()
        yield f"anthropic {path.stem}", lambda sse=sse: _drain(
            run(sse_decoded(_chunks([sse]), _anthropic_event), am.StreamTranslator("m", True, created=0)))
    for path in sorted((GOLDEN / "gemini").glob("response_*.json")):
        raw = _encode(_decode(path.read_bytes())["gemini"])
        yield f"gemini {path.stem}", lambda raw=raw: _encode(gm.to_completion(gemini_wire.decode_response(raw), "m", created=0))
    for path in sorted((GOLDEN / "gemini").glob("stream_*.json")):
        events = [_encode(e) for e in _decode(path.read_bytes())["gemini"]]

        def stream(events: list[bytes] = events) -> list[bytes]:
            decoded: list[object] = [gemini_wire.decode_response(e) for e in events]
            return _drain(run(_items(decoded), gm.StreamTranslator("m", True, created=0)))  # type: ignore[arg-type]

        yield f"gemini {path.stem}", stream


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for name, fn in cases():
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        print(f"{name:45s} {best * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
