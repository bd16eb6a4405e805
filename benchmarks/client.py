"""Our own small measured HTTP client: time to first chunk and chunks/s, which wrk and hey cannot see.

wrk and hey time a streamed response as a whole. This client speaks HTTP/1.1 itself over asyncio
(uvloop) keep-alive connections, decodes the chunked body as it arrives, and records per request:
  - TTFC: from writing the request to receiving the first ``data:`` event;
  - the number of SSE events (``data:`` lines) until ``[DONE]``, giving chunks/s overall.
The same client, request and connection count measure the direct and the gateway scenarios, so its
own overhead cancels out of the "added" figures.

``measure_plain`` is the same loop for non-streamed requests (status + Content-Length body): the
test suite uses it to exercise the results writer without the published tools.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def _one_connection(host: str, port: int, request: bytes, stop_at: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            first = None
            events = 0
            done = False
            lower = head.lower()
            if status != 200 or b"transfer-encoding: chunked" not in lower:
                # Not chunked: a sized body. Valid for a stream whose events all arrived at once
                # (the gateway then answers with Content-Length); anything but 200 is an error.
                length = 0
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                data = await reader.readexactly(length)
                first = time.perf_counter()
                if status != 200 or b"[DONE]" not in data:
                    out["errors"] += 1
                    continue
                out["ttfc"].append((first - t0) * 1000)
                out["total"].append((first - t0) * 1000)
                out["events"] += data.count(b"data:")
                out["streams"] += 1
                continue
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                data = await reader.readexactly(size + 2)
                n = data.count(b"data:")
                if n and first is None:
                    first = time.perf_counter()
                events += n
                if b"[DONE]" in data:
                    done = True
            end = time.perf_counter()
            if first is None or not done:
                out["errors"] += 1
                continue
            out["ttfc"].append((first - t0) * 1000)
            out["total"].append((end - t0) * 1000)
            out["events"] += events
            out["streams"] += 1
    finally:
        writer.close()


def _request(url: str, body: bytes, auth: str, accept: str, headers: dict[str, str] | None = None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nAccept: {accept}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return host, port, request


async def _plain_connection(host: str, port: int, request: bytes, stop_at: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            lower = head.lower()
            if b"transfer-encoding: chunked" in lower:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)  # data + CRLF (the last one: the final CRLF)
                    if size == 0:
                        break
            else:
                length = 0
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
            out["latency"].append((time.perf_counter() - t0) * 1000)
            if status != 200:
                out["errors"] += 1
    finally:
        writer.close()


async def _run_plain(url: str, body: bytes, auth: str, concurrency: int, duration: float) -> dict:
    host, port, request = _request(url, body, auth, "application/json")
    out: dict = {"latency": [], "errors": 0}
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(_plain_connection(host, port, request, stop_at, out) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = sorted(out["latency"])
    return {
        "tool": "llmg-client",
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "errors": out["errors"],
        "p50_ms": _percentile(lat, 50),
        "p90_ms": _percentile(lat, 90),
        "p99_ms": _percentile(lat, 99),
    }


async def _run(url: str, body: bytes, auth: str, concurrency: int, duration: float,
               headers: dict[str, str] | None = None) -> dict:
    host, port, request = _request(url, body, auth, "text/event-stream", headers)
    out: dict = {"ttfc": [], "total": [], "events": 0, "streams": 0, "errors": 0}
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(_one_connection(host, port, request, stop_at, out) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ttfc = sorted(out["ttfc"])
    total = sorted(out["total"])
    return {
        "tool": "llmg-client",
        "streams": out["streams"],
        "errors": out["errors"],
        "seconds": elapsed,
        "streams_per_s": out["streams"] / elapsed,
        "chunks_per_s": out["events"] / elapsed,
        "events_per_stream": out["events"] / out["streams"] if out["streams"] else 0,
        "ttfc_p50_ms": _percentile(ttfc, 50),
        "ttfc_p90_ms": _percentile(ttfc, 90),
        "ttfc_p99_ms": _percentile(ttfc, 99),
        "total_p50_ms": _percentile(total, 50),
        "total_p99_ms": _percentile(total, 99),
    }


def _go(coro):
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


def measure(url: str, body: bytes, auth: str, concurrency: int, duration: float,
            headers: dict[str, str] | None = None) -> dict:
    """Streamed requests: TTFC percentiles and chunks/s (``headers``: extra request headers)."""
    return _go(_run(url, body, auth, concurrency, duration, headers))


def measure_plain(url: str, body: bytes, auth: str, concurrency: int, duration: float) -> dict:
    """Non-streamed requests: req/s and latency percentiles, shaped like the wrk results."""
    return _go(_run_plain(url, body, auth, concurrency, duration))
