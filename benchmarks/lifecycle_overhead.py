"""What the lifecycle adds to the hot path, in isolation (the shared machine is too noisy for wrk A/B).

    .venv/bin/python -m benchmarks.lifecycle_overhead

chunk: the drain registration wrapper around every relayed stream chunk (Lifecycle.track);
pin: runtime.current() called twice per request (auth signal + route); hook: the body of the
response hook that turns keep-alive off while draining.
"""
import asyncio
import time
from types import SimpleNamespace

from llmg.lifecycle import Lifecycle
from llmg.runtime import current

N = 200_000
async def source(n):
    for _ in range(n):
        yield b"data: x\n\n"

async def relay(chunks):
    async for _ in chunks:
        pass

async def main():
    app = SimpleNamespace(ctx=SimpleNamespace(runtime=object()), config=SimpleNamespace())
    lc = Lifecycle.__new__(Lifecycle); lc.streams = set()
    best = {}
    for _ in range(5):
        t = time.perf_counter(); await relay(source(N)); a = time.perf_counter() - t
        t = time.perf_counter(); await relay(lc.track(source(N))); b = time.perf_counter() - t
        best["chunk"] = min(best.get("chunk", 1e9), (b - a) / N * 1e9)
    # current(): first call pins, later calls read request.ctx
    req = SimpleNamespace(ctx=SimpleNamespace(), app=app)
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(N):
            req.ctx = SimpleNamespace(); current(req); current(req)
        x = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(N):
            req.ctx = SimpleNamespace()
        y = time.perf_counter() - t
        best["pin"] = min(best.get("pin", 1e9), (x - y) / N * 1e9)
    # the response hook's body: one attribute check while not draining
    lc.draining = False
    async def close_while_draining(request, response):
        if lc.draining and request.stream is not None:
            request.stream.keep_alive = False
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(N):
            await close_while_draining(req, None)
        best["hook"] = min(best.get("hook", 1e9), (time.perf_counter() - t) / N * 1e9)
    for k, v in best.items():
        print(f"{k}: {v:.0f} ns")
asyncio.run(main())
