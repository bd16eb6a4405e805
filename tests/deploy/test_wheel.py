"""The packaged gateway works on its own: build the sdist and the wheel (``python -m build``), install
the wheel into a fresh virtualenv with only the runtime subset of requirements.lock (exactly what the
Dockerfile does), and serve real requests from a directory with no source tree anywhere on the path.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

import llmg
from tests.fakes.server import free_port

from .recipes import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TOKEN = "sk-wheel-test"
CONFIG = f'[server.auth]\nkeys = ["{TOKEN}"]\n\n[providers.mock]\n'


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _data_files() -> set[str]:
    """Every data file under llmg/ that the package must ship (catalogue, pricing, ...)."""
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "llmg").rglob("*.toml")}
    found.add("llmg/py.typed")
    assert "llmg/providers/catalogue.toml" in found
    return found


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built from a copy of the sources, so the worktree gets no build/ or egg-info.
    The wheel is built from the sdist (build's default), which also proves the sdist is complete."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "llmg", src / "llmg", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # --no-isolation: the build backend is the locked setuptools of this venv, no download.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(src)])
    (sdist,) = (work / "dist").glob("llmg-*.tar.gz")
    (wheel,) = (work / "dist").glob("llmg-*.whl")
    return sdist, wheel


def test_wheel_and_sdist_carry_the_package_data(dists: tuple[Path, Path]) -> None:
    sdist, wheel = dists
    assert wheel.name.startswith(f"llmg-{llmg.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "llmg = llmg.cli:main" in archive.read(entry_points).decode()
    assert _data_files() <= names, _data_files() - names
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)
    with tarfile.open(sdist) as archive:
        top = f"llmg-{llmg.__version__}/"
        in_sdist = {n.removeprefix(top) for n in archive.getnames()}
    assert _data_files() <= in_sdist, _data_files() - in_sdist


@pytest.fixture(scope="module")
def venv(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the runtime lock subset and the wheel installed, nothing else."""
    _, wheel = dists
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    lock = root / "runtime.lock"
    lock.write_text(_run([sys.executable, str(ROOT / "deploy/runtime_requirements.py")]).stdout)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "--require-hashes", "-r", str(lock)], env=_clean_env())
    _run([*pip, "--no-deps", str(wheel)], env=_clean_env())
    # The runtime subset is complete: every installed distribution has what it requires.
    _run([str(venv / "bin/python"), "-m", "pip", "check"], env=_clean_env())
    return venv


def _clean_env() -> dict[str, str]:
    """The environment without anything that could put the source tree (or our venv) on the path."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "LLMG_CONFIG") and not k.endswith("_API_KEY")}


def test_installed_llmg_is_the_venvs_own_and_has_its_catalogue(venv: Path, tmp_path: Path) -> None:
    code = ("import llmg, llmg.providers.catalogue as c; print(llmg.__file__); print(c.CATALOGUE_PATH); "
            "print(c.CATALOGUE_PATH.is_file())")
    out = _run([str(venv / "bin/python"), "-c", code], cwd=tmp_path, env=_clean_env()).stdout.split()
    site = (venv / "lib").resolve()
    assert Path(out[0]).resolve().is_relative_to(site), out[0]
    assert Path(out[1]).resolve().is_relative_to(site) and out[2] == "True"
    assert not Path(out[0]).resolve().is_relative_to(ROOT)

    version = _run([str(venv / "bin/llmg"), "--version"], cwd=tmp_path, env=_clean_env()).stdout.strip()
    assert version == f"llmg {llmg.__version__}"
    providers = _run([str(venv / "bin/llmg"), "providers"], cwd=tmp_path, env=_clean_env()).stdout
    assert "openai" in providers and "anthropic" in providers and "bedrock" in providers


def test_installed_llmg_serves_requests(venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "llmg.toml"
    config.write_text(CONFIG)
    port = free_port()
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen([str(venv / "bin/llmg"), "serve", "--config", str(config), "--port", str(port)],
                            cwd=tmp_path, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text()
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()
            time.sleep(0.2)
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["version"] == llmg.__version__
        headers = {"Authorization": f"Bearer {TOKEN}"}
        chat = httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=30,
                          json={"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]})
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"]
        with httpx.stream("POST", f"{url}/v1/chat/completions", headers=headers, timeout=30,
                          json={"model": "mock/mock-1", "stream": True,
                                "messages": [{"role": "user", "content": "Hi"}]}) as stream:
            assert stream.status_code == 200
            body = b"".join(stream.iter_bytes())
        assert body.rstrip().endswith(b"data: [DONE]")
        # Auth is the installed code's too: a wrong token is refused in the OpenAI envelope.
        refused = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["type"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(10)
        log.close()
    assert code == 0, (tmp_path / "gateway.log").read_text()
