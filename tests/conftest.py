"""Shared fixtures: a fake OpenAI upstream and a factory for real gateway processes."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator

import pytest

from tests.fakes import openai_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

FAKE_OPENAI_KEY = "sk-fake-openai"

# Sanic puts its own warnings filter (DEPRECATION_FILTER, "once" for sanic.*) in front of pytest's
# every time an app is configured, so a pytest filterwarnings entry cannot silence the one
# deprecation it prints in tests: sanic-testing's listener takes the `loop` argument Sanic 25
# deprecates. Sanic reads SANIC_DEPRECATION_FILTER from the environment when it builds a config.
os.environ.setdefault("SANIC_DEPRECATION_FILTER", "ignore")


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


# --- e2e marker: tests that start real processes (`./dev test -m "not e2e"` skips them) -------------
# A test is end-to-end when it, or a fixture it uses, starts a gateway subprocess: the fixtures
# below do, and so does any test whose own body builds a GatewayProcess or runs the CLI.
_E2E_FIXTURES = frozenset({"start_gateway", "openai_gateway", "gateway"})
_E2E_CALLS = ("GatewayProcess(", "run_cli(", "run_llmg(", "subprocess.")


def _starts_processes(item: pytest.Item) -> bool:
    if _E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return False
    return any(call in source for call in _E2E_CALLS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" not in item.keywords and _starts_processes(item):
            item.add_marker(pytest.mark.e2e)
