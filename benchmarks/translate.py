"""Translation cost per answer and per stream, over the golden files in tests/providers/golden/.

    .venv/bin/python -m benchmarks.translate [iterations]

Every case starts from the upstream's bytes, as the adapter receives them, and ends with the
client's bytes: a complete answer is decoded (into the typed wire Structs) and translated; a
stream is parsed as SSE (Anthropic) or taken as one JSON body per event (Gemini), decoded,
translated and framed by the same functions the adapters use ("async pipeline" adds the adapter's
async generators and ``translate.run``). The best of 5 repeats is reported, in microseconds per
answer or per whole stream.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import msgspec

from llmg.providers import anthropic_map as am
from llmg.providers import anthropic_wire, gemini_wire
from llmg.providers import gemini_map as gm
from llmg.providers.translate import run, sse_decoded
from llmg.schemas.openai import encode
from llmg.sse import SSEEvent, SSEParser

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "providers" / "golden"
_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode


def _anthropic_stream(sse: bytes) -> list[bytes]:
    parser = SSEParser()
    translator = am.StreamTranslator("m", True, created=0)
    out: list[bytes] = []
    for ev in parser.feed(sse) + parser.close():
        item = anthropic_wire.decode_event(ev.data) if ev.data else None
        if item is not None:
            out += translator.feed(item)
    return out + translator.close()


def _gemini_stream(events: list[bytes]) -> list[bytes]:
    translator = gm.StreamTranslator("m", True, created=0)
    out: list[bytes] = []
    for raw in events:
        out += translator.feed(gemini_wire.decode_response(raw))
    return out + translator.close()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _drain(stream: AsyncIterator[bytes]) -> int:
    """Run an async generator that never awaits real I/O to its end, without an event loop."""
    count = 0
    step = stream.__anext__()
    while True:
        try:
            step.send(None)
        except StopIteration:
            count += 1
            step = stream.__anext__()
        except StopAsyncIteration:
            return count


def _anthropic_event(ev: SSEEvent) -> anthropic_wire.Event | None:
    return anthropic_wire.decode_event(ev.data) if ev.data else None


def cases() -> Iterator[tuple[str, Callable[[], object]]]:
    for path in sorted((GOLDEN / "anthropic").glob("response_*.json")):
        raw = _encode(_decode(path.read_bytes())["anthropic"])
        yield f"anthropic {path.stem}", lambda raw=raw: encode(am.from_anthropic(anthropic_wire.decode_message(raw), "m", created=0))
    for path in sorted((GOLDEN / "anthropic").glob("stream_*.sse")):
        if path.stem == "stream_error":
            continue
        sse = path.read_bytes()
        yield f"anthropic {path.stem}", lambda sse=sse: _anthropic_stream(sse)
        # The same stream through the adapter's async pipeline (sse_events -> sse_decoded -> run).
        yield f"anthropic {path.stem} (async pipeline)", lambda sse=sse: _drain(
            run(sse_decoded(_chunks([sse]), _anthropic_event), am.StreamTranslator("m", True, created=0)))
    for path in sorted((GOLDEN / "gemini").glob("response_*.json")):
        raw = _encode(_decode(path.read_bytes())["gemini"])
        yield f"gemini {path.stem}", lambda raw=raw: _encode(gm.to_completion(gemini_wire.decode_response(raw), "m", created=0))
    for path in sorted((GOLDEN / "gemini").glob("stream_*.json")):
        events = [_encode(e) for e in _decode(path.read_bytes())["gemini"]]
        yield f"gemini {path.stem}", lambda events=events: _gemini_stream(events)


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for name, fn in cases():
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        print(f"{name:45s} {best * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
