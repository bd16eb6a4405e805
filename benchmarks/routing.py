"""Micro-benchmark: what the routing decision adds per request (issue 12: under 20 us).

    .venv/bin/python -m benchmarks.routing [--n 200000]

Measures, in-process and without I/O:
- plain: the single-provider path as the routes run it (groups check + ModelResolver.resolve);
- pick: a group's decision (choose a deployment among 3, begin/success/finish on the state);
- call: Group.chat() end to end around an adapter that answers at once, minus the same adapter
  called directly: the whole routing layer on the request path (asyncio.timeout_at included).
Each figure is the best of 5 runs (the machine is shared; the minimum is the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from llmg.config import parse
from llmg.providers.base import Call, Provider, Reply
from llmg.providers.registry import instantiate, plan
from llmg.routing import ModelResolver
from llmg.routing.build import build_groups
from llmg.schemas.openai import ChatCompletionRequest

CONFIG = """
[providers.mock]
[groups.bench]
strategy = "{strategy}"
deployments = [{{ model = "mock/a" }}, {{ model = "mock/b", weight = 2 }}, {{ model = "mock/c" }}]
"""

BODY = b'{"model":"bench","messages":[{"role":"user","content":"hi"}]}'


class Instant(Provider):
    """Answers at once: what is left is the cost of whatever wraps it."""

    async def chat(self, call: Call) -> Reply:
        return Reply(b"{}")


def best(fn, n: int) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        fn(n)
        runs.append((time.perf_counter() - start) / n)
    return min(runs) * 1e6


def bench(strategy: str, n: int) -> dict[str, float]:
    import msgspec

    loaded = parse(CONFIG.format(strategy=strategy), "bench", {})
    resolved = plan(loaded, {})
    providers = instantiate(resolved.registered, None)  # type: ignore[arg-type]
    instant = Instant(resolved.registered["mock"], None)  # type: ignore[arg-type]
    groups = build_groups(loaded.config, {"mock": instant}, {})
    group = groups["bench"]
    resolver = ModelResolver(providers, {}, groups)
    plain_resolver = ModelResolver(providers, {})
    request = msgspec.json.decode(BODY, type=ChatCompletionRequest)
    state = group.state

    def plain(count: int) -> None:
        r = plain_resolver
        for _ in range(count):
            if r.groups:
                r.groups.get("mock/mock-1")
            r.resolve("mock/mock-1")

    def pick(count: int) -> None:
        g = resolver.groups
        for _ in range(count):
            grp = g.get("bench")
            dep, _ = grp.choose((), 0.0)
            state.begin(dep.key, 0.0)
            state.success(dep.key, 0.001)
            state.finish(dep.key)

    async def calls(count: int, direct: bool) -> None:
        # Each request yields to the loop once, as a served request does: without that, the
        # cancelled timers of asyncio.timeout_at pile up in the heap and inflate the figure.
        call = Call(BODY, request, "bench", "bench", "rid")
        sleep = asyncio.sleep
        if direct:
            for _ in range(count):
                await instant.chat(call)
                await sleep(0)
        else:
            for _ in range(count):
                await group.chat(call)
                await sleep(0)

    loop = asyncio.new_event_loop()
    routed = best(lambda c: loop.run_until_complete(calls(c, False)), n // 4)
    direct = best(lambda c: loop.run_until_complete(calls(c, True)), n // 4)
    loop.close()
    return {"plain": best(plain, n), "pick": best(pick, n), "call": routed - direct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    print(f"{'strategy':12} {'plain us':>9} {'pick us':>9} {'routing layer us':>17}")
    for strategy in ("weighted", "round-robin", "least-busy", "latency"):
        r = bench(strategy, args.n)
        print(f"{strategy:12} {r['plain']:9.2f} {r['pick']:9.2f} {r['call']:17.2f}")


if __name__ == "__main__":
    main()
