"""The pyreqwest transport reuses parsed URLs and converted header maps across requests; what
reaches the upstream must still be exactly what each call passed (a real server records it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from llmg.transports import Timeout
from llmg.transports.pyreqwest import _CACHE_MAX, PyreqwestTransport
from tests.fakes.server import FakeServer

TIMEOUT = Timeout(total=10, connect=5)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeServer]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    server = FakeServer(app).start()
    yield server
    server.stop()


def run(upstream: FakeServer, calls: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
    """Send each (path, headers) in order through one transport; what the upstream received."""
    async def main() -> None:
        transport = PyreqwestTransport(4)
        try:
            for path, headers in calls:
                resp = await transport.request("POST", f"{upstream.url}{path}", headers=headers, body=b"{}",
                                               timeout=TIMEOUT, provider="t")
                assert resp.status == 200
        finally:
            await transport.aclose()

    upstream.requests.clear()
    asyncio.run(main())
    return [(r.path + (f"?{'&'.join(f'{k}={v}' for k, v in r.query.items())}" if r.query else ""), r.headers)
            for r in upstream.requests]


def test_a_headers_dict_changed_in_place_sends_its_new_values(upstream: FakeServer) -> None:
    # Token-exchanging adapters may update one dict between requests: the cached map must not win.
    headers = {"authorization": "Bearer first-token", "content-type": "application/json"}

    async def main() -> None:
        transport = PyreqwestTransport(4)
        try:
            for value in ("Bearer first-token", "Bearer second-token", "Bearer first-token"):
                headers["authorization"] = value
                await transport.request("POST", f"{upstream.url}/a", headers=headers, body=b"{}", timeout=TIMEOUT, provider="t")
            headers["x-extra"] = "added"
            await transport.request("POST", f"{upstream.url}/a", headers=headers, body=b"{}", timeout=TIMEOUT, provider="t")
        finally:
            await transport.aclose()

    upstream.requests.clear()
    asyncio.run(main())
    seen = [(r.path, r.headers) for r in upstream.requests]
    assert [h["authorization"] for _, h in seen] == ["Bearer first-token", "Bearer second-token", "Bearer first-token", "Bearer first-token"]
    assert "x-extra" not in seen[0][1] and seen[3][1]["x-extra"] == "added"


def test_new_dicts_per_request_each_send_their_own_headers(upstream: FakeServer) -> None:
    # Fresh dicts (signed requests build one per call) may land at a recycled id(): never a stale map.
    calls = [("/b", {"authorization": f"Bearer token-{i}", "x-n": str(i)}) for i in range(_CACHE_MAX * 2 + 5)]
    seen = run(upstream, calls)
    assert [(h["authorization"], h["x-n"]) for _, h in seen] == [(f"Bearer token-{i}", str(i)) for i in range(len(calls))]


def test_more_urls_than_the_cache_holds_all_go_where_asked(upstream: FakeServer) -> None:
    calls = [(f"/c/{i}?n={i}", {"x-n": str(i)}) for i in range(_CACHE_MAX + 10)]
    seen = run(upstream, calls)
    assert [path for path, _ in seen] == [path for path, _ in calls]
