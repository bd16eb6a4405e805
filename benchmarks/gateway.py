"""Start and stop the real gateway (``python -m llmg serve``) for a benchmark scenario."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from . import procstat
from .payloads import UPSTREAM_KEY

ROOT = Path(__file__).resolve().parent.parent


def config_text(upstream_url: str, transport: str) -> str:
    return f"""
[server]
transport = "{transport}"
access_log = false

[logging]
level = "warning"

[providers.openai]
api_key = "{UPSTREAM_KEY}"
base_url = "{upstream_url}/v1"
models = ["gpt-4o"]
"""


class Gateway:
    def __init__(self, port: int, upstream_url: str, workers: int = 1, transport: str = "aiohttp",
                 root: Path = ROOT) -> None:
        self.root = root  # the source tree to run (an A/B runs an older one beside this one)
        self.port = port
        self.workers = workers
        self.transport = transport
        self.url = f"http://127.0.0.1:{port}"
        self._config = config_text(upstream_url, transport)

    def start(self) -> Gateway:
        self._dir = tempfile.TemporaryDirectory(prefix="llmg-bench-gw-")
        conf = Path(self._dir.name) / "llmg.toml"
        conf.write_text(self._config)
        self.log = Path(self._dir.name) / "gateway.log"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LLMG_CONFIG"}
        env["PYTHONPATH"] = str(self.root)
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmg", "serve", "--config", str(conf), "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=self._dir.name, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200 and len(self.workers_pids()) >= self.workers:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gateway did not become healthy")

    def pids(self) -> list[int]:
        return procstat.tree(self.proc.pid)

    def workers_pids(self) -> list[int]:
        """The processes serving requests: the server itself with one worker, else Sanic's workers."""
        if self.workers == 1:
            return [self.proc.pid]
        if not getattr(self, "_workers", None):
            # Sanic's main process also spawns a small helper beside the workers: the workers are
            # the children that loaded the app, i.e. the largest ones.
            kids = [p for p in procstat.children(self.proc.pid) if "resource_tracker" not in procstat.cmdline(p)]
            kids.sort(key=lambda p: procstat.memory_kb(p)[0], reverse=True)
            if len(kids) < self.workers or procstat.memory_kb(kids[self.workers - 1])[0] < 30_000:
                return kids[: self.workers - 1]  # not all loaded yet
            self._workers = kids[: self.workers]
        return self._workers

    def cpu_seconds(self) -> float:
        return sum(procstat.cpu_seconds(p) for p in self.pids())

    def peak_rss_mb(self) -> list[float]:
        return [procstat.memory_kb(p)[1] / 1024 for p in self.workers_pids()]

    def rss_mb(self) -> list[float]:
        return [procstat.memory_kb(p)[0] / 1024 for p in self.workers_pids()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        self._dir.cleanup()
