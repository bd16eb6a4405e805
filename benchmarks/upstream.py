"""The fake upstream: nginx with the echo module (Debian's ``libnginx-mod-http-echo``).

nginx answers the canned OpenAI JSON from memory (``return 200``) and streams the canned SSE
events with ``echo`` + ``echo_flush`` (one flushed chunk per event, chunked encoding, like OpenAI).
Streams are chosen by ``Accept: text/event-stream`` (nginx routes before it reads a body; the
gateway sends that header for streams and the direct scenarios send the same). It checks the Bearer key as the real API does (401 otherwise), so a misrouted gateway shows up as
errors rather than as fast answers. An optional delay (``echo_sleep``) models a slow provider.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from .payloads import COMPLETION, STREAM_EVENTS, UPSTREAM_KEY

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def _nginx_string(data: bytes) -> str:
    """A single-quoted nginx string literal for ``data`` (JSON with double quotes inside)."""
    text = data.decode()
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def config(port: int, workdir: Path, delay_ms: int = 0, workers: int = 1) -> str:
    delay = f"echo_sleep {delay_ms / 1000:.3f};" if delay_ms else ""
    stream_lines = "\n".join(
        f"            echo -n {_nginx_string(ev)};\n            echo_flush;" for ev in STREAM_EVENTS
    )
    plain = (
        f"echo -n {_nginx_string(COMPLETION)};" if delay_ms else f"return 200 {_nginx_string(COMPLETION)};"
    )
    return f"""
load_module {ECHO_MODULE};
daemon off;
master_process on;
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    tcp_nodelay on;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /v1/chat/completions {{
            if ($http_authorization != "Bearer {UPSTREAM_KEY}") {{
                return 401 '{{"error":{{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}';
            }}
            # The gateway asks for SSE with this header; direct requests send it too (same request).
            if ($http_accept ~ "text/event-stream") {{ rewrite ^ /stream last; }}
            # A peer that always sends Accept: application/json (LiteLLM) forwards this header instead.
            if ($http_x_bench_stream = "1") {{ rewrite ^ /stream last; }}
            default_type application/json;
            {delay}
            {plain}
        }}
        location = /stream {{
            internal;
            default_type text/event-stream;
            {delay}
{stream_lines}
        }}
    }}
}}
"""


class Upstream:
    """nginx in the foreground, on its own temporary prefix; ``stop()`` ends it."""

    def __init__(self, port: int, delay_ms: int = 0, workers: int = 1) -> None:
        self.port = port
        self.delay_ms = delay_ms
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> Upstream:
        self._dir = tempfile.TemporaryDirectory(prefix="llmg-bench-nginx-")
        workdir = Path(self._dir.name)
        conf = workdir / "nginx.conf"
        conf.write_text(config(self.port, workdir, self.delay_ms, self.workers))
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(workdir), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                r = httpx.post(f"{self.url}/v1/chat/completions", headers={"authorization": f"Bearer {UPSTREAM_KEY}"}, content=b"{}")
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not come up")

    def pids(self) -> list[int]:
        from .procstat import tree

        return tree(self.proc.pid)

    def cpu_seconds(self) -> float:
        from .procstat import cpu_seconds

        return sum(cpu_seconds(p) for p in self.pids())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # fast shutdown: no waiting on keep-alive clients
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._dir.cleanup()
