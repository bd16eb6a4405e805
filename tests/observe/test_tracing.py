"""Traces with the SDK's in-memory exporter: a server span per request with the client's trace id,
a client child per upstream attempt whose traceparent reached the upstream, GenAI attributes; and a
planted-secret scan over metrics, access lines and spans."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from llmg.app import create_app  # noqa: E402
from llmg.config import parse  # noqa: E402
from tests.conftest import FAKE_OPENAI_KEY  # noqa: E402
from tests.observe.helpers import GATEWAY_KEY, SCRAPE_KEY, config  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
AUTH = {"Authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"}
EXTRA = '[tracing]\nenabled = true\n[server]\naccess_log = true\n[logging]\nformat = "json"'


@pytest.fixture
def traced(openai_fake):
    app = create_app(parse(config(openai_fake.url, EXTRA), "t", {}))
    exporter = InMemorySpanExporter()
    app.ctx.observer.tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    return app, exporter


def test_a_span_per_request_and_a_child_per_attempt(traced, openai_fake) -> None:
    app, exporter = traced
    seen = len(openai_fake.requests)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    _, r = app.test_client.post("/v1/chat/completions", json=body, headers={**AUTH, "traceparent": TRACEPARENT})
    assert r.status == 200
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    client = [s for s in spans if s.kind.name == "CLIENT"]
    assert len(server) == 1 and len(client) == 1
    root, attempt = server[0], client[0]
    assert format(root.context.trace_id, "032x") == TRACE_ID  # the client's trace is continued
    assert attempt.parent.span_id == root.context.span_id
    assert root.attributes["gen_ai.system"] == "openai"
    assert root.attributes["gen_ai.request.model"] == "openai/gpt-4o-mini"
    assert root.attributes["gen_ai.usage.input_tokens"] == 5
    assert root.attributes["gen_ai.usage.output_tokens"] == 2
    # propagated upstream: the fake saw the attempt's span as parent, in the same trace
    upstream = openai_fake.requests[seen:][-1].headers["traceparent"]
    assert upstream.split("-")[1] == TRACE_ID
    assert upstream.split("-")[2] == format(attempt.context.span_id, "016x")


def test_streamed_request_span_ends_with_the_stream(traced) -> None:
    app, exporter = traced
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    _, r = app.test_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status == 200
    root = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"][0]
    assert root.attributes["gen_ai.usage.output_tokens"] == 2


def test_failed_upstream_marks_the_span(traced) -> None:
    app, exporter = traced
    body = {"model": "openai/error-500", "messages": [{"role": "user", "content": "hi"}]}
    _, r = app.test_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status >= 500
    root = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"][0]
    assert root.status.status_code.name == "ERROR" and root.attributes["error.type"]


def test_no_secret_in_metrics_logs_or_spans(openai_fake, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(parse(config(openai_fake.url, EXTRA + '\n[keys.team]\nkey = "named-secret-key-0000"'), "t", {}))
    exporter = InMemorySpanExporter()
    app.ctx.observer.tracer.provider.add_span_processor(SimpleSpanProcessor(exporter))
    for auth in (GATEWAY_KEY, "named-secret-key-0000", "wrong-secret-key-9999"):
        for model in ("openai/gpt-4o-mini", "openai/error-401", "openai/error-500"):
            for stream in (False, True):
                body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
                app.test_client.post("/v1/chat/completions", json=body,
                                     headers={"Authorization": f"Bearer {auth}", "content-type": "application/json"})
    _, r = app.test_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_KEY}"})
    texts = [r.text]
    texts += [record.getMessage() for record in caplog.records]
    captured = capfd.readouterr()
    texts += [captured.err, captured.out]
    assert captured.err.count('"latency_ms"') >= 18  # the access lines were there to scan
    texts += [span.to_json() for span in exporter.get_finished_spans()]
    assert len(exporter.get_finished_spans()) >= 18
    assert 'key="team"' in r.text  # the key's name is a label...
    for secret in (GATEWAY_KEY, "named-secret-key-0000", "wrong-secret-key-9999", SCRAPE_KEY, FAKE_OPENAI_KEY):
        assert not any(secret in text for text in texts), secret  # ...never the key
