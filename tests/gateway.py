"""Run the real gateway (``python -m llmg serve``) in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GatewayProcess:
    config_text: str | None  # None: no --config, no llmg.toml (the built-in default)
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    port: int = field(default_factory=free_port)
    token: str = "test-token"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:  # what the openai SDK takes
        return f"{self.url}/v1"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> GatewayProcess:
        self._dir = tempfile.TemporaryDirectory()
        config = Path(self._dir.name) / "gateway.toml"
        config_args = []
        if self.config_text is not None:
            config.write_text(self.config_text)
            config_args = ["--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LLMG_CONFIG"}
        env.update(self.env)
        env["PYTHONPATH"] = str(ROOT)
        self.log = Path(self._dir.name) / "gateway.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmg", "serve", *config_args, "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=self._dir.name,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own process group: Sanic's manager SIGKILLs the whole group of a worker it gives
            # up on, which must not take pytest with it.
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not become healthy:\n{self.output()}")

    # --- lifecycle tests: rewrite the config of a running gateway, then reload it ---
    @property
    def config_path(self) -> Path:
        return Path(self._dir.name) / "gateway.toml"

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()
        self._dir.cleanup()
