"""One scriptable fake OpenAI upstream that misbehaves on request, for tests/faults/.

A raw asyncio server (not aiohttp) so that it can break HTTP itself: stall before the headers,
stop after them, drip bytes, drop the connection mid-body. The request's ``model`` (after the
gateway strips its provider prefix) picks the behaviour:

    ok               a normal answer (plain JSON, or 3 SSE events + [DONE] when stream=true)
    slow-N-MS        a stream of N events, MS milliseconds apart, then [DONE] (plain: the answer after N*MS)
    forever          a stream that never ends (an event every 200 ms)
    silent           reads the request, never answers
    headers-only     sends the status line and headers, then nothing
    drip             the whole answer, one byte per ``drip_interval`` seconds
    drop-body        headers with Content-Length 400, 40 bytes of body, then a hang-up
    drop-stream      2 SSE events, then a hang-up without the chunked terminator
    invalid-json     200 application/json whose body is not JSON
    wrong-type       200 text/html (plain) or 200 application/json (stream=true)
    bad-sse          an SSE stream with a malformed data line, then [DONE]
    error-500/503    that status with an OpenAI error body

Every answer says ``connection: close`` and the connection is closed after it, so the gateway's
pool never keeps an idle connection here: whatever stays open afterwards is a leak. ``open`` counts
connections currently open; ``busy`` counts those still inside a handler.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from tests.fakes.server import free_port

_COMPLETION = {
    "id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": "ok",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def chunk_event(i: int) -> bytes:
    data = {
        "id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 0, "model": "ok",
        "choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}", "connection: close"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FaultyUpstream:
    def __init__(self, drip_interval: float = 1.0) -> None:
        self.port = free_port()
        self.drip_interval = drip_interval
        self.open = 0
        self.busy = 0
        self.served = 0
        self.seen: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("faulty upstream did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once no connection from the gateway is left open (polls; bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open == 0 and self.busy == 0:
                return True
            time.sleep(0.05)
        return False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port, backlog=1024)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                request = {}
            model = str(request.get("model", "ok"))
            self.seen.append(model)
            self.busy += 1
            try:
                await self._answer(model, bool(request.get("stream")), reader, writer)
            finally:
                self.busy -= 1
                self.served += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _answer(self, model: str, stream: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def send(data: bytes) -> None:
            writer.write(data)
            await writer.drain()  # raises ConnectionResetError once the gateway has gone

        if model == "silent":
            await reader.read()  # until the gateway hangs up
            return
        if model == "headers-only":
            await send(_head(200, "text/event-stream") if stream else _head(200, "application/json", 200))
            await reader.read()
            return
        if model == "drop-body":
            await send(_head(200, "application/json", 400) + b'{"id":"chatcmpl-fault","object":"chat.co')
            return
        if model == "drop-stream":
            await send(_head(200, "text/event-stream") + _chunked(chunk_event(0)) + _chunked(chunk_event(1)))
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return
        if model == "invalid-json":
            body = b"this is not json"
            await send(_head(200, "application/json", len(body)) + body)
            return
        if model == "wrong-type":
            if stream:
                body = json.dumps(_COMPLETION).encode()
                await send(_head(200, "application/json", len(body)) + body)
            else:
                body = b"<html><body>Welcome to the captive portal</body></html>"
                await send(_head(200, "text/html", len(body)) + body)
            return
        if model.startswith("error-"):
            status = int(model.split("-")[1])
            body = json.dumps({"error": {"message": "upstream is unwell", "type": "server_error", "code": None}}).encode()
            await send(_head(status, "application/json", len(body)) + body)
            return
        if model == "bad-sse":
            await send(_head(200, "text/event-stream") + _chunked(chunk_event(0)) + _chunked(b"data: {not json\n\n")
                       + _chunked(DONE) + b"0\r\n\r\n")
            return
        if model == "forever":
            await send(_head(200, "text/event-stream"))
            i = 0
            while True:
                await send(_chunked(chunk_event(i)))
                i += 1
                await asyncio.sleep(0.2)
        if model.startswith("slow-") and not stream:  # the same time, then one complete answer
            _, count, ms = model.split("-")
            await asyncio.sleep(int(count) * int(ms) / 1000)
            body = json.dumps(_COMPLETION).encode()
            await send(_head(200, "application/json", len(body)) + body)
            return
        if model.startswith("slow-"):
            _, count, ms = model.split("-")
            await send(_head(200, "text/event-stream"))
            for i in range(int(count)):
                await send(_chunked(chunk_event(i)))
                await asyncio.sleep(int(ms) / 1000)
            await send(_chunked(DONE) + b"0\r\n\r\n")
            return
        # "ok" and "drip"
        if stream:
            payload = _head(200, "text/event-stream") + b"".join(_chunked(chunk_event(i)) for i in range(3)) + _chunked(DONE) + b"0\r\n\r\n"
        else:
            body = json.dumps(_COMPLETION).encode()
            payload = _head(200, "application/json", len(body)) + body
        if model == "drip":
            for i in range(len(payload)):
                await send(payload[i:i + 1])
                await asyncio.sleep(self.drip_interval)
            return
        await send(payload)


def start(drip_interval: float = 1.0) -> FaultyUpstream:
    return FaultyUpstream(drip_interval).start()
