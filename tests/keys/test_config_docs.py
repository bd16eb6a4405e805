"""llmg.toml.example documents every [keys.NAME] and [limits] option, with the code's defaults."""

from __future__ import annotations

import re

import msgspec

from llmg.config import KeyConfig, LimitsConfig, parse
from tests.gateway import ROOT

_RAW = (ROOT / "llmg.toml.example").read_text()
# The [keys.team-a] table is commented out in the example (as copied, an unset TEAM_A_KEY would lock
# every client out): uncomment its `#setting` lines to check what it documents.
_before, _rest = _RAW.split("#[keys.team-a]", 1)
_block, _after = _rest.split("[limits]", 1)
EXAMPLE = _before + "[keys.team-a]" + re.sub(r"^#(?=[a-z_]+ = )", "", _block, flags=re.M) + "[limits]" + _after


def test_every_key_and_limits_option_is_documented() -> None:
    keys = EXAMPLE.split("[keys.team-a]", 1)[1].split("[limits]", 1)[0]
    for field in msgspec.structs.fields(KeyConfig):
        assert re.search(rf"^(# )?{field.name} = ", keys, re.M), f"[keys.NAME] {field.name} is not documented"
    limits = EXAMPLE.split("[limits]", 1)[1]
    for field in msgspec.structs.fields(LimitsConfig):
        assert re.search(rf"^{field.name} = ", limits, re.M), f"[limits] {field.name} is not documented"


def test_example_limits_are_the_defaults_and_the_key_parses() -> None:
    config = parse(EXAMPLE, "x", {"TEAM_A_KEY": "sk-team-a"}).config
    assert config.limits == LimitsConfig()
    team = config.keys["team-a"]
    assert (team.rpm, team.tpm, team.max_parallel, team.models) == (60, 200000, 8, ["openai/*", "fast"])
    assert team.expires is not None and team.expires.year == 2027


def test_readme_keys_and_limits_config_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Keys and limits", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse(block, "README", {"TEAM_A_KEY": "sk-a", "LLMG_ADMIN_KEY": "sk-admin"}).config
    assert set(config.keys) == {"team-a", "batch"} and config.limits.backend == "redis"


def test_check_config_names_keys_never_their_values(tmp_path) -> None:
    import subprocess
    import sys

    config = tmp_path / "llmg.toml"
    config.write_text('[providers.mock]\n[keys.team-a]\nkey = "sk-visible-nowhere"\nrpm = 5\n'
                      '[limits]\nbackend = "redis"\nredis_url = "redis://:hunter2-pass@127.0.0.1:6379/0"\n')
    result = subprocess.run([sys.executable, "-m", "llmg", "check-config", "--config", str(config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "named keys: team-a (limits backend: redis, on error: open)" in result.stdout
    assert "sk-visible-nowhere" not in result.stdout + result.stderr
    assert "hunter2-pass" not in result.stdout + result.stderr
