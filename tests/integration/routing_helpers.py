"""Config text and request helpers shared by the routing tests."""

from __future__ import annotations

import httpx

from tests.fakes.scripted_upstream import KEY, Scripted
from tests.fakes.server import free_port


def refused_url() -> str:
    """A base URL where nothing listens: connection refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


def deployment(fake: Scripted | str, name: str, extra: str = "") -> str:
    url = fake if isinstance(fake, str) else fake.base_url
    return f'{{ model = "openai/m-{name}", base_url = "{url}", name = "{name}"{", " + extra if extra else ""} }}'


def config(groups: str, router: str = "") -> str:
    # Short backoffs keep the tests quick, unless the test sets its own.
    for key, value in (("backoff_base_ms", 20), ("backoff_max_ms", 100)):
        if f"{key} =" not in router:
            router += f"\n{key} = {value}"
    # [providers.openai] gets a fixed model list, so the model directory never goes to the network.
    return f"""
[server.auth]
enabled = false

[providers.mock]

[providers.openai]
api_key = "{KEY}"
base_url = "http://127.0.0.1:9/v1"
models = ["m"]

[router]
{router}

{groups}
"""


def chat(client: httpx.Client, model: str, stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return client.post("/v1/chat/completions", json=body)
