"""Sanic's own response timeout must never cut a provider call that is still within its timeout."""

from __future__ import annotations

from llmg.app import create_app
from llmg.config import parse


def test_response_timeout_is_above_the_longest_provider_timeout() -> None:
    loaded = parse("""
[server]
upstream_timeout = 60

[providers.mock]

[providers.slowlab]
base_url = "http://127.0.0.1:9/v1"
timeout = 900
""", "t", {})
    app = create_app(loaded, name="timeouts_test")
    # 900 s for slowlab: Sanic must wait longer, or a slow answer becomes its 503/500, not ours.
    assert app.config.RESPONSE_TIMEOUT > 900 + loaded.config.server.pool_timeout
