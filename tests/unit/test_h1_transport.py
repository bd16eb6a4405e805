"""The h1 transport's connection handling against a real HTTP/1.1 server on 127.0.0.1 that
answers byte for byte what each test scripts (framing, keep-alive, closes), and counts the
connections it accepted: reuse, retry and close decisions show as connection counts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from llmg.errors import ProviderError, UpstreamTimeout, UpstreamUnavailable
from llmg.transports import Limits, Timeout
from llmg.transports.h1 import H1Transport

TIMEOUT = Timeout(total=5, connect=2)
Handler = Callable[[int, bytes], Awaitable[bytes | None]]  # (request number on this conn, request) -> answer


class Scripted:
    """Accepts connections; reads each request head (and a Content-Length body), then writes what
    ``answer`` returns (None: close the connection without answering)."""

    def __init__(self, answer: Callable[[int, int, bytes], bytes | None], delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                if self.delay:
                    await asyncio.sleep(self.delay)
                out = self.answer(conn, n, head + body)
                n += 1
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(*parts: bytes) -> bytes:
    out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    for part in parts:
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


async def post(transport: H1Transport, url: str, body: bytes = b"{}"):
    return await transport.request("POST", url + "/v1/x", headers={"content-type": "application/json"}, body=body,
                                   timeout=TIMEOUT, provider="t")


def run(coro) -> None:
    asyncio.run(coro)


def test_keep_alive_reuses_one_connection_and_sends_the_exact_request() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok())
        async with server as url:
            transport = H1Transport(4)
            for _ in range(3):
                resp = await post(transport, url, b'{"a":1}')
                assert resp.status == 200 and resp.body == b'{"ok":true}'
                assert resp.headers["content-type"] == "application/json"
            await transport.aclose()
        assert server.connections == 1
        port = url.rsplit(":", 1)[1]
        assert server.requests[0] == (f"POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
                                      f"content-length: 7\r\n\r\n{{\"a\":1}}").encode()
    run(main())


def test_chunked_answer_is_read_whole_and_the_connection_reused() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: chunked(b'{"ok":', b"true}"))
        async with server as url:
            transport = H1Transport(4)
            assert (await post(transport, url)).body == b'{"ok":true}'
            assert (await post(transport, url)).body == b'{"ok":true}'
            await transport.aclose()
        assert server.connections == 1
    run(main())


@pytest.mark.parametrize("answer", [
    ok(extra="connection: close\r\n"),
    b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"until\":\"close\"}",  # delimited by the close
], ids=["connection-close", "http-1.0", "until-close"])
def test_an_answer_that_closes_is_not_reused(answer: bytes) -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: answer if n == 0 else None)
        async with server as url:
            transport = H1Transport(4)
            first = await post(transport, url)
            second = await post(transport, url)
            assert first.body == second.body and first.status == 200
            await transport.aclose()
        assert server.connections == 2
    run(main())


def test_no_body_for_head_and_204() -> None:
    async def main() -> None:
        def answer(c: int, n: int, req: bytes) -> bytes:
            if req.startswith(b"HEAD"):
                return b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n"
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        server = Scripted(answer)
        async with server as url:
            transport = H1Transport(4)
            head = await transport.request("HEAD", url + "/h", headers={}, timeout=TIMEOUT, provider="t")
            assert head.status == 200 and head.body == b""
            empty = await post(transport, url)
            assert empty.status == 204 and empty.body == b""
            await transport.aclose()
    run(main())


def test_a_stale_pooled_connection_is_retried_once_on_a_new_one() -> None:
    # The first connection answers once, then closes on the next request without answering (its
    # keep-alive ran out): the request goes again on a new connection and succeeds.
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok() if n == 0 else None)
        async with server as url:
            transport = H1Transport(4)
            assert (await post(transport, url)).status == 200
            assert (await post(transport, url)).status == 200
            await transport.aclose()
        assert server.connections == 2
    run(main())


def test_a_fresh_connection_that_answers_nothing_is_not_retried() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: None)
        async with server as url:
            transport = H1Transport(4)
            with pytest.raises(UpstreamUnavailable):
                await post(transport, url)
            await transport.aclose()
        assert server.connections == 1 and len(server.requests) == 1
    run(main())


def test_a_truncated_body_is_a_502_and_the_connection_dropped() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 100\r\n\r\n{\"short\"")
        async with server as url:
            transport = H1Transport(4)
            with pytest.raises(UpstreamUnavailable):
                await post(transport, url)
            await transport.aclose()
    run(main())


def test_body_caps_declared_and_chunked() -> None:
    async def main() -> None:
        big = b"x" * 5000
        server = Scripted(lambda c, n, req: ok(big) if n % 2 == 0 else chunked(big[:3000], big[3000:]))
        async with server as url:
            transport = H1Transport(4, limits=Limits(max_body=4096))
            for _ in range(2):
                with pytest.raises(ProviderError) as info:
                    await post(transport, url)
                assert info.value.code == "upstream_body_too_large"
            await transport.aclose()
    run(main())


def test_redirect_is_refused() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:9/\r\ncontent-length: 0\r\n\r\n")
        async with server as url:
            transport = H1Transport(4)
            with pytest.raises(ProviderError) as info:
                await post(transport, url)
            assert info.value.code == "upstream_redirect"
            await transport.aclose()
        assert len(server.requests) == 1
    run(main())


def test_timeout_is_a_504_and_cancellation_closes_the_connection() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok(), delay=1.0)
        async with server as url:
            transport = H1Transport(4)
            with pytest.raises(UpstreamTimeout):
                await transport.request("POST", url + "/slow", headers={}, body=b"{}",
                                        timeout=Timeout(total=0.2, connect=1), provider="t")
            task = asyncio.ensure_future(post(transport, url))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await post(transport, url)).status == 200  # a new connection: nothing stale reused
            await transport.aclose()
            await asyncio.sleep(0.1)
        assert server.connections == 3
    run(main())


def test_total_timeout_on_a_reused_connection_is_a_504_and_the_connection_is_dropped() -> None:
    # A pooled connection takes the fast path (no asyncio.timeout: a timer on the connection).
    # The bound must hold there too, for the wait for the head, and the connection must not return
    # to the pool. The answer after the timeout would otherwise be read as the next request's.
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok())
        async with server as url:
            transport = H1Transport(4)
            assert (await post(transport, url)).status == 200  # now pooled
            server.delay = 1.0
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(UpstreamTimeout):
                await transport.request("POST", url + "/slow", headers={}, body=b"{}",
                                        timeout=Timeout(total=0.2, connect=1), provider="t")
            assert loop.time() - started < 0.9
            server.delay = 0.0
            assert (await post(transport, url)).status == 200
            await transport.aclose()
            await asyncio.sleep(0.1)
        assert server.connections == 2  # the timed-out connection was not reused
    run(main())


def test_header_injection_is_refused_before_anything_is_sent() -> None:
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok())
        async with server as url:
            transport = H1Transport(4)
            with pytest.raises(UpstreamUnavailable):
                await transport.request("POST", url + "/x", headers={"x-a": "1\r\nx-evil: 2"}, body=b"{}",
                                        timeout=TIMEOUT, provider="t")
            await transport.aclose()
        assert server.requests == []
    run(main())


def test_stream_yields_chunks_as_they_come_and_returns_a_whole_read_connection() -> None:
    async def main() -> None:
        parts = [b"data: %d\n\n" % i for i in range(5)]
        server = Scripted(lambda c, n, req: chunked(*parts))
        async with server as url:
            transport = H1Transport(4)
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t")
            got = b"".join([chunk async for chunk in stream.chunks()])
            await stream.aclose()
            assert got == b"".join(parts)
            # Closed mid-way: that connection is not reused.
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t")
            await stream.aclose()
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t")
            assert b"".join([chunk async for chunk in stream.chunks()]) == got
            await stream.aclose()
            await transport.aclose()
        assert server.connections == 2
    run(main())


def test_a_closed_stream_dropped_later_leaves_its_reused_connection_alone() -> None:
    # A token-refresh retry: a 401 stream is read, closed, and its variable rebound to the retry's
    # stream, which reuses the same pooled connection. Collecting the first stream must not abort
    # the connection the second one is reading (main's __del__ did: the retry hung to its timeout).
    async def main() -> None:
        parts = [b"data: %d\n\n" % i for i in range(3)]
        denied = b"HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nexpired\n"
        server = Scripted(lambda c, n, req: denied if n == 0 else chunked(*parts), delay=0.1)
        async with server as url:
            transport = H1Transport(4)
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t")
            assert stream.status == 401 and await stream.read() == b"expired\n"
            await stream.aclose()
            opening = asyncio.ensure_future(
                transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t"))
            await asyncio.sleep(0.02)  # the retry's request is written on the pooled connection
            del stream  # the first stream's __del__ runs now, while the retry owns the connection
            async with asyncio.timeout(2):
                retry = await opening
                got = b"".join([chunk async for chunk in retry.chunks()])
            await retry.aclose()
            await transport.aclose()
        assert got == b"".join(parts)
        assert server.connections == 1
    run(main())


def test_a_large_stream_pauses_reading_and_arrives_whole() -> None:
    async def main() -> None:
        part = b"y" * 65536
        server = Scripted(lambda c, n, req: chunked(*[part] * 40))  # 2.5 MiB, past the high-water mark
        async with server as url:
            transport = H1Transport(4)
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=TIMEOUT, provider="t")
            size = 0
            async for chunk in stream.chunks():
                size += len(chunk)
                await asyncio.sleep(0)
            await stream.aclose()
            await transport.aclose()
        assert size == 40 * 65536
    run(main())


# --- TLS ---------------------------------------------------------------------------------------


def _self_signed(tmp_path) -> tuple[str, str]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_verifies_the_certificate_and_reuses_the_tls_connection(tmp_path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)

    async def main() -> None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        server = Scripted(lambda c, n, req: ok())
        tls = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_ctx)
        url = f"https://127.0.0.1:{tls.sockets[0].getsockname()[1]}"
        try:
            untrusted = H1Transport(4)  # the system trust store: a self-signed upstream is refused
            with pytest.raises(UpstreamUnavailable):
                await post(untrusted, url)
            await untrusted.aclose()
            trusting = H1Transport(4, ssl_context=ssl.create_default_context(cafile=cert))
            for _ in range(2):
                assert (await post(trusting, url)).body == b'{"ok":true}'
            await trusting.aclose()
        finally:
            tls.close()
        # The refused handshake never reached the handler; the two requests shared one connection.
        assert len(server.requests) == 2 and server.connections == 1
    run(main())


def test_bytes_after_the_answer_spoil_the_connection() -> None:
    # An upstream that answers one request twice: the first answer is kept, the connection is not
    # reused (the second answer must never be read as the next request's).
    async def main() -> None:
        server = Scripted(lambda c, n, req: ok(b'{"n":1}') + ok(b'{"n":2}'))
        async with server as url:
            transport = H1Transport(4)
            assert (await post(transport, url)).body == b'{"n":1}'
            assert (await post(transport, url)).body == b'{"n":1}'
            await transport.aclose()
        assert server.connections == 2
    run(main())


def test_stream_idle_deadline_is_the_silence_between_chunks_not_the_whole_stream() -> None:
    """The stream's idle timeout bounds each wait for the next chunk: a stream that keeps
    sending more often than that runs longer than it, one that goes silent is cut (a 504)."""

    async def paced(gaps: list[float]) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for i, gap in enumerate(gaps):
                await asyncio.sleep(gap)
                part = b"data: %d\n\n" % i
                writer.write(b"%x\r\n%b\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            writer.close()
        return await asyncio.start_server(handle, "127.0.0.1", 0)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        idle = Timeout(total=0.4, connect=1)
        steady = await paced([0.15] * 8)  # 1.2 s in all, never 0.4 s without a chunk
        silent = await paced([0.0, 1.5])  # one chunk, then a silence far longer than 0.4 s
        transport = H1Transport(4)
        try:
            url = f"http://127.0.0.1:{steady.sockets[0].getsockname()[1]}"
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=idle, provider="t")
            got = [chunk async for chunk in stream.chunks()]
            await stream.aclose()
            assert b"".join(got) == b"".join(b"data: %d\n\n" % i for i in range(8))
            url = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
            stream = await transport.stream("POST", url + "/s", headers={}, body=b"{}", timeout=idle, provider="t")
            started = loop.time()
            seen: list[bytes] = []
            with pytest.raises(UpstreamTimeout):
                async for chunk in stream.chunks():
                    seen.append(chunk)
            waited = loop.time() - started
            await stream.aclose()
            assert seen == [b"data: 0\n\n"]
            assert 0.35 < waited < 1.2  # cut at the idle deadline, not at the upstream's next chunk
        finally:
            await transport.aclose()
            steady.close()
            silent.close()
    run(main())
