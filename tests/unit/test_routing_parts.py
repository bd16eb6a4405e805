"""The routing pieces on their own: breaker state machine, strategies, failure classes, config checks."""

from __future__ import annotations

import random

import pytest

from llmg.config import ConfigError, parse
from llmg.errors import GatewayError, UpstreamTimeout, UpstreamUnavailable, from_upstream
from llmg.providers.registry import plan
from llmg.routing.classify import classify, retry_after
from llmg.routing.group import Deployment
from llmg.routing.state import MemoryState
from llmg.routing.strategies import LeastBusy, RoundRobin, Weighted


def dep(i: int, weight: float = 1.0, size: int = 3) -> Deployment:
    return Deployment(f"g[{i}]", f"d{i}", None, "m", "p/m", weight, i, size, None, None, None, None)  # type: ignore[arg-type]


def test_breaker_opens_after_failures_within_the_window() -> None:
    state = MemoryState(failures=3, window_s=10, cooldown_s=5)
    for t in (0.0, 1.0):
        state.begin("k", t)
        state.failure("k", t)
        state.finish("k")
    assert state.breaker("k", 2.0) == "closed"
    state.failure("k", 20.0)  # the first two are outside the window now
    assert state.breaker("k", 20.0) == "closed"
    state.failure("k", 21.0)
    state.failure("k", 22.0)
    assert state.breaker("k", 22.0) == "open" and not state.available("k", 22.0, None)
    assert state.breaker("k", 27.1) == "half-open" and state.available("k", 27.1, None)
    state.begin("k", 27.1)  # the probe
    assert not state.available("k", 27.2, None)  # only one probe
    state.failure("k", 27.5)
    assert state.breaker("k", 27.5) == "open" and state.breaker("k", 32.6) == "half-open"
    state.begin("k", 32.6)
    state.success("k", 0.1)
    assert state.breaker("k", 32.7) == "closed" and state.available("k", 32.7, None)


def test_a_neutral_probe_closes_and_in_flight_caps() -> None:
    state = MemoryState(failures=1, window_s=10, cooldown_s=1)
    state.failure("k", 0.0)
    state.begin("k", 1.5)
    state.neutral("k")  # a 400 from the upstream: it is reachable
    state.finish("k")
    assert state.breaker("k", 1.6) == "closed"
    state.failure("k", 1.7)
    state.begin("k", 3.0)  # the probe...
    state.neutral("k", answered=False)  # ...abandoned by its client: still half-open, probe again
    state.finish("k")
    assert state.breaker("k", 3.1) == "half-open" and state.available("k", 3.1, None)
    state.success("k", None)
    state.begin("k", 2.0)
    assert not state.available("k", 2.0, 1) and state.available("k", 2.0, 2)
    state.finish("k")
    assert state.in_flight("k") == 0


def test_latency_is_a_moving_average_and_retry_after_is_remembered() -> None:
    state = MemoryState(3, 10, 10)
    assert state.latency("k") is None
    state.success("k", 1.0)
    state.success("k", 0.0)
    assert state.latency("k") == pytest.approx(0.7)
    state.failure("k", 100.0, retry_after=7)
    assert state.rate_limited_until("k") == 107.0


def test_weighted_and_round_robin_and_least_busy() -> None:
    deps = [dep(0, 3.0), dep(1, 1.0), dep(2, 0.0001)]
    state = MemoryState(3, 10, 10)
    weighted = Weighted(random.Random(1))
    counts = [0, 0, 0]
    for _ in range(4000):
        counts[weighted.pick(deps, state).index] += 1
    assert 2800 <= counts[0] <= 3200 and 800 <= counts[1] <= 1200 and counts[2] < 10
    rr = RoundRobin()
    assert [rr.pick(deps, state).index for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    assert rr.pick([deps[0], deps[2]], state).index == 0  # the cursor skips to the next candidate
    assert rr.pick([deps[0], deps[2]], state).index == 2
    busy = LeastBusy()
    state.begin("g[0]", 0)
    state.begin("g[1]", 0)
    assert busy.pick(deps, state).index == 2


def test_failure_classes() -> None:
    assert classify(UpstreamUnavailable("x")) == "connect"
    assert classify(UpstreamTimeout("x")) == "timeout"
    limited = from_upstream(429, b'{"error":{"message":"slow down"}}', {"retry-after": "4"}, provider="p")
    assert classify(limited) == "429" and retry_after(limited) == 4.0
    assert classify(from_upstream(500, b"", provider="p")) == "5xx"
    assert classify(from_upstream(401, b"", provider="p")) is None
    assert classify(from_upstream(404, b'{"error":{"message":"no such model"}}', provider="p")) is None
    context = b'{"error":{"message":"too long","code":"context_length_exceeded"}}'
    assert classify(from_upstream(400, context, provider="p")) == "context_window"
    anthropic = b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 201000 tokens > 200000 maximum"}}'
    assert classify(from_upstream(400, anthropic, provider="p")) == "context_window"
    policy = b'{"error":{"message":"rejected","code":"content_policy_violation"}}'
    assert classify(from_upstream(400, policy, provider="p")) == "content_policy"
    assert classify(from_upstream(400, b'{"error":{"message":"bad temperature"}}', provider="p")) is None
    assert classify(GatewayError("not supported", status=501, type="not_supported")) is None


GROUP = """
[providers.mock]
[aliases]
fast = "mock/a"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[groups.fast]\ndeployments = [{ model = "mock/a" }]', "groups.fast: the name is also an alias"),
        ('[groups."a/b"]\ndeployments = [{ model = "mock/a" }]', "may not be empty or contain '/'"),
        ("[groups.g]\ndeployments = []", "groups.g.deployments"),
        ('[groups.g]\ndeployments = [{ model = "nomodel" }]', "deployments[0].model: 'nomodel' must be 'provider/model'"),
        ('[groups.g]\ndeployments = [{ model = "mock/a" }, { model = "mock/a" }]', "'mock/a' names two deployments"),
        ('[groups.g]\nfallbacks = ["g"]\ndeployments = [{ model = "mock/a" }]', "cannot fall back to itself"),
        ('[groups.g]\nfallbacks = ["nogroup"]\ndeployments = [{ model = "mock/a" }]', "'nogroup' is neither a group"),
        ('[groups.g]\nstrategy = "fastest"\ndeployments = [{ model = "mock/a" }]', "strategy"),
        ('[groups.g]\ndeployments = [{ model = "mock/a", wieght = 2 }]', "wieght"),
        ('[router]\nretry_on = ["400"]', "retry_on"),
        ('[groups.g]\ndeployments = [{ model = "mock/a", name = "bad\\nname" }]', "printable ASCII"),
    ],
)
def test_config_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse(GROUP + text, "t.toml", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[groups.g]\ndeployments = [{ model = "openai/gpt-4o" }]', "groups.g.deployments\\[0\\]: provider 'openai' is not registered: no API key"),
        ('[groups.g]\ndeployments = [{ model = "nope/x" }]', "provider 'nope' is not registered"),
        ('[groups.g]\nfallbacks = ["openai/gpt-4o"]\ndeployments = [{ model = "mock/a" }]', "fallback 'openai/gpt-4o'"),
        ('[groups.g]\ndeployments = [{ model = "mock/a..b" }]', "invalid model id"),
    ],
)
def test_plan_checks_providers_of_deployments(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(parse(GROUP + text, "t.toml", {}), {})


def test_a_deployment_with_its_own_key_registers_a_provider_that_has_none() -> None:
    loaded = parse(GROUP + '[groups.g]\ndeployments = [{ model = "openai/gpt-4o", api_key = "sk-own" }]', "t", {})
    result = plan(loaded, {})
    assert "openai" not in result.registered
    assert result.deployments["g[0]"].api_key == "sk-own"
    assert result.deployments["g[0]"].base_url == "https://api.openai.com/v1"


def test_the_readme_worked_config_is_valid() -> None:
    from tests.gateway import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Routing and failover", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    env = {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "sk-2", "GROQ_API_KEY": "gsk-3", "OPENAI_KEY_2": "sk-4"}
    loaded = parse(block, "README", env)
    result = plan(loaded, env)
    assert set(loaded.config.groups) == {"fast-chat", "smart-chat"}
    assert result.deployments["fast-chat[1]"].api_key == "sk-4"
    assert "smart-chat[1]" in result.deployments  # its own connect timeout -> its own adapter
    assert result.deployments["smart-chat[1]"].timeout.connect == 3
