"""``llmg providers``: the catalogue as a list, or as the README's Markdown table."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..providers.catalogue import load_catalogue, markdown_table, readme_section, replace_readme_section


def cmd_providers(args: argparse.Namespace) -> int:
    if args.write_readme or args.check_readme:
        path = Path(args.write_readme or args.check_readme)
        readme = path.read_text(encoding="utf-8")
        table = markdown_table()
        if args.check_readme:
            if readme_section(readme) == table:
                print(f"{path}: provider table is up to date")
                return 0
            print(f"{path}: provider table differs from the catalogue; run `llmg providers --write-readme {path}`")
            return 1
        path.write_text(replace_readme_section(readme, table), encoding="utf-8")
        print(f"{path}: provider table written ({len(load_catalogue())} providers)")
        return 0
    if args.markdown:
        print(markdown_table(), end="")
        return 0
    for name, spec in sorted(load_catalogue().items()):
        where = spec.base_url or spec.base_url_template or "(built in)"
        print(f"{name:20} {spec.adapter:16} {spec.auth:15} {where}")
    return 0
