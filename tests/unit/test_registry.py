"""Provider key resolution: config api_key -> conventional env var -> provider skipped."""

from __future__ import annotations

import pytest

from llmg.config import ConfigError, parse
from llmg.providers.registry import plan


def resolve(text: str, env: dict[str, str]):
    return plan(parse(text, "t", env), env)


def test_config_key_beats_env_var() -> None:
    result = resolve('[providers.openai]\napi_key = "sk-config"\n', {"OPENAI_API_KEY": "sk-env"})
    assert result.registered["openai"].api_key == "sk-config"


def test_env_var_used_when_config_has_no_key() -> None:
    result = resolve("[providers.openai]\n", {"OPENAI_API_KEY": "sk-env"})
    assert result.registered["openai"].api_key == "sk-env"


def test_env_var_alone_registers_a_keyed_provider() -> None:
    result = resolve("", {"GROQ_API_KEY": "gsk-1"})
    assert result.registered["groq"].api_key == "gsk-1"


def test_no_key_anywhere_skips_with_reason() -> None:
    result = resolve("[providers.openai]\n", {})
    assert "openai" not in result.registered
    assert result.skipped["openai"] == "no API key; set OPENAI_API_KEY or providers.openai.api_key"


def test_key_expanded_to_empty_is_skipped_not_registered() -> None:
    result = resolve('[providers.openai]\napi_key = "${EMPTY}"\n', {"EMPTY": ""})
    assert "openai" not in result.registered
    assert "empty" in result.skipped["openai"]


def test_unset_variable_key_is_used_as_written_with_a_warning() -> None:
    result = resolve('[providers.openai]\napi_key = "${NOPE}"\n', {})
    assert result.registered["openai"].api_key == "${NOPE}"
    assert any("unset environment variable" in w for w in result.warnings)


def test_disabled_provider_is_skipped_even_with_a_key() -> None:
    result = resolve("[providers.openai]\nenabled = false\n", {"OPENAI_API_KEY": "sk-env"})
    assert result.skipped["openai"] == "disabled in config (enabled = false)"


def test_keyless_provider_needs_a_section() -> None:
    assert "vllm" in resolve("", {}).skipped
    result = resolve('[providers.vllm]\nbase_url = "http://10.0.0.5:8000/v1"\n', {})
    assert result.registered["vllm"].base_url == "http://10.0.0.5:8000/v1"
    assert result.registered["vllm"].api_key is None


def test_mock_only_with_a_section() -> None:
    assert "mock" not in resolve("", {}).registered
    assert "mock" in resolve("[providers.mock]\n", {}).registered


def test_custom_openai_compatible_provider() -> None:
    result = resolve('[providers.mylab]\nbase_url = "http://10.1.1.1:9000/v1"\napi_key = "k"\n', {})
    settings = result.registered["mylab"]
    assert (settings.base_url, settings.api_key, settings.spec.adapter) == ("http://10.1.1.1:9000/v1", "k", "openai_compat")


def test_unknown_provider_without_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="providers.nosuch: unknown provider"):
        resolve("[providers.nosuch]\n", {})


def test_headers_and_timeouts_resolved() -> None:
    text = '[server]\nupstream_timeout = 30\n[providers.openai]\napi_key = "k"\ntimeout = 5\nheaders = { "OpenAI-Organization" = "org-1" }\n'
    settings = resolve(text, {}).registered["openai"]
    assert settings.timeout.total == 5
    assert settings.headers["openai-organization"] == "org-1"


def test_optional_catalogue_header_only_when_its_variable_is_set() -> None:
    without = resolve("", {"OPENROUTER_API_KEY": "k"}).registered["openrouter"].headers
    assert "x-title" not in without
    with_title = resolve("", {"OPENROUTER_API_KEY": "k", "OPENROUTER_APP_NAME": "MyApp"}).registered["openrouter"].headers
    assert with_title["x-title"] == "MyApp"


def test_adapter_settings_are_checked_at_plan_time() -> None:
    # An adapter's own checks (here Anthropic's params) fail as a ConfigError naming the key,
    # before any worker starts, and in check-config too.
    with pytest.raises(ConfigError, match=r"^t: providers.anthropic.params.default_max_tokens"):
        resolve('[providers.anthropic]\napi_key = "k"\nparams = { default_max_tokens = -3 }\n', {})
