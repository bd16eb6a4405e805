"""provider/model routing: split at the first '/', aliases first, precise errors."""

from __future__ import annotations

import pytest

from llmg.errors import InvalidRequest, UnknownProvider
from llmg.routing import ModelResolver


class FakeProvider:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.fixture
def router() -> ModelResolver:
    providers = {"openai": FakeProvider("openai"), "openrouter": FakeProvider("openrouter")}
    return ModelResolver(providers, {"fast": "openai/gpt-4o-mini", "loop": "fast"})  # type: ignore[arg-type]


def test_split_at_first_slash(router: ModelResolver) -> None:
    provider, model, full = router.resolve("openrouter/openai/gpt-4o")
    assert (provider.name, model, full) == ("openrouter", "openai/gpt-4o", "openrouter/openai/gpt-4o")


def test_alias_applied_first_one_level(router: ModelResolver) -> None:
    provider, model, _ = router.resolve("fast")
    assert (provider.name, model) == ("openai", "gpt-4o-mini")
    with pytest.raises(InvalidRequest, match="provider/model"):
        router.resolve("loop")  # aliases do not chain


def test_no_prefix_is_400(router: ModelResolver) -> None:
    with pytest.raises(InvalidRequest) as caught:
        router.resolve("gpt-4o")
    assert (caught.value.status, caught.value.type, caught.value.param) == (400, "invalid_request_error", "model")


@pytest.mark.parametrize("model", ["/gpt-4o", "openai/"])
def test_empty_parts_are_400(router: ModelResolver, model: str) -> None:
    with pytest.raises(InvalidRequest, match="cannot be empty"):
        router.resolve(model)


def test_unknown_provider_is_404(router: ModelResolver) -> None:
    with pytest.raises(UnknownProvider) as caught:
        router.resolve("xyz/model")
    assert (caught.value.status, caught.value.message) == (404, "Unknown provider: xyz")


@pytest.mark.parametrize("model", ["openai/../admin", "openai/a?b", "openai/a#b", "openai/a b", "openai/a\r\nX: y", "openai/é", "openai/a%2F"])
def test_unsafe_model_ids_are_refused(router: ModelResolver, model: str) -> None:
    with pytest.raises(InvalidRequest, match="Invalid model name"):
        router.resolve(model)


@pytest.mark.parametrize("model", ["openai/gpt-4o:free", "openai/anthropic.claude-3-5-sonnet-20240620-v1:0",
                                   "openai/accounts/fireworks/models/llama-v3p1-8b-instruct", "openai/llama3:8b"])
def test_real_world_model_ids_pass(router: ModelResolver, model: str) -> None:
    assert router.resolve(model)[1] == model.split("/", 1)[1]
