"""Sequential latency of the same mock answer through each inbound API (one worker, loopback).

Run: PYTHONPATH=. .venv/bin/python -m benchmarks.inbound_latency  (400 requests per case, second round reported).
The translated APIs add a translation step on each side of the chat Call; this shows what it costs
next to /v1/chat/completions on the same machine. Timings on a loaded machine are noisy: compare rows
of one run, not runs.
"""
import statistics, time, httpx
from tests.gateway import GatewayProcess
g = GatewayProcess("[providers.mock]\n").start()
bodies = {
    "/v1/chat/completions": {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hello there"}]},
    "/v1/messages": {"model": "mock/mock-1", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello there"}]},
    "/v1/responses": {"model": "mock/mock-1", "input": "Hello there", "store": False},
    "/v1/completions": {"model": "mock/mock-1", "prompt": "Hello there", "max_tokens": 100},
}
try:
    with httpx.Client(headers=g.auth) as c:
        for rnd in range(2):
            for path, body in bodies.items():
                for stream in (False, True):
                    b = {**body, "stream": True} if stream else body
                    times = []
                    for _ in range(400):
                        t = time.perf_counter()
                        if stream:
                            with c.stream("POST", g.url + path, json=b) as r:
                                r.read()
                        else:
                            c.post(g.url + path, json=b)
                        times.append(time.perf_counter() - t)
                    if rnd == 1:
                        print(f"{path:22} stream={stream!s:5} median {statistics.median(times)*1e3:.2f} ms  p90 {sorted(times)[int(len(times)*.9)]*1e3:.2f} ms")
finally:
    g.stop()
