"""One gateway process and one scriptable faulty upstream for the whole fault suite.

Bounds are deliberately small (2 s upstream timeout, 2 s request timeout) so that every fault
resolves in a few seconds; the assertions allow generous margins on top for a loaded machine.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from tests.fakes import faulty_upstream
from tests.fakes.faulty_upstream import FaultyUpstream
from tests.fakes.server import free_port
from tests.faults.probe import Probe
from tests.gateway import GatewayProcess

# 2,000 idle client connections need 2,000 fds here and in the gateway (which inherits this limit):
# raise the soft limit towards the hard one before the gateway starts.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and _soft < 8192:
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192 if _hard == resource.RLIM_INFINITY else min(8192, _hard), _hard))
FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

UPSTREAM_TIMEOUT = 2.0
REQUEST_TIMEOUT = 2.0
KEEP_ALIVE_TIMEOUT = 3.0


@pytest.fixture(scope="session")
def faulty() -> Iterator[FaultyUpstream]:
    server = faulty_upstream.start(drip_interval=0.5)
    yield server
    server.stop()


def fault_config(upstream_url: str, **server: object) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in server.items())
    return f"""
[server]
request_timeout = {REQUEST_TIMEOUT}
keep_alive_timeout = {KEEP_ALIVE_TIMEOUT}
debug_stats = true
{extra}
[providers.faulty]
base_url = "{upstream_url}/v1"
timeout = {UPSTREAM_TIMEOUT}

[providers.dead]
base_url = "http://127.0.0.1:{free_port()}/v1"
timeout = {UPSTREAM_TIMEOUT}
"""


@pytest.fixture(scope="session")
def fault_gateway(faulty: FaultyUpstream) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(fault_config(faulty.url)).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def probe(fault_gateway: GatewayProcess, faulty: FaultyUpstream) -> Probe:
    probe = Probe(fault_gateway, faulty)
    # Start each test from a quiet gateway: nothing of the previous test still open.
    assert faulty.wait_idle(10), "a previous test left upstream connections open"
    return probe
