"""Shared fixtures: a fake OpenAI upstream and a factory for real gateway processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fakes import openai_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

FAKE_OPENAI_KEY = "sk-fake-openai"


@pytest.fixture(scope="session")
def openai_fake() -> Iterator[FakeServer]:
    server = openai_upstream.start(FAKE_OPENAI_KEY)
    yield server
    server.stop()


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., GatewayProcess]]:
    """start_gateway(config_text, env={...}, workers=1) -> a running gateway, stopped after the test."""
    running: list[GatewayProcess] = []

    def start(config_text: str | None, env: dict[str, str] | None = None, workers: int = 1) -> GatewayProcess:
        gateway = GatewayProcess(config_text, env=env or {}, workers=workers).start()
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()


@pytest.fixture(scope="module")
def openai_gateway(openai_fake: FakeServer) -> Iterator[GatewayProcess]:
    """One gateway per test module with the mock provider and `openai` pointed at the fake."""
    gateway = GatewayProcess(
        f"""
[providers.mock]

[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{openai_fake.url}/v1"
timeout = 2

[aliases]
fast = "openai/gpt-4o-mini"
"""
    ).start()
    yield gateway
    gateway.stop()
