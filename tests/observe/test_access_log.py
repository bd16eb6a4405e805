"""The json access line of a real `llmg serve --workers 2`, format and level from the environment:
every stderr line is JSON, and there is exactly one access line per request, streams included."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import FAKE_OPENAI_KEY
from tests.observe.helpers import GATEWAY_KEY

pytestmark = pytest.mark.e2e


def test_one_json_line_per_request(start_gateway, openai_fake) -> None:
    gateway = start_gateway(f"""
[server]
access_log = true
[server.auth]
keys = ["{GATEWAY_KEY}"]
[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{openai_fake.url}/v1"
""", env={"LLMG_LOG_FORMAT": "json", "LLMG_LOG_LEVEL": "info"}, workers=2)
    sent = []
    for i in range(6):
        with httpx.Client(base_url=gateway.url, timeout=30) as client:  # fresh connections: both workers
            body = {"model": "openai/gpt-4o-mini" if i != 5 else "openai/error-500",
                    "messages": [{"role": "user", "content": "secret prompt text"}], "stream": i % 2 == 1}  # 1, 3 stream; 5 fails first
            r = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
            sent.append(r.headers["x-request-id"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in gateway.output().splitlines() if line.strip()]
        access = [line for line in lines if "latency_ms" in line and line["path"] == "/v1/chat/completions"]
        if len(access) >= len(sent):
            break
        time.sleep(0.2)
    assert sorted(line["request_id"] for line in access) == sorted(sent)  # exactly one each
    assert len({line["pid"] for line in lines if "pid" in line}) >= 1
    streamed = [line for line in access if line["ttft_ms"] is not None]
    assert len(streamed) == 2 and all(line["completion_tokens"] == 2 for line in streamed)
    assert [line["status"] for line in access if line["error_type"]] == [502]
    out = gateway.output()
    assert "secret prompt text" not in out and GATEWAY_KEY not in out and FAKE_OPENAI_KEY not in out
