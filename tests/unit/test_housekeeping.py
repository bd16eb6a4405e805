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


def test_an_in_process_app_prints_no_deprecation_warning() -> None:
    """Each test run printed ~30 DeprecationWarnings (sanic-testing's listener, websockets.legacy)."""
    import warnings

    from llmg.app import create_app
    from llmg.config import parse

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app(parse("[providers.mock]\n", "test", {}))
        _, response = app.test_client.get("/health")
    assert response.status == 200
    # "always" here overrides pytest's own filters (which handle websockets.legacy at import): what
    # is checked is Sanic's filter, which Sanic puts in front whenever it builds an app.
    assert [str(w.message) for w in caught if "DEPRECATION" in str(w.message)] == []
