"""Print the runtime subset of requirements.lock: what an installed gateway needs, hashes and all.

requirements.lock pins llmg's dependencies together with its ``test`` and ``bench`` extras (one
resolution, so the test suite runs against exactly what ships). A container image or a production
virtualenv wants only the runtime part: ``[project] dependencies`` from pyproject.toml and
everything they pull in. pip cannot install a subset of a hash-checked requirements file, so this
script selects it, keeping every selected entry exactly as the lock writes it (version, markers,
hashes), and pip still installs with ``--require-hashes``.

Which entries belong is read from the lock itself: pip-compile annotates each pin with
``# via PARENT`` for every package that requires it, which gives the dependency graph; the roots are
the runtime dependencies named in pyproject.toml. ``--also NAME`` adds pins on top; ``--only NAME``
prints just those pins (the Dockerfile's build stage installs ``--only setuptools``, the locked
build backend, to build the wheel without fetching an unpinned one).

    python deploy/runtime_requirements.py [--lock FILE] [--pyproject FILE] [--also NAME]... [--only NAME]...

Run from anywhere; paths default to the repository this file lives in. Standard library only: the
Dockerfile runs it on a bare Python before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503 name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> tuple[list[str], dict[str, list[str]], dict[str, set[str]]]:
    """(header lines, pin name -> its block of lines, pin name -> names of the packages requiring it)."""
    header: list[str] = []
    blocks: dict[str, list[str]] = {}
    parents: dict[str, set[str]] = {}
    current: str | None = None
    in_via = False
    for line in text.splitlines():
        pin = PIN.match(line)
        if pin:
            current = normalise(pin.group(1))
            blocks[current] = [line]
            parents[current] = set()
            in_via = False
            continue
        if current is None:
            header.append(line)
            continue
        blocks[current].append(line)
        comment = line.strip()
        if comment.startswith("# via"):
            rest = comment[len("# via"):].strip()
            in_via = not rest  # "# via" alone: the parents follow, one per "#   NAME" line
            if rest:
                parents[current].add(_parent(rest))
        elif in_via and comment.startswith("#   "):
            parents[current].add(_parent(comment[1:]))
        elif not comment.startswith("#"):
            in_via = False
    return header, blocks, parents


def _parent(text: str) -> str:
    """"llmg (pyproject.toml)" -> "llmg"; "-r requirements.in" and the like are no package."""
    found = NAME.match(text)
    return normalise(found.group(1)) if found and not text.lstrip().startswith("-") else ""


def runtime_roots(pyproject: str) -> set[str]:
    """The names in [project] dependencies (markers and version ranges dropped)."""
    deps = tomllib.loads(pyproject)["project"]["dependencies"]
    return {normalise(NAME.match(dep).group(1)) for dep in deps}  # type: ignore[union-attr]


def select(lock: str, pyproject: str, also: list[str] | None = None, only: list[str] | None = None) -> str:
    """The lock text restricted to the runtime closure (plus ``also``), or to exactly ``only``;
    entries in lock order."""
    header, blocks, parents = parse_lock(lock)
    children: dict[str, set[str]] = {}
    for child, their_parents in parents.items():
        for parent in their_parents:
            children.setdefault(parent, set()).add(child)
    wanted = {normalise(name) for name in only} if only else runtime_roots(pyproject) | {normalise(name) for name in also or []}
    missing = sorted(wanted - blocks.keys())
    if missing:
        raise SystemExit(f"runtime_requirements: not pinned in the lock: {', '.join(missing)}")
    todo = [] if only else list(wanted)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in wanted:
                wanted.add(child)
                todo.append(child)
    lines = [
        "# The runtime subset of requirements.lock, written by deploy/runtime_requirements.py:",
        "# llmg's [project] dependencies and what they need, pinned and hashed as in the lock.",
    ]
    for name, block in blocks.items():
        if name in wanted:
            lines.extend(block)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--also", action="append", default=[], metavar="NAME", help="add this pin too")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="print only this pin")
    args = parser.parse_args(argv)
    sys.stdout.write(select(args.lock.read_text(), args.pyproject.read_text(), args.also, args.only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
