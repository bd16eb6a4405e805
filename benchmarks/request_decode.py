"""Request validation cost, before/after: the chat request Struct at a git revision vs the worktree's,
plus ``function_tools_only`` (what translated providers now run first).

    .venv/bin/python -m benchmarks.request_decode [REV]    # REV defaults to 2921036 (before fidelity)

Old and new are timed in interleaved rounds so machine noise hits both alike; medians are printed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from llmg.providers.tool_features import function_tools_only
from llmg.schemas import openai as new

TOOL: dict[str, Any] = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
TURN: list[dict[str, Any]] = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                 {"type": "image_url", "image_url": {"url": "https://example.com/y.png"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]
BODY = {"model": "openai/gpt-4o", "temperature": 0.2, "tools": [TOOL, {**TOOL, "function": {**TOOL["function"], "name": "b"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "messages": TURN * 3}


def _old_module(rev: str) -> Any:
    source = subprocess.run(["git", "show", f"{rev}:llmg/schemas/openai.py"], check=True, capture_output=True, text=True).stdout
    folder = tempfile.mkdtemp()
    Path(folder, "old_schema.py").write_text(source)
    sys.path.insert(0, folder)
    import old_schema  # type: ignore[import-not-found]

    return old_schema


def _once(fn: Any, n: int = 5000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "2921036"
    raw = msgspec.json.encode(BODY)
    data = msgspec.json.decode(raw)
    old = msgspec.json.Decoder(_old_module(rev).ChatCompletionRequest)
    now = msgspec.json.Decoder(new.ChatCompletionRequest)
    rounds: dict[str, list[float]] = {f"decode at {rev}": [], "decode now": [], "function_tools_only": []}
    for _ in range(40):
        rounds[f"decode at {rev}"].append(_once(lambda: old.decode(raw)))
        rounds["decode now"].append(_once(lambda: now.decode(raw)))
        rounds["function_tools_only"].append(_once(lambda: function_tools_only(data)))
    print(f"{len(raw)}-byte request, {len(BODY['messages'])} messages, 3 image parts, 2 tools")
    for name, values in rounds.items():
        print(f"  {name:22s} median {statistics.median(values):6.2f} us   min {min(values):6.2f} us")


if __name__ == "__main__":
    main()
