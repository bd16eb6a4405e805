"""deploy/runtime_requirements.py: the runtime subset of requirements.lock that the Dockerfile and the
wheel test install (the installed-and-serving proof is tests/deploy/test_wheel.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy import runtime_requirements as rr

from .recipes import ROOT

LOCK = """\
#
# header written by pip-compile
#
alpha==1.0 \\
    --hash=sha256:aaaa
    # via llmg (pyproject.toml)
beta==2.0 ; sys_platform != "win32" \\
    --hash=sha256:bbbb \\
    --hash=sha256:bbb2
    # via
    #   alpha
    #   pytest
pytest==8.0 \\
    --hash=sha256:cccc
    # via llmg (pyproject.toml)
pluggy==1.5 \\
    --hash=sha256:dddd
    # via pytest
Gamma_Lib==3.0 \\
    --hash=sha256:eeee
    # via beta

# The following packages are considered to be unsafe in a requirements file:
setuptools==70.0 \\
    --hash=sha256:ffff
    # via gamma-lib
"""
PYPROJECT = '[project]\nname = "llmg"\ndependencies = ["Alpha>=1", "missing-is-fine; python_version < \'3\'"]\n'


def test_selects_the_runtime_closure_with_its_hashes_and_markers() -> None:
    text = rr.select(LOCK, PYPROJECT.replace(', "missing-is-fine; python_version < \'3\'"', ""))
    pins = [line.split("==")[0] for line in text.splitlines() if "==" in line]
    # alpha -> beta (multi-line via) -> Gamma_Lib (name normalised) -> setuptools; not pytest/pluggy.
    assert pins == ["alpha", "beta", "Gamma_Lib", "setuptools"]
    assert 'beta==2.0 ; sys_platform != "win32" \\\n    --hash=sha256:bbbb \\\n    --hash=sha256:bbb2' in text
    assert "sha256:cccc" not in text and "sha256:dddd" not in text


def test_a_root_missing_from_the_lock_is_an_error() -> None:
    with pytest.raises(SystemExit, match="missing-is-fine"):
        rr.select(LOCK, PYPROJECT)


def test_only_prints_just_the_named_pins() -> None:
    text = rr.select(LOCK, PYPROJECT, only=["setuptools"])
    assert [line.split("==")[0] for line in text.splitlines() if "==" in line] == ["setuptools"]


def test_the_real_lock_gives_every_runtime_dependency_and_no_test_tool() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "deploy/runtime_requirements.py")],
                            capture_output=True, text=True, check=True, cwd="/")
    pins = {rr.normalise(line.split("==")[0]) for line in result.stdout.splitlines() if "==" in line}
    assert rr.runtime_roots((ROOT / "pyproject.toml").read_text()) <= pins
    # The test and bench tools stay out of the image.
    assert not pins & {"pytest", "schemathesis", "matplotlib", "py-spy", "build", "openai"}  # botocore is a runtime dependency (Bedrock credentials)
    # Every selected line is the lock's own (exact versions, same hashes).
    lock_lines = set((ROOT / "requirements.lock").read_text().splitlines())
    assert all(line in lock_lines for line in result.stdout.splitlines() if not line.startswith("# The runtime")
               and not line.startswith("# llmg's"))
