"""Where a gateway worker spends its time under load: py-spy samples, summarised.

``record`` attaches py-spy (bench extra) to one worker for the length of a wrk run and returns
the share of samples by package (self time), the top frames by self time and by inclusive time.
py-spy samples every thread: frames without a Python stack are native threads (pyreqwest's tokio
runtime) and native code, shown as ``<native>``.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = _py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250", "-f", "raw",
         "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _package(frame: str) -> str:
    if "(" not in frame:
        return "<native>"
    where = frame[frame.rindex("(") + 1 : -1]
    if "/" not in where:
        # Sanic compiles some of its hot functions at start-up ("touchup"); their file is their name.
        return "sanic (touched-up)" if where.split(":")[0] in ("send", "handle_request", "http1_request_header", "http1_response_header", "read", "connection_task") else where.split(":")[0]
    top = where.split("/")[0]
    return top


# The process's start-up chain sits under every sample of the main thread: not informative.
_ROOTS = ("<frozen runpy>", "llmg/cli.py", "llmg/__main__.py", "sanic/mixins/startup.py", "sanic/worker/serve.py",
          "sanic/server/runners.py")


def raw_samples(raw: Path) -> Iterator[tuple[str, int]]:
    """(stack, sample count) for each line of a py-spy ``raw`` file (frames joined by ``;``)."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            yield stack, int(count)


def summarise(raw: Path, top: int = 25) -> dict:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for stack, n in raw_samples(raw):
        total += n
        frames = stack.split(";") if stack else [""]
        leaf = frames[-1] or "<native>"
        self_time[leaf] += n
        packages[_package(leaf)] += n
        for frame in set(frames):
            if frame and not any(root in frame for root in _ROOTS):
                inclusive[frame] += n
    share = lambda c: [{"frame": f, "share": round(n / total, 4)} for f, n in c.most_common(top)]  # noqa: E731
    return {
        "samples": total,
        "by_package": {k: round(v / total, 4) for k, v in packages.most_common()} if total else {},
        "self": share(self_time) if total else [],
        "inclusive": share(inclusive) if total else [],
    }


def markdown(profile: dict) -> str:
    if "error" in profile:
        return f"# Profile\n\nnot recorded: {profile['error']}\n"
    lines = [
        "# Profile: one gateway worker under load",
        "",
        f"{profile['scenario']}; py-spy, {profile['samples']} samples over all threads. "
        "`<native>`: frames with no Python stack (pyreqwest's runtime thread, native code); the self time of "
        "`_run_server_forever` is uvloop's event loop in C (epoll, socket reads); Sanic's `send` is the socket write.",
        "",
        "| package (self time) | share |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.1%} |" for k, v in profile["by_package"].items()]
    lines += ["", "| top frames by self time | share |", "|---|---|"]
    lines += [f"| `{x['frame']}` | {x['share']:.1%} |" for x in profile["self"]]
    lines += ["", "| top frames by inclusive time | share |", "|---|---|"]
    lines += [f"| `{x['frame']}` | {x['share']:.1%} |" for x in profile["inclusive"]]
    return "\n".join(lines) + "\n"
