"""Shared by the observe tests: a gateway config with metrics on, and the exposition parsed."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FAKE_OPENAI_KEY

GATEWAY_KEY = "gw-secret-key-observe-1234"
SCRAPE_KEY = "scrape-secret-5678"


def config(fake_url: str, extra: str = "") -> str:
    return f"""
[server.auth]
keys = ["{GATEWAY_KEY}"]

[providers.mock]

[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{fake_url}/v1"
timeout = 5

[metrics]
enabled = true
key = "{SCRAPE_KEY}"
{extra}
"""


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} from a Prometheus text exposition."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


def access_lines(capfd) -> list[dict]:
    """The json access lines written to stderr (fd 2) since the last call."""
    err = capfd.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{") and '"latency_ms"' in line]
