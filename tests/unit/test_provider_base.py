"""Shared adapter plumbing: a translated provider's malformed 2xx answer is a 502, not a traceback."""

from __future__ import annotations

import pytest

from llmg.config import parse
from llmg.errors import ProviderError
from llmg.providers.registry import instantiate, plan


@pytest.fixture
def provider():
    settings = plan(parse("[providers.mock]\n", "t", {}), {}).registered
    return instantiate(settings, transport=None)["mock"]  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b"", b"[1, 2]", b'"text"', b"{truncated"])
def test_answer_json_refuses_anything_but_an_object(provider, body: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.answer_json(body)
    assert caught.value.status == 502
    assert caught.value.code == "upstream_bad_response"


def test_answer_json_returns_the_object(provider) -> None:
    assert provider.answer_json(b'{"id": "x", "n": 1}') == {"id": "x", "n": 1}
