"""Issue 9 item 6: DNS rebinding. A loopback bind serves only localhost/127.0.0.1/[::1] (any port)
plus server.allowed_hosts; a foreign Host gets 403 in the envelope, /health included. An exposed
bind with open auth, and CORS "*", are reported loudly by `serve` and `check-config`."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import pytest

from llmg.app import create_app
from llmg.config import parse
from llmg.hosts import host_name, is_loopback
from tests.gateway import ROOT, GatewayProcess

CHAT = {"model": "mock/m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gateway():
    gw = GatewayProcess('[server]\nallowed_hosts = ["llm.internal.example"]\n\n[providers.mock]\n').start()
    yield gw
    gw.stop()


def raw_request(gateway: GatewayProcess, host: str | None, path: str = "/health") -> tuple[int, bytes]:
    """A request with exactly this Host header (or none), on a raw socket: clients normalise Host."""
    head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "") + \
        "Authorization: Bearer t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8080",
                                  "LOCALHOST", "llm.internal.example", "llm.internal.example:443"])
def test_loopback_names_and_allowed_hosts_are_served(gateway, host):
    status, _ = raw_request(gateway, host)
    assert status == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.1.nip.io", "localhost.attacker.example",
                                  "[::2]", "evil"])
@pytest.mark.parametrize("path", ["/health", "/v1/models"])
def test_foreign_host_is_refused_everywhere(gateway, host, path):
    status, body = raw_request(gateway, host, path)
    assert status == 403
    import json

    error = json.loads(body)["error"]
    assert error["code"] == "host_not_allowed" and set(error) == {"message", "type", "param", "code"}


def test_foreign_host_cannot_reach_chat(gateway):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers={**gateway.auth, "Host": "rebind.attacker.example"}, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=gateway.auth, timeout=10).status_code == 200


def test_non_loopback_bind_serves_any_host_unless_allowed_hosts_is_set():
    open_app = create_app(parse('[server]\nhost = "0.0.0.0"\n[providers.mock]\n', "t", {}), name="hosts_open")
    _, r = open_app.test_client.get("/health", headers={"host": "gateway.example"})
    assert r.status == 200
    pinned = create_app(parse('[server]\nhost = "0.0.0.0"\nallowed_hosts = ["gw.example"]\n[providers.mock]\n', "t", {}), name="hosts_pinned")
    _, r = pinned.test_client.get("/health", headers={"host": "other.example"})
    assert r.status == 403
    _, r = pinned.test_client.get("/health", headers={"host": "gw.example:8443"})
    assert r.status == 200


def test_helpers():
    assert host_name("[::1]:8080") == "[::1]" and host_name("LocalHost.:80") == "localhost"
    assert is_loopback("127.0.0.1") and is_loopback("127.5.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1") and not is_loopback("gw.example")


def check_config(tmp_path, text: str) -> str:
    path = tmp_path / "llmg.toml"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "llmg", "check-config", "--config", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_check_config_reports_an_exposed_open_gateway(tmp_path):
    out = check_config(tmp_path, '[server]\nhost = "0.0.0.0"\n[providers.mock]\n')
    assert "warning: SECURITY" in out and "any Bearer token" in out
    out = check_config(tmp_path, '[server]\nhost = "0.0.0.0"\n[server.auth]\nenabled = false\n[providers.mock]\n')
    assert "auth is disabled" in out
    out = check_config(tmp_path, '[server]\nhost = "0.0.0.0"\n[server.auth]\nkeys = ["k-1234567"]\n[providers.mock]\n')
    assert "SECURITY" not in out
    out = check_config(tmp_path, '[server]\ncors_origins = ["*"]\n[providers.mock]\n')
    assert "SECURITY" in out and "cors_origins" in out
    assert "SECURITY" not in check_config(tmp_path, "[providers.mock]\n")


def test_serve_logs_the_warning(start_gateway):
    gw = start_gateway('[server]\nhost = "0.0.0.0"\n[providers.mock]\n')
    assert "SECURITY: the gateway listens on 0.0.0.0" in gw.output()
