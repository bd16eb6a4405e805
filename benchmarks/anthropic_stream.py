"""Anthropic stream translation cost, before/after: ``StreamTranslator`` at a git revision vs the
worktree's, over one thinking + text stream (400 thinking deltas, a signature, 200 text deltas).

    .venv/bin/python -m benchmarks.anthropic_stream [REV]    # REV defaults to main

What changed with streamed ``thinking_blocks``: each thinking delta is also kept, and the block is
encoded whole once more in the chunk where it ends. Old and new are timed in interleaved rounds so
machine noise hits both alike; CPU time (process_time), as the machine is shared; medians are printed.
"""

from __future__ import annotations

import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]


def _events() -> list[bytes]:
    raw: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}]
    raw += [{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": f"step {i} of the reasoning "}}
            for i in range(400)]
    raw += [{"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "E" * 300}},
            {"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}]
    raw += [{"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "word "}} for _ in range(200)]
    raw += [{"type": "content_block_stop", "index": 1},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}, {"type": "message_stop"}]
    return [msgspec.json.encode(e) for e in raw]


def _load(root: Path) -> tuple[ModuleType, ModuleType]:
    for name in [k for k in sys.modules if k == "llmg" or k.startswith("llmg.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("llmg.providers.anthropic_wire"), importlib.import_module("llmg.providers.anthropic_map")
    finally:
        sys.path.pop(0)


def _once(wire: ModuleType, amap: ModuleType, data: list[bytes]) -> int:
    translator = amap.StreamTranslator("m", True, created=0)
    count = sum(len(translator.feed(wire.decode_event(d))) for d in data)
    return count + len(translator.close())


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "main"
    data = _events()
    with tempfile.TemporaryDirectory() as old_root:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "llmg"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old_root], input=archive, check=True)
        sides = {"old": _load(Path(old_root)), "new": _load(ROOT)}
        times: dict[str, list[float]] = {name: [] for name in sides}
        for round_ in range(30):
            order = list(sides.items()) if round_ % 2 else list(reversed(sides.items()))  # neither side always first
            for name, (wire, amap) in order:
                start = time.process_time()
                for _ in range(20):
                    _once(wire, amap, data)
                times[name].append((time.process_time() - start) / 20)
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    best = min(times["new"]) / min(times["old"])
    print(f"{rev}: {old * 1e3:.3f} ms per stream of {len(data)} events; worktree: {new * 1e3:.3f} ms; "
          f"new/old = {new / old:.3f} (medians), {best:.3f} (best rounds)")


if __name__ == "__main__":
    main()
