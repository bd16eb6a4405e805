"""llmg.toml.example is valid and documents every option the config schema has."""

from __future__ import annotations

import re

import msgspec

from llmg.config import (
    AuthConfig,
    Config,
    DeploymentConfig,
    GroupConfig,
    LoggingConfig,
    ProviderConfig,
    RouterConfig,
    ServerConfig,
    parse,
)
from llmg.providers.registry import plan
from tests.gateway import ROOT

EXAMPLE = (ROOT / "llmg.toml.example").read_text()


def test_example_as_copied_is_the_mock_with_any_token() -> None:
    loaded = parse(EXAMPLE, "llmg.toml.example", {})
    assert loaded.config.server.auth.enabled and loaded.config.server.auth.keys == []
    assert set(plan(loaded, {}).registered) == {"mock"}
    assert not loaded.warnings  # nothing refers to an unset variable
    with_key = parse(EXAMPLE, "llmg.toml.example", {"OPENAI_API_KEY": "sk-x"})
    assert set(plan(with_key, {}).registered) == {"mock", "openai"}


# `#setting = ...` (a `#` directly followed by TOML) marks an optional setting: uncommented, the
# example must still be valid and register what it describes.
OPTIONAL = re.compile(r"^#(?=[^\s#])", re.M)


def test_example_optional_settings_are_valid() -> None:
    uncommented = OPTIONAL.sub("", EXAMPLE)
    env = {"OPENAI_API_KEY": "sk-x", "LLMG_API_KEY": "k"}
    loaded = parse(uncommented, "llmg.toml.example", env)
    assert loaded.config.server.auth.keys[0] == "k"
    assert {"openai", "mock", "ollama", "mylab"} <= set(plan(loaded, env).registered)


def test_example_documents_every_option() -> None:
    for struct, section in ((ServerConfig, "[server]"), (AuthConfig, "[server.auth]"),
                            (LoggingConfig, "[logging]"), (ProviderConfig, "[providers.openai]")):
        body = EXAMPLE.split(section, 1)[1]
        for field in msgspec.structs.fields(struct):
            if field.name == "auth":
                continue
            # `#name = ...` counts: an optional setting the example leaves off (see OPTIONAL).
            assert re.search(rf"^#?{field.name} = ", body, re.M), f"{section} {field.name} is not documented"
    for field in msgspec.structs.fields(Config):
        assert f"[{field.name}" in EXAMPLE, f"[{field.name}] is not documented"


def test_example_documents_routing() -> None:
    router = EXAMPLE.split("[router]", 1)[1]
    for field in msgspec.structs.fields(RouterConfig):
        assert re.search(rf"^{field.name} = ", router, re.M), f"[router] {field.name} is not documented"
    assert parse(EXAMPLE, "x", {}).config.router == RouterConfig()
    groups = EXAMPLE.split("# [groups.", 1)[1]
    for struct in (GroupConfig, DeploymentConfig):
        for field in msgspec.structs.fields(struct):
            assert re.search(rf"^#\s+{field.name} = ", groups, re.M), f"{struct.__name__}.{field.name} is not documented"
    # The commented group is a valid config once uncommented.
    head, _, block = groups.split("\n#\n", 1)[0].partition("\n")
    text = f"[groups.{head}\n" + "\n".join(line[2:] for line in block.splitlines())
    loaded = parse("[groups.smart-chat]\ndeployments = [{ model = \"openai/gpt-4o\" }]\n" + text, "x", {})
    assert [d.model for d in loaded.config.groups["fast-chat"].deployments][0] == "openai/gpt-4o-mini"


def test_example_defaults_match_the_code() -> None:
    server = parse(EXAMPLE, "x", {}).config.server
    default = ServerConfig()
    for field in msgspec.structs.fields(ServerConfig):
        if field.name != "auth":
            assert getattr(server, field.name) == getattr(default, field.name), field.name
