"""One version source, the licence pyproject declares, and a README a newcomer can follow alone."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import llmg
from tests.gateway import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_one_version_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert metadata.version("llmg") == llmg.__version__


def test_no_dependency_for_pythons_that_requires_python_excludes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert not [d for d in project["dependencies"] if "tomli" in d or "python_version" in d]
    for path in (ROOT / "llmg").rglob("*.py"):
        assert "version_info" not in path.read_text(), f"{path}: a branch for an unsupported Python"


def test_licence_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_contributing_explains_adding_a_provider() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for step in ("catalogue.toml", "ADAPTER", "tests/fakes/", "golden"):
        assert step in text
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def test_readme_stands_alone() -> None:
    # The reader has no issue tracker and no authentication page: no references to them.
    assert not re.search(r"\bissue \d+", README)
    assert "authentication page" not in README
    assert "./dev serve --port" in README
    assert "export OPENAI_API_KEY=" in README and '"model": "openai/gpt-4o-mini"' in README
    assert "`mock-1`" in README  # which model the answer carries, and why


def test_provider_modules_hold_no_cli_commands() -> None:
    from llmg.providers import catalogue, github_copilot

    assert not hasattr(catalogue, "command") and not hasattr(github_copilot, "command")
