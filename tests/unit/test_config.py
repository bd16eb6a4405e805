"""llmg.toml: schema validation with key paths, ${VAR} expansion, discovery order."""

from __future__ import annotations

import pytest

from llmg.config import ConfigError, discover, load, parse


def test_builtin_default_enables_only_the_mock() -> None:
    loaded = load(None, environ={})
    assert loaded.source == "built-in default"
    assert list(loaded.config.providers) == ["mock"]
    assert loaded.config.server.host == "127.0.0.1"
    assert loaded.config.server.port == 8080


def test_expands_every_string_value() -> None:
    text = """
[server]
host = "${HOST}"
[server.auth]
keys = ["${K1}", "static", "pre-${K2}-post"]
[providers.openai]
api_key = "${OPENAI_KEY}"
base_url = "${BASE}/v1"
headers = { "x-team" = "${TEAM}" }
[aliases]
fast = "${ALIAS_TARGET}"
"""
    env = {"HOST": "0.0.0.0", "K1": "one", "K2": "two", "OPENAI_KEY": "sk-1", "BASE": "http://x",
           "TEAM": "blue", "ALIAS_TARGET": "openai/gpt-4o"}
    config = parse(text, "t", env).config
    assert config.server.host == "0.0.0.0"
    assert config.server.auth.keys == ["one", "static", "pre-two-post"]
    provider = config.providers["openai"]
    assert (provider.api_key, provider.base_url, provider.headers) == ("sk-1", "http://x/v1", {"x-team": "blue"})
    assert config.aliases == {"fast": "openai/gpt-4o"}


def test_unset_variable_is_left_as_is_and_warned_by_name_only() -> None:
    loaded = parse('[providers.openai]\napi_key = "${NOT_SET_ANYWHERE}"\n', "t", {})
    assert loaded.config.providers["openai"].api_key == "${NOT_SET_ANYWHERE}"
    assert loaded.warnings == [
        "providers.openai.api_key: environment variable NOT_SET_ANYWHERE is not set; the value is used as written"
    ]


def test_default_syntax_and_several_variables() -> None:
    loaded = parse('[server]\nhost = "${H:-127.0.0.2}"\n[providers.openai]\napi_key = "${A}${B}"\n', "t", {"A": "x", "B": "y"})
    assert loaded.config.server.host == "127.0.0.2"
    assert loaded.config.providers["openai"].api_key == "xy"
    assert loaded.warnings == []


def test_warning_never_contains_a_value() -> None:
    loaded = parse('[providers.openai]\napi_key = "sk-secret-${MISSING}"\n', "t", {})
    assert all("sk-secret" not in w for w in loaded.warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 8080\n", "t: server: Object contains unknown field `prot`"),
        ("[server]\nport = \"80\"\n", "t: server.port: Expected `int`, got `str`"),
        ("[server]\nport = 70000\n", "t: server.port: Expected `int` <= 65535"),
        ("[server.auth]\nkeys = \"k\"\n", "t: server.auth.keys: Expected `array`, got `str`"),
        ("[providers.openai]\napi_kye = \"x\"\n", "t: providers.openai: Object contains unknown field `api_kye`"),
        ("[providers.openai]\ntimeout = -1\n", "t: providers.openai.timeout: Expected `float` > 0.0"),
        ("[rate_limit]\nenabled = true\n", "t: Object contains unknown field `rate_limit`"),
        ("[aliases]\nfast = \"gpt-4o\"\n", "t: aliases.fast: target 'gpt-4o' must be 'provider/model'"),
        ("[providers.openai]\nbase_url = \"api.openai.com\"\n", "t: providers.openai.base_url: must start with http:// or https://"),
        ("[server\n", "t: not valid TOML"),
    ],
)
def test_invalid_config_is_rejected_with_path_and_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t", {})
    assert str(caught.value).startswith(message)


def test_discovery_order(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert discover(None, {}) is None
    (tmp_path / "llmg.toml").write_text("")
    assert str(discover(None, {})) == "llmg.toml"
    assert str(discover(None, {"LLMG_CONFIG": "/etc/llmg.toml"})) == "/etc/llmg.toml"
    assert str(discover("/explicit.toml", {"LLMG_CONFIG": "/etc/llmg.toml"})) == "/explicit.toml"


def test_missing_explicit_file_is_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load(str(tmp_path / "nope.toml"), {})
