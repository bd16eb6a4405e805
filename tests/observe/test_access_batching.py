"""The json access lines are written in batches: each line whole, in order, none lost, a batch no
longer than PIPE_BUF unless one line is, and a line never waits longer than ACCESS_FLUSH_S."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest

from llmg import logs


@pytest.fixture
def writes(monkeypatch, caplog) -> list[bytes]:
    caplog.set_level(logging.INFO, logger="llmg.access")
    seen: list[bytes] = []
    real = os.write

    def write(fd: int, data) -> int:
        if fd != 2:
            return real(fd, data)
        seen.append(bytes(data))
        return len(data)

    monkeypatch.setattr(logs.os, "write", write)
    logs.flush_access()
    return seen


def test_lines_are_batched_whole_and_flushed_by_the_timer(writes) -> None:
    async def main() -> None:
        for i in range(40):
            logs.access_json({"n": i, "pad": "x" * 200})
        assert len(writes) < 40  # gathered, not one write each
        await asyncio.sleep(logs.ACCESS_FLUSH_S * 3)  # the rest: written by the timer, no further request needed

    asyncio.run(main())
    assert all(len(w) <= logs.PIPE_BUF and w.endswith(b"\n") for w in writes)
    lines = [json.loads(line) for w in writes for line in w.splitlines()]
    assert [line["n"] for line in lines] == list(range(40))


def test_a_long_line_goes_alone_and_nothing_is_left_behind(writes) -> None:
    async def main() -> None:
        logs.access_json({"n": 0})
        logs.access_json({"n": 1, "body": "y" * (2 * logs.PIPE_BUF)})  # a log_bodies line
        logs.access_json({"n": 2})
        await asyncio.sleep(logs.ACCESS_FLUSH_S * 3)

    asyncio.run(main())
    lines = [json.loads(line) for w in writes for line in w.splitlines()]
    assert [line["n"] for line in lines] == [0, 1, 2]
    assert any(len(w) > logs.PIPE_BUF and w.count(b"\n") == 1 for w in writes)  # alone in its write


def test_outside_a_loop_a_line_is_written_at_once(writes) -> None:
    logs.access_json({"n": 7})
    assert writes == [b'{"n":7}\n']


def test_a_drained_batch_is_written_at_once_in_whole_lines(writes) -> None:
    # llmg/observe/batch.py hands over every finished request of a BATCH_S at once: written without
    # a timer, in order, each write whole lines within PIPE_BUF, a long (log_bodies) line alone.
    batch = [{"n": i, "pad": "x" * 300} for i in range(30)]
    batch.insert(10, {"n": -1, "body": "y" * (2 * logs.PIPE_BUF)})
    logs.access_json_batch(batch)
    lines = [json.loads(line) for w in writes for line in w.splitlines()]
    assert [line["n"] for line in lines] == [b["n"] for b in batch]
    assert all(w.endswith(b"\n") for w in writes)
    assert all(len(w) <= logs.PIPE_BUF or w.count(b"\n") == 1 for w in writes)
    assert any(len(w) > logs.PIPE_BUF and w.count(b"\n") == 1 for w in writes)
    assert len(writes) < len(batch) // 2  # gathered, not one write each
