"""Client-side helpers for the fault suite: one request, its answer and how long it took."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import httpx

from tests.gateway import GatewayProcess

DONE = "data: [DONE]"
# Built once: httpx would otherwise load the CA bundle for every client, which dominates a storm.
_TLS = ssl.create_default_context()


@dataclass
class Outcome:
    status: int
    body: bytes
    elapsed: float

    def json(self):
        import json

        return json.loads(self.body)

    @property
    def events(self) -> list[str]:
        return [line for line in self.body.decode().split("\n") if line.startswith("data: ")]


def chat(gateway: GatewayProcess, model: str, stream: bool = False, timeout: float = 20.0) -> Outcome:
    """One chat request on a fresh connection (closed afterwards, so it cannot linger in a pool)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    start = time.monotonic()
    with httpx.Client(timeout=timeout, verify=_TLS, headers={**gateway.auth, "connection": "close"}) as client:
        resp = client.post(f"{gateway.url}/v1/chat/completions", json=body)
    return Outcome(resp.status_code, resp.content, time.monotonic() - start)


def assert_envelope(outcome: Outcome, status: int, code: str | None = None) -> dict:
    assert outcome.status == status, (outcome.status, outcome.body[:300])
    error = outcome.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_error_event_then_done(outcome: Outcome, code: str | None = None) -> dict:
    """A stream that failed after it started: an error event, then [DONE], then nothing."""
    import json

    assert outcome.status == 200, outcome.body[:300]
    events = outcome.events
    assert events and events[-1] == DONE, events[-3:]
    error = json.loads(events[-2][len("data: "):])["error"]
    if code is not None:
        assert error["code"] == code, error
    return error
