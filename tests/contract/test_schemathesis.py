"""schemathesis over every operation of the contract, against the real gateway in a subprocess.

The schema is the one ``llmg.contract`` builds (the same document ``GET /openapi.json`` serves, which
``test_served_contract_is_the_generated_one`` checks), loaded eagerly: schemathesis' lazy
``from_fixture`` loader does not run under pytest 9, and its ASGI mode restarts the app's lifespan
for every operation, which Sanic cannot do. Each request goes to a ``GatewayProcess`` on 127.0.0.1
with the mock provider behind it.

Every default check runs (server errors, status codes, content types, response headers, response
schemas including each SSE event, negative data rejected with 4xx, positive data accepted, ignored
auth, unsupported methods with ``Allow``) in both generation modes, through the examples, coverage
and fuzzing phases. The example budget keeps this module at a few seconds; ``./dev fuzz`` is the
deep run.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from llmg.contract import build
from tests.contract.steering import steer
from tests.gateway import GatewayProcess

TOKEN = "contract-token"
CONFIG = f"""
[server.auth]
keys = ["{TOKEN}"]

[providers.mock]
"""
EXAMPLES = 60  # per operation and test; the coverage phase adds its own cases on top

schema = schemathesis.openapi.from_dict(build())
# Routes without gateway auth (the authentication page: /health; and its readiness twin).
PUBLIC = ("/health", "/health/ready")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# (operation, mode, status) -> count, so that the last test can prove the run reached every outcome.
OUTCOMES: collections.Counter[tuple[str, str, int]] = collections.Counter()


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    process = GatewayProcess(CONFIG, token=TOKEN).start()
    yield process
    process.stop()


def _record(case: schemathesis.Case, status: int, run: str) -> None:
    mode = case.meta.generation.mode.value if case.meta is not None else "explicit"
    OUTCOMES[(run, case.operation.label, mode, status)] += 1


@schema.parametrize()
@FUZZ
def test_with_a_valid_token(case: schemathesis.Case, gateway: GatewayProcess) -> None:
    steer(case)  # half the valid bodies go to the mock provider instead of a 404
    response = case.call_and_validate(base_url=gateway.url, headers=gateway.auth, timeout=30)
    _record(case, response.status_code, "authorized")


@schema.parametrize()
@FUZZ
def test_without_the_authorization_header(case: schemathesis.Case, gateway: GatewayProcess) -> None:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call_and_validate(base_url=gateway.url, timeout=30)
    _record(case, response.status_code, "no-auth")
    if case.operation.path not in PUBLIC and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "authentication_error"


@schema.parametrize()
@FUZZ
def test_with_a_wrong_token(case: schemathesis.Case, gateway: GatewayProcess) -> None:
    response = case.call_and_validate(base_url=gateway.url, headers={"Authorization": "Bearer not-the-key"}, timeout=30)
    _record(case, response.status_code, "wrong-token")
    if case.operation.path not in PUBLIC and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401, response.text


def test_served_contract_is_the_generated_one(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/openapi.json", headers=gateway.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == build()
    assert httpx.get(f"{gateway.url}/openapi.json").status_code == 401


def test_the_fuzzing_reached_every_outcome() -> None:
    """Guard against a fuzz run that passes because it tested nothing."""
    if not OUTCOMES:
        pytest.skip("the schemathesis tests above were deselected; this only summarises their run")
    def reached(run: str, op: str, status: int, mode: str | None = None) -> bool:
        return any(k[:2] == (run, op) and k[3] == status and mode in (None, k[2]) for k in OUTCOMES)

    for op in ("POST /v1/chat/completions", "POST /v1/embeddings"):
        assert reached("authorized", op, 200, "positive"), op  # answered by the mock
        assert reached("authorized", op, 400, "negative"), op  # invalid bodies refused
        assert reached("authorized", op, 415, "negative"), op  # wrong content type refused
        assert reached("authorized", op, 405), op  # undeclared methods refused
        assert reached("no-auth", op, 401), op  # (removing a required header makes a case negative)
        assert reached("wrong-token", op, 401, "positive"), op
    assert reached("authorized", "GET /v1/models/{model_id}", 404, "positive")
    assert reached("authorized", "GET /v1/models/{model_id}", 200, "positive")
    total = sum(OUTCOMES.values())
    assert total >= 1000, total
    assert not [key for key in OUTCOMES if key[3] >= 500]
