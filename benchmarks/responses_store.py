"""What the shared Responses store costs: ``put`` + ``get`` of a typical entry (a two-turn
conversation) on the memory store and on Redis over loopback, then end to end, POST /v1/responses
on the mock through one real gateway (1 worker) with ``[limits] backend`` memory vs redis,
requests one at a time over one keep-alive connection, in alternating blocks.

    .venv/bin/python -m benchmarks.responses_store [--ops 2000] [--requests 600] [--runs 3]

Redis is a real redis-server on a free loopback port (tests/redis_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import time

import msgspec

from llmg.inbound.store import MemoryStore, ResponseStore
from llmg.inbound.store_redis import RedisStore
from tests.gateway import GatewayProcess
from tests.redis_server import RedisServer

ANSWER = msgspec.json.encode({"id": "resp_x", "object": "response", "output": [{"type": "message", "content": [
    {"type": "output_text", "text": "word " * 60}]}]})
ITEMS = [{"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello " * 30}]}]
MESSAGES = [{"role": "user", "content": "hello " * 30}, {"role": "assistant", "content": "word " * 60}] * 2


async def store_us(store: ResponseStore, ops: int) -> float:
    """Microseconds per put + get."""
    start = time.perf_counter()
    for i in range(ops):
        await store.put(f"resp_{i}", ANSWER, ITEMS, MESSAGES)
        assert await store.get(f"resp_{i}") is not None
    return (time.perf_counter() - start) / ops * 1e6


def gateway_ms(gateway: GatewayProcess, count: int) -> float:
    """The p50 latency in milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    body = msgspec.json.encode({"model": "mock/mock-1", "input": "hello " * 30})
    headers = {**gateway.auth, "content-type": "application/json"}
    took = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("POST", "/v1/responses", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        took.append(time.perf_counter() - start)
        assert answer.status == 200
    conn.close()
    return statistics.median(took) * 1e3  # p50: the loaded machine's scheduling tail falls outside it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    redis = RedisServer().start()
    try:
        async def stores() -> tuple[float, float]:
            memory = MemoryStore(max_items=args.ops)
            shared = RedisStore(redis.url, "bench", 0.5, ttl=60, max_entry_bytes=4 << 20)
            await store_us(shared, 50)  # connect first
            m = statistics.median([await store_us(memory, args.ops) for _ in range(args.runs)])
            r = statistics.median([await store_us(shared, args.ops) for _ in range(args.runs)])
            await shared.aclose()
            return m, r

        m, r = asyncio.run(stores())
        print(f"store put+get, median of {args.runs} x {args.ops}: memory {m:.1f} us, redis {r:.1f} us")
        base = '[providers.mock]\n[limits]\nbackend = "{}"\nredis_url = "' + redis.url + '"\nredis_timeout = 5\n'
        gateways = {name: GatewayProcess(base.format(name)).start() for name in ("memory", "redis")}
        try:
            for gateway in gateways.values():
                gateway_ms(gateway, 50)  # warm-up
            runs: dict[str, list[float]] = {"memory": [], "redis": []}
            for _ in range(args.runs):
                for name, gateway in gateways.items():
                    runs[name].append(gateway_ms(gateway, args.requests))
            mem, red = statistics.median(runs["memory"]), statistics.median(runs["redis"])
            print(f"POST /v1/responses (mock, 1 worker), median of {args.runs} runs' p50 over {args.requests}: "
                  f"memory {mem:.3f} ms, redis {red:.3f} ms, difference {red - mem:+.3f} ms")
        finally:
            for gateway in gateways.values():
                gateway.stop()
    finally:
        redis.cleanup()


if __name__ == "__main__":
    main()
