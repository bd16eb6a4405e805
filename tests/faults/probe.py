"""Resource readings of a running gateway worker: open fds from /proc, asyncio tasks and open
streams from its debug-only /debug/stats route, upstream connections from the faulty fake."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import httpx

from tests.fakes.faulty_upstream import FaultyUpstream
from tests.gateway import GatewayProcess

# Slack for readings taken while the gateway may still be closing a socket it was just told about.
FD_SLACK = 2


@dataclass(frozen=True)
class Reading:
    fds: int
    tasks: int
    streams: int
    upstream_open: int


class Probe:
    def __init__(self, gateway: GatewayProcess, upstream: FaultyUpstream) -> None:
        self.gateway = gateway
        self.upstream = upstream

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.gateway.proc.pid}/fd"))

    def read(self) -> Reading:
        # Our own probe request is a connection and a task of its own: it is counted the same way
        # in the baseline and afterwards. fds are read from /proc before it, while the gateway is quiet.
        fds = self.fds()
        stats = httpx.get(f"{self.gateway.url}/debug/stats", headers=self.gateway.auth, timeout=5).json()
        return Reading(fds, stats["tasks"], stats["streams"], self.upstream.open)

    def settle(self, baseline: Reading, timeout: float = 10.0) -> Reading:
        """Wait (bounded) until the gateway is back to ``baseline``; the last reading either way."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.read()
            if (now.fds <= baseline.fds + FD_SLACK and now.tasks <= baseline.tasks and now.streams == 0
                    and now.upstream_open == 0):
                return now
            if time.monotonic() > deadline:
                return now
            time.sleep(0.1)

    def assert_back(self, baseline: Reading, timeout: float = 10.0) -> None:
        now = self.settle(baseline, timeout)
        assert now.fds <= baseline.fds + FD_SLACK, f"fds leaked: {baseline} -> {now}"
        assert now.tasks <= baseline.tasks, f"tasks leaked: {baseline} -> {now}"
        assert now.streams == 0, f"streams still registered: {now}"
        assert now.upstream_open == 0, f"upstream connections left open: {now}"
