"""The auth signal's direct dispatch (llmg/signal_dispatch.py): same behaviour, cheaper path.

In-process with sanic-testing. The fast path must be the one taken for the gateway's single auth
handler, and Sanic's own dispatch must take over whenever the fast path could differ from it.
"""

from __future__ import annotations

from llmg.app import create_app
from llmg.config import parse
from llmg.signal_dispatch import GatewaySanic

CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}
EVENT = "http.routing.after"


def _post(app, headers: dict[str, str] | None = None):
    _, response = app.test_client.post("/v1/chat/completions", json=CHAT,
                                       headers={"content-type": "application/json", **(headers or {})})
    return response


def test_the_auth_signal_is_called_directly_and_still_guards() -> None:
    app = create_app(parse("[providers.mock]\n", "test", {}))
    assert isinstance(app, GatewaySanic)
    assert _post(app).status == 401
    assert _post(app, {"Authorization": "Bearer tok"}).status == 200
    fast = app._fast_signals[EVENT]
    assert fast is not None, "the auth handler (and the Host check beside it) should be dispatched directly"
    signals, _ = fast
    names = {sig.handler.__name__ for sig in signals}
    assert all(sig.ctx.definition == EVENT for sig in signals) and "require_gateway_key" in names  # the registered ones


def test_another_handler_runs_in_sanics_order_on_the_fast_path() -> None:
    app = create_app(parse("[providers.mock]\n", "test", {}))
    seen: list[str] = []

    @app.signal(EVENT)
    async def also(request, route, kwargs, handler) -> None:
        seen.append(request.path)

    assert _post(app).status == 401  # auth still runs
    assert _post(app, {"Authorization": "Bearer tok"}).status == 200
    # The other handler runs too, after auth (which stopped the first), as Sanic's dispatch orders them.
    assert seen == ["/v1/chat/completions"]
    assert app._fast_signals[EVENT] is not None


def test_public_routes_skip_auth_on_the_fast_path() -> None:
    app = create_app(parse("[providers.mock]\n", "test", {}))
    _, response = app.test_client.get("/health")
    assert response.status == 200
    _, response = app.test_client.get("/v1/models")
    assert response.status == 401
