"""Upstream faults: whatever the provider does, the client gets a clear answer within the
configured bound, and the worker's fds, tasks and upstream connections return to their baseline."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.faulty_upstream import FaultyUpstream
from tests.faults.conftest import UPSTREAM_TIMEOUT, fault_config
from tests.faults.helpers import DONE, assert_envelope, assert_error_event_then_done, chat
from tests.gateway import GatewayProcess

# The configured bound plus room for a loaded, shared machine.
BOUND = UPSTREAM_TIMEOUT + 6.0


@pytest.fixture(scope="module", params=["h1", "hybrid"])
def fault_gateway(request, faulty: FaultyUpstream) -> Iterator[GatewayProcess]:
    """Every upstream fault on the default transport (h1, issue 19) and on the previous one."""
    gateway = GatewayProcess(fault_config(faulty.url, transport=f'"{request.param}"')).start()
    yield gateway
    gateway.stop()


def test_refused_connection_is_a_502(probe, fault_gateway) -> None:
    base = probe.read()
    for stream in (False, True):
        out = chat(fault_gateway, "dead/gpt", stream=stream)
        assert_envelope(out, 502, "upstream_unavailable")
        assert out.elapsed < BOUND
    probe.assert_back(base)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_accepts_and_never_answers_is_a_504(probe, fault_gateway, stream) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/silent", stream=stream)
    assert_envelope(out, 504, "upstream_timeout")
    assert UPSTREAM_TIMEOUT * 0.8 < out.elapsed < BOUND
    probe.assert_back(base)


def test_headers_then_no_body_plain_is_a_504(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/headers-only")
    assert_envelope(out, 504, "upstream_timeout")
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_headers_then_no_events_stream_ends_with_error_event(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/headers-only", stream=True)
    assert_error_event_then_done(out, "upstream_timeout")
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_drip_one_byte_at_a_time_plain_is_cut_at_the_timeout(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/drip")
    assert_envelope(out, 504, "upstream_timeout")
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_drip_stream_headers_is_bounded(probe, fault_gateway) -> None:
    """The status line and headers arrive one byte at a time: each byte is within the idle
    timeout, so only a bound on the whole wait for the headers ends it."""
    base = probe.read()
    out = chat(fault_gateway, "faulty/drip", stream=True)
    assert_envelope(out, 504, "upstream_timeout")
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_drop_mid_body_is_a_502(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/drop-body")
    assert_envelope(out, 502)
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_drop_mid_stream_ends_with_error_event(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/drop-stream", stream=True)
    error = assert_error_event_then_done(out)
    assert error["type"] == "provider_error"
    assert len(out.events) == 4  # the two events that made it, the error, [DONE]
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_invalid_json_is_a_502(probe, fault_gateway) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/invalid-json")
    assert_envelope(out, 502, "upstream_bad_response")
    probe.assert_back(base)


@pytest.mark.parametrize("stream", [False, True], ids=["html-for-plain", "json-for-stream"])
def test_wrong_content_type_is_a_502(probe, fault_gateway, stream) -> None:
    base = probe.read()
    out = chat(fault_gateway, "faulty/wrong-type", stream=stream)
    assert_envelope(out, 502, "upstream_bad_response")
    probe.assert_back(base)


def test_malformed_sse_line_still_ends_with_done(probe, fault_gateway) -> None:
    """OpenAI-compatible streams are relayed byte for byte (no parse on the hot path): the bad
    line reaches the client as sent, and the stream still ends properly with [DONE]."""
    base = probe.read()
    out = chat(fault_gateway, "faulty/bad-sse", stream=True)
    assert out.status == 200
    assert out.events[-1] == DONE
    assert "data: {not json" in out.events
    assert out.elapsed < BOUND
    probe.assert_back(base)


def test_storm_of_5xx_every_client_gets_a_502(probe, fault_gateway, faulty) -> None:
    base = probe.read()
    models = ["faulty/error-500", "faulty/error-503"] * 100
    with ThreadPoolExecutor(32) as pool:
        outs = list(pool.map(lambda m: chat(fault_gateway, m), models))
    for out in outs:
        error = assert_envelope(out, 502)
        assert error["type"] == "provider_error"
        assert out.elapsed < BOUND
    probe.assert_back(base)
