"""The first ten minutes: the example config as copied, bad flags, start-up refusals, logs, ./dev.

Every CLI test runs the real ``llmg`` executable (``python -m llmg``) or ``./dev`` in a subprocess.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_OPENAI_KEY
from tests.fakes.server import FakeServer, free_port
from tests.gateway import ROOT

pytestmark = pytest.mark.e2e

EXAMPLE = (ROOT / "llmg.toml.example").read_text()
CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}
ANY_TOKEN = {"Authorization": "Bearer any-token"}


def run_llmg(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.endswith("_API_KEY") and not k.startswith("LLMG_")}
    base.update(env or {})
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "llmg", *args], capture_output=True, text=True,
                          env=base, cwd=cwd, timeout=timeout)


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 1. the example config, copied as is --------------------------------------------------------

def test_example_copied_as_is_serves_the_mock(start_gateway) -> None:
    gateway = start_gateway(EXAMPLE)
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=ANY_TOKEN, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"
    # OPENAI_API_KEY is not exported: openai is skipped, and the client is told how to enable it.
    openai = httpx.post(f"{gateway.url}/v1/chat/completions", headers=ANY_TOKEN, timeout=30,
                        json={**CHAT, "model": "openai/gpt-4o"})
    assert openai.status_code == 404
    assert openai.json()["error"]["message"] == (
        "Unknown provider: openai (not registered: empty API key from providers.openai.api_key; "
        "set OPENAI_API_KEY or providers.openai.api_key)")


def test_serve_refuses_when_no_gateway_key_is_usable(tmp_path: Path) -> None:
    config = tmp_path / "llmg.toml"
    config.write_text('[server.auth]\nkeys = ["${LLMG_KEY_ONE}", "${LLMG_KEY_TWO}", ""]\n[providers.mock]\n')
    line = one_line_exit_2(run_llmg("serve", "--config", str(config), "--port", str(free_port())))
    assert "server.auth.keys" in line and "LLMG_KEY_ONE, LLMG_KEY_TWO are not set" in line
    checked = run_llmg("check-config", "--config", str(config))
    assert checked.returncode == 0 and "llmg serve` refuses to start" in checked.stdout


def test_serve_starts_when_one_gateway_key_is_usable(start_gateway) -> None:
    gateway = start_gateway('[server.auth]\nkeys = ["${LLMG_KEY_ONE}", "${LLMG_KEY_TWO}"]\n[providers.mock]\n',
                            env={"LLMG_KEY_TWO": "gw-secret-two"})
    ok = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT,
                    headers={"Authorization": "Bearer gw-secret-two"}, timeout=30)
    assert ok.status_code == 200
    assert "gw-secret-two" not in gateway.output()


# --- 2. unknown providers say why; a config that registers nothing is a loud warning ---------------

def test_unknown_provider_names_the_missing_key(start_gateway) -> None:
    gateway = start_gateway(None)
    url = f"{gateway.url}/v1/chat/completions"
    known = httpx.post(url, headers=ANY_TOKEN, json={**CHAT, "model": "anthropic/claude-x"}, timeout=30)
    assert known.status_code == 404
    assert known.json()["error"]["message"] == (
        "Unknown provider: anthropic (not registered: no API key; set ANTHROPIC_API_KEY or "
        "providers.anthropic.api_key)")
    assert known.json()["error"]["code"] == "unknown_provider"
    # A name the catalogue does not know keeps the plain message: there is no reason to give.
    unknown = httpx.post(url, headers=ANY_TOKEN, json={**CHAT, "model": "nosuch/x"}, timeout=30)
    assert unknown.json()["error"]["message"] == "Unknown provider: nosuch"


def test_config_without_providers_is_a_loud_warning(tmp_path: Path, start_gateway) -> None:
    text = "[server]\nhost = \"127.0.0.1\"\n"
    config = tmp_path / "llmg.toml"
    config.write_text(text)
    checked = run_llmg("check-config", "--config", str(config))
    assert checked.returncode == 0
    assert "warning: no provider is registered" in checked.stdout
    assert "[providers.mock]" in checked.stdout and "OPENAI_API_KEY" in checked.stdout
    gateway = start_gateway(text)
    assert re.search(r"WARNING .*no provider is registered.*\[providers\.mock\]", gateway.output())


# --- 3. bad flags and ports: exit 2, one line, no traceback, no hang -------------------------------

@pytest.mark.parametrize("flags, expected", [
    (["--workers", "0"], "--workers: must be from 1 to 256, not 0"),
    (["--workers", "-1"], "--workers: must be from 1 to 256, not -1"),
    (["--workers", "many"], "--workers: must be a number"),
    (["--port", "70000"], "--port: must be from 1 to 65535, not 70000"),
    (["--port", "0"], "--port: must be from 1 to 65535, not 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_exit_2_with_one_line(flags: list[str], expected: str) -> None:
    line = one_line_exit_2(run_llmg("serve", *flags, timeout=30))
    assert expected in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_exits_2_with_one_line(workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_exit_2(run_llmg("serve", "--port", str(port), "--workers", workers, timeout=30))
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_config_workers_out_of_range_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "llmg.toml"
    config.write_text("[server]\nworkers = 0\n")
    line = one_line_exit_2(run_llmg("serve", "--config", str(config), timeout=30))
    assert "server.workers" in line


# --- 4. logs: a readable access line, upstream failures at warning, the same format in workers -----

ACCESS = re.compile(
    r"^\S+ \S+ INFO \[\d+\] llmg\.access: POST /v1/chat/completions 200 \d+\.\dms provider=mock request_id=(\S+)$",
    re.M)


@pytest.mark.parametrize("workers", [1, 2])
def test_access_log_is_one_readable_line_per_request(start_gateway, workers: int) -> None:
    gateway = start_gateway("[server]\naccess_log = true\n[providers.mock]\n", workers=workers)
    ids = set()
    for n in range(4):
        response = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, timeout=30,
                              headers={**ANY_TOKEN, "x-request-id": f"req-{workers}-{n}"})
        assert response.status_code == 200
        ids.add(response.headers["x-request-id"])
    output = _wait_for(gateway, lambda text: len(ACCESS.findall(text)) >= 4)
    assert set(ACCESS.findall(output)) == ids
    assert "sanic.access" not in output
    # A request auth turns away (before any middleware) still gets its line and its latency.
    assert httpx.get(f"{gateway.url}/v1/models", timeout=30).status_code == 401
    output = _wait_for(gateway, lambda text: "GET /v1/models 401" in text)
    assert re.search(r"llmg\.access: GET /v1/models 401 \d+\.\dms provider=- request_id=\S+$", output, re.M)
    assert not re.search(r"^\S+ \S+ INFO \S+ ?\S*: *$", output, re.M), "blank log line"


def test_upstream_failures_are_logged_with_request_id_and_provider(start_gateway, openai_fake: FakeServer) -> None:
    dead = free_port()  # nothing listens there: connection refused -> 502
    gateway = start_gateway(f"""
[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{openai_fake.url}/v1"
models = ["gpt-4o"]

[providers.deadlab]
base_url = "http://127.0.0.1:{dead}/v1"
api_key = "sk-deadlab-secret"
models = ["m"]
""")
    cases = {"openai/error-500": 502, "openai/error-400": 400, "deadlab/m": 502}
    for model, status in cases.items():
        response = httpx.post(f"{gateway.url}/v1/chat/completions", timeout=30,
                              headers={**ANY_TOKEN, "x-request-id": f"rid-{model.replace('/', '-')}"},
                              json={**CHAT, "model": model})
        assert response.status_code == status, response.text
    # A stream that breaks after it started: the status is already 200, the warning still comes.
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", timeout=30,
                      headers={**ANY_TOKEN, "x-request-id": "rid-stream-fail"},
                      json={**CHAT, "model": "openai/stream-fail", "stream": True}) as streamed:
        assert streamed.status_code == 200
        assert b'"error"' in b"".join(streamed.iter_bytes())
    output = _wait_for(gateway, lambda text: text.count("upstream failure") >= 4)
    assert re.search(r"upstream failure: POST /v1/chat/completions -> 50\d \S+ provider=openai "
                     r"request_id=rid-stream-fail", output), output
    assert re.search(r"WARNING \[\d+\] llmg\.upstream: upstream failure: POST /v1/chat/completions -> 502 "
                     r"upstream_error provider=openai request_id=rid-openai-error-500", output)
    assert re.search(r"-> 400 \S+ provider=openai request_id=rid-openai-error-400", output)  # the upstream's own code
    assert re.search(r"-> 502 upstream_unavailable provider=deadlab request_id=rid-deadlab-m", output)
    assert FAKE_OPENAI_KEY not in output and "sk-deadlab-secret" not in output


def _wait_for(gateway, ready, timeout: float = 20.0) -> str:
    """Log lines from worker processes reach the file a moment after the answer does."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        text = gateway.output()
        if ready(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


# --- 5/6. ./dev: a real help, caller-relative paths, and it says what the first run does -----------

def _dev(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("LLMG_")}
    base.update(env or {})
    return subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, cwd=cwd, env=base, timeout=120)


def test_dev_help_exits_0() -> None:
    for flag in ("--help", "help", "-h"):
        result = _dev(flag, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert "./dev serve" in result.stdout and "set -euo pipefail" not in result.stdout
    unknown = _dev("frobnicate", cwd=ROOT)
    assert unknown.returncode == 2 and "unknown command 'frobnicate'" in unknown.stderr


def test_dev_resolves_config_from_the_callers_directory(tmp_path: Path) -> None:
    if not list(Path(sys.prefix).glob(".llmg-installed-*")):
        pytest.skip("not running in a ./dev virtualenv (./dev would install into it)")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.toml").write_text("[server]\nport = 8181\n[providers.mock]\n")
    result = _dev("check-config", "--config", "conf/mine.toml", cwd=tmp_path, env={"LLMG_VENV": sys.prefix})
    assert result.returncode == 0, result.stderr
    assert "config: conf/mine.toml: valid" in result.stdout and ":8181" in result.stdout


def test_dev_says_what_the_first_run_does(tmp_path: Path) -> None:
    # A venv that does not exist yet, and a "python" that fails at once: ./dev must have said what
    # it was about to do before anything slow happens.
    result = _dev("serve", cwd=tmp_path, env={"LLMG_VENV": str(tmp_path / "venv"), "PYTHON": "false"})
    assert result.returncode != 0
    assert "./dev: creating the virtualenv" in result.stderr
