"""One gateway for the inbound-API tests: the mock, the fake OpenAI upstream (as ``openai``, which
has /responses and /completions natively, and as ``groq``, an OpenAI-compatible provider that gets
the translated path), the fake Anthropic API and the fake Gemini API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import FAKE_OPENAI_KEY
from tests.fakes import anthropic_upstream, gemini_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

ANTHROPIC_KEY = "sk-ant-fake-inbound-0123"
GEMINI_KEY = "fake-gemini-key-inbound"
GATEWAY_KEY = "gw-inbound-key"


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(ANTHROPIC_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeServer]:
    server = gemini_upstream.start(GEMINI_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(openai_fake: FakeServer, anthropic_fake: FakeServer, gemini_fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f"""
[server.auth]
keys = ["{GATEWAY_KEY}"]

[providers.mock]

[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{openai_fake.url}/v1"
timeout = 5

[providers.groq]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{openai_fake.url}/v1"
timeout = 5

[providers.anthropic]
api_key = "{ANTHROPIC_KEY}"
base_url = "{anthropic_fake.url}/v1"
timeout = 5

[providers.gemini]
api_key = "{GEMINI_KEY}"
base_url = "{gemini_fake.url}/v1beta"
timeout = 5
""", token=GATEWAY_KEY).start()
    yield gw
    gw.stop()
