"""``llmg login github-copilot``: GitHub's device flow (the flow itself is in providers/github_copilot.py)."""

from __future__ import annotations

import argparse

from ..providers.github_copilot import login


def cmd_login(args: argparse.Namespace) -> int:
    return login(args.token_dir)
