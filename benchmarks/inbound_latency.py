"""Sequential latency of the same mock answer through each inbound API (one worker, loopback).

Run: PYTHONPATH=. .venv/bin/python -m benchmarks.inbound_latency  (400 requests per case, second round
reported). The translated APIs add a translation step on each side of the chat Call; this shows what
it costs next to /v1/chat/completions on the same machine. Timings on a loaded machine are noisy:
compare rows of one run, not runs.
"""

from __future__ import annotations

import statistics
import time

import httpx

from tests.gateway import GatewayProcess

BODIES = {
    "/v1/chat/completions": {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hello there"}]},
    "/v1/messages": {"model": "mock/mock-1", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello there"}]},
    "/v1/responses": {"model": "mock/mock-1", "input": "Hello there", "store": False},
    "/v1/completions": {"model": "mock/mock-1", "prompt": "Hello there", "max_tokens": 100},
}
REQUESTS = 400


def main() -> None:
    gateway = GatewayProcess("[providers.mock]\n").start()
    try:
        with httpx.Client(headers=gateway.auth) as client:
            for round_ in range(2):  # the first round warms up
                for path, body in BODIES.items():
                    for stream in (False, True):
                        payload = {**body, "stream": True} if stream else body
                        times = []
                        for _ in range(REQUESTS):
                            start = time.perf_counter()
                            if stream:
                                with client.stream("POST", gateway.url + path, json=payload) as response:
                                    response.read()
                            else:
                                client.post(gateway.url + path, json=payload)
                            times.append(time.perf_counter() - start)
                        if round_ == 1:
                            p90 = sorted(times)[int(len(times) * 0.9)]
                            print(f"{path:22} stream={stream!s:5} median {statistics.median(times) * 1e3:.2f} ms  "
                                  f"p90 {p90 * 1e3:.2f} ms")
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
