"""The peers LLMG is compared with, installed and started on loopback in front of the same fake.

    ./dev bench --peers            # -> the bench output folder (peers.json, peers.md, peers.png)

Each peer proxies to the same nginx fake (``upstream.py``) and is loaded with the same wrk script,
threads, durations and connection counts as LLMG, in the same run:

- **haproxy** (Debian package, ``nbthread 1``): a bare HTTP hop, the reference for what a proxy
  costs at the least;
- **LiteLLM proxy** (PyPI ``litellm[proxy]``, in its own virtualenv, 1 worker);
- **Portkey gateway** (npm ``@portkey-ai/gateway``, one node process).

Installs go to ``PEERS_HOME`` (``/tmp/llmg-bench-peers`` unless ``LLMG_BENCH_PEERS_HOME`` says
otherwise) and are reused by later runs. A peer that cannot be installed or started is kept in
the results with the reason, never dropped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import msgspec

from . import procstat
from .payloads import MODEL, UPSTREAM_KEY, request_body

PEERS_HOME = Path(os.environ.get("LLMG_BENCH_PEERS_HOME", "/tmp/llmg-bench-peers"))
LITELLM_SPEC = "litellm[proxy]==1.106.12"  # newer proxy extras do not resolve on Python 3.11 here
PORTKEY_VERSION = "1.15.2"
PORTKEY_PACKAGE = f"@portkey-ai/gateway@{PORTKEY_VERSION}"
# Portkey's own package-lock.json at v1.15.2 (what its Docker image runs) pins these. A bare
# ``npm install`` of the package ignores that lock and takes the newest @hono/node-server 1.x
# (1.19.19 in 2026-11), whose lightweight Response keeps the upstream fetch Response's immutable
# headers; Portkey's ResponseService.updateHeaders then throws "TypeError: immutable" on every
# streamed answer (HTTP 500 "Something went wrong"; Portkey-AI/gateway#1389). npm ``overrides``
# in our install prefix restore the versions Portkey ships with.
PORTKEY_PINS = {"@hono/node-server": "1.13.5", "hono": "4.9.7"}
CHAT = "/v1/chat/completions"
SSE = "text/event-stream"


class PeerUnavailable(Exception):
    """A peer could not be installed or started; the message says why (it ends up in the table)."""


def _tail(path: Path, chars: int = 400) -> str:
    try:
        return path.read_text(errors="replace").strip()[-chars:]
    except OSError:
        return ""


class Peer:
    """One peer gateway as a process group of its own; subclasses say how to install and run it."""

    name = "peer"
    model = MODEL  # the body's model: every peer here maps the plain name to the fake
    auth = f"Bearer {UPSTREAM_KEY}"
    headers: dict[str, str] = {}
    stream_headers: dict[str, str] = {}  # added to streamed requests only
    start_timeout = 90.0
    # Requests sent once it is up and before anything is measured, so that lazy imports, first
    # connections and caches (LiteLLM imports modules on its first requests) are not measured.
    warmup_requests = 100
    warmup_max_s = 20.0

    def __init__(self, home: Path = PEERS_HOME) -> None:
        self.home = home
        self.version = "unknown"
        self.proc: subprocess.Popen | None = None
        self.stream_error = ""  # set by start() when plain requests work and streamed ones do not
        self.warmed_up = 0

    # --- to override --------------------------------------------------------------------------

    def install(self) -> str:
        """Make the peer runnable (installing if needed); returns its version or raises PeerUnavailable."""
        raise NotImplementedError

    def command(self, port: int, upstream_url: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    # --- common -------------------------------------------------------------------------------

    def start(self, port: int, upstream_url: str) -> Peer:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = self.home / "run" / f"{self.name}-{port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv, env = self.command(port, upstream_url, self.workdir)
        self.log_path = self.workdir / "peer.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, env={**_clean_env(), **env}, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerUnavailable(f"exited with {self.proc.returncode} at start: {_tail(self.log_path)}")
            last = self.probe(stream=False)
            if not last:
                # Up. A peer that answers plain requests but not streams is measured for plain
                # ones; its stream failure is kept as the reason for the missing stream rows.
                self.stream_error = self.probe(stream=True)
                self.warm_up()
                return self
            time.sleep(0.25)
        self.stop()
        raise PeerUnavailable(f"not answering a chat request after {self.start_timeout:.0f} s: {last}")

    def probe(self, stream: bool) -> str:
        """One chat request; '' when it came back as the fake sent it, else what went wrong."""
        hdrs = {"authorization": self.auth, "content-type": "application/json", **self.headers}
        if stream:
            hdrs.update({"accept": SSE, **self.stream_headers})
        try:
            r = httpx.post(self.url + CHAT, headers=hdrs, content=request_body(self.model, stream), timeout=10)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if r.status_code != 200 or (b"[DONE]" if stream else b"benchmark") not in r.content:
            return f"{'streamed' if stream else 'plain'} request: HTTP {r.status_code} {r.text[:200]}"
        return ""

    def warm_up(self) -> int:
        """Plain (and, if they work, streamed) requests on one keep-alive connection; returns how many."""
        hdrs = {"authorization": self.auth, "content-type": "application/json", **self.headers}
        kinds = [(hdrs, request_body(self.model, False))]
        if not self.stream_error:
            kinds.append(({**hdrs, "accept": SSE, **self.stream_headers}, request_body(self.model, True)))
        deadline = time.monotonic() + self.warmup_max_s
        sent = 0
        with httpx.Client(timeout=10) as client:
            while sent < self.warmup_requests and time.monotonic() < deadline:
                h, body = kinds[sent % len(kinds)]
                try:
                    client.post(self.url + CHAT, headers=h, content=body).read()
                except httpx.HTTPError:
                    pass  # the measurement reports errors; a warm-up only has to have happened
                sent += 1
        self.warmed_up = sent
        return sent

    def exited(self) -> str:
        """'' while the peer runs, else how it ended (with its log's tail)."""
        if self.proc is None or self.proc.poll() is None:
            return ""
        return f"exited with {self.proc.returncode} during the run: {_tail(self.log_path)}"

    def pids(self) -> list[int]:
        return procstat.tree(self.proc.pid) if self.proc else []

    def cpu_seconds(self) -> float:
        return sum(procstat.cpu_seconds(p) for p in self.pids())

    def peak_rss_mb(self) -> list[float]:
        return [sum(procstat.memory_kb(p)[1] for p in self.pids()) / 1024]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def _clean_env() -> dict[str, str]:
    # No provider key of the caller's reaches a peer; no proxy settings send loopback traffic away.
    drop = ("_API_KEY", "_proxy", "_PROXY")
    return {k: v for k, v in os.environ.items() if not k.endswith(drop) and not k.startswith("LLMG_")}


def _run(cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                           env={**os.environ, **(env or {})})
    if r.returncode != 0:
        raise PeerUnavailable(f"`{' '.join(cmd[:4])} ...` failed ({r.returncode}): {_tail(log)}")


# --- haproxy --------------------------------------------------------------------------------------


class HAProxy(Peer):
    name = "haproxy"

    def install(self) -> str:
        if shutil.which("haproxy") is None:
            if os.geteuid() != 0:
                raise PeerUnavailable("haproxy is not installed and installing it needs root (apt-get install haproxy)")
            self.home.mkdir(parents=True, exist_ok=True)
            log = self.home / "apt-haproxy.log"
            env = {"DEBIAN_FRONTEND": "noninteractive"}
            try:
                _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "haproxy"], log, 600, env)
            except PeerUnavailable:  # stale package lists on a fresh machine
                _run(["apt-get", "update", "-qq"], log, 600, env)
                _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "haproxy"], log, 600, env)
        r = subprocess.run(["haproxy", "-v"], capture_output=True, text=True)
        first = (r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else ""
        return first.replace("HAProxy version ", "").split(" ")[0] or "unknown"

    def command(self, port: int, upstream_url: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        up = upstream_url.removeprefix("http://")
        conf = workdir / "haproxy.cfg"
        # One thread, keep-alive on both sides, upstream connections reused: a bare HTTP hop.
        conf.write_text(f"""
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend bench
    bind 127.0.0.1:{port}
    default_backend fake
backend fake
    server nginx {up}
""")
        return ["haproxy", "-db", "-f", str(conf)], {}


# --- LiteLLM --------------------------------------------------------------------------------------


class LiteLLM(Peer):
    name = "litellm"
    # Its OpenAI client sends Accept: application/json even for streams; the fake routes on this
    # header instead, which LiteLLM forwards (forward_client_headers_to_llm_api).
    stream_headers = {"x-bench-stream": "1"}
    start_timeout = 240.0  # imports for half a minute or more on a loaded machine

    def __init__(self, home: Path = PEERS_HOME) -> None:
        super().__init__(home)
        # It refuses to start without a strong master key; a fresh one per run, never printed.
        self.master_key = "sk-" + os.urandom(24).hex()
        self.auth = f"Bearer {self.master_key}"

    @property
    def venv(self) -> Path:
        return self.home / "litellm-venv"

    def install(self) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.home / "pip-litellm.log"
        exe = self.venv / "bin" / "litellm"
        python = self.venv / "bin" / "python"
        if not exe.exists():
            if not python.exists():
                _run([shutil.which("python3") or "python3", "-m", "venv", str(self.venv)], log, 300)
            _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", LITELLM_SPEC], log, 1800)
        r = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                           capture_output=True, text=True)
        if r.returncode != 0 or not exe.exists():
            raise PeerUnavailable(f"litellm not importable in {self.venv}: {r.stderr.strip()[-300:]}")
        return r.stdout.strip()

    def command(self, port: int, upstream_url: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        conf = workdir / "litellm.yaml"
        conf.write_text(litellm_config(upstream_url))
        env = {
            "LITELLM_MODE": "PRODUCTION",  # its production mode: no .env loading, no dev defaults
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_SCHEMA_UPDATE": "True",
            "LITELLM_MASTER_KEY": self.master_key,
        }
        # --num_workers 1: the same one worker as "llmg w1"; uvicorn on uvloop is its default on Linux.
        argv = [str(self.venv / "bin" / "litellm"), "--config", str(conf), "--host", "127.0.0.1",
                "--port", str(port), "--num_workers", "1"]
        return argv, env


def litellm_config(upstream_url: str) -> str:
    """LiteLLM's config as its "Production Best Practices" page has it, minus what needs a database.

    No ``database_url``: no virtual keys, spend or error logs to write (the master key authorizes,
    as LLMG's static token does). Every logging, alerting and cost-tracking hook that runs per
    request and is not needed to proxy is switched off; the one deployment points straight at the
    fake with ``api_base``, so the router has nothing to choose.
    """
    return f"""
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {upstream_url}/v1
      api_key: {UPSTREAM_KEY}
litellm_settings:
  telemetry: false
  set_verbose: false
  json_logs: false
  request_timeout: 600
  callbacks: []
  success_callback: []
  failure_callback: []
  turn_off_message_logging: true
  disable_end_user_cost_tracking: true
  disable_add_transform_inline_image_block: true
  # The fake picks a stream by a header (LiteLLM's OpenAI client sends Accept: application/json).
  forward_client_headers_to_llm_api: true
general_settings:
  disable_spend_logs: true
  disable_error_logs: true
  disable_adding_master_key_hash_to_db: true
  disable_reset_budget: true
  proxy_batch_write_at: 60
  allow_requests_on_db_unavailable: true
  forward_client_headers_to_llm_api: true
"""


# --- Portkey --------------------------------------------------------------------------------------

# Portkey's server has no host option and listens on every interface; this preload makes every
# listen() without an explicit host bind to loopback only.
_LOOPBACK_PRELOAD = """
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) args[0] = { ...args[0], host: '127.0.0.1' };
  return listen.apply(this, args);
};
"""


class Portkey(Peer):
    name = "portkey"

    @property
    def prefix(self) -> Path:
        return self.home / "portkey"

    @property
    def package_dir(self) -> Path:
        return self.prefix / "node_modules" / "@portkey-ai" / "gateway"

    def install(self) -> str:
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            raise PeerUnavailable("node/npm not installed (Debian: apt-get install nodejs npm)")
        server = self.package_dir / "build" / "start-server.js"
        if not server.exists() or self.installed_versions() != self.wanted_versions():
            # An install from before the pins (or of another version) is redone, not reused.
            self.prefix.mkdir(parents=True, exist_ok=True)
            log = self.home / "npm-portkey.log"
            manifest = {"name": "llmg-bench-portkey", "private": True,
                        "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION}, "overrides": PORTKEY_PINS}
            (self.prefix / "package.json").write_bytes(msgspec.json.encode(manifest) + b"\n")
            _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(self.prefix)], log, 900)
        if not server.exists():
            raise PeerUnavailable(f"npm installed no {server}")
        got = self.installed_versions()
        if got != self.wanted_versions():
            raise PeerUnavailable(f"npm installed {got}, wanted {self.wanted_versions()}")
        return got["@portkey-ai/gateway"]

    @staticmethod
    def wanted_versions() -> dict[str, str]:
        return {"@portkey-ai/gateway": PORTKEY_VERSION, **PORTKEY_PINS}

    def installed_versions(self) -> dict[str, str]:
        out = {}
        for name in self.wanted_versions():
            try:
                manifest = msgspec.json.decode((self.prefix / "node_modules" / name / "package.json").read_bytes())
            except (OSError, msgspec.DecodeError):
                manifest = {}
            out[name] = manifest.get("version", "missing")
        return out

    def start(self, port: int, upstream_url: str) -> Peer:
        # Portkey calls the provider named in the request's headers at the host given there.
        # It sends ``Accept: */*`` upstream unless told to forward the client's; the fake picks a
        # stream by that header (real providers go by the body), so it is forwarded.
        self.headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{upstream_url}/v1",
                        "x-portkey-forward-headers": "accept"}
        return super().start(port, upstream_url)

    def command(self, port: int, upstream_url: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        preload = workdir / "loopback.cjs"
        preload.write_text(_LOOPBACK_PRELOAD)
        argv = ["node", "--require", str(preload), str(self.package_dir / "build" / "start-server.js"),
                f"--port={port}", "--headless"]
        return argv, {"NODE_ENV": "production"}


PEERS: dict[str, type[Peer]] = {"haproxy": HAProxy, "litellm": LiteLLM, "portkey": Portkey}
