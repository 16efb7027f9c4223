"""Fill the README's result tables from the files under results/ (nothing typed by hand).

A thin wrapper over `repo_report.readme_blocks.render_readme`, which `python benchmarks/report.py`
also runs (together with every Markdown file and plot under results/ and the narrative files'
blocks). Every block of README.md between `<!-- results:NAME -->` and `<!-- /results:NAME -->` is
replaced by a table built from the named results file; a missing file leaves the block as it is
and is reported. Deterministic: the same files give the same README bytes.

    python benchmarks/readme_tables.py            # rewrites README.md in place
    python benchmarks/readme_tables.py --check    # exit 1 if README.md differs from the files
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gtn_nas.api import GtnNasError, write_text
from repo_report.readme_blocks import render_readme

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    try:
        text, missing = render_readme(path.read_text(), ROOT / "results")
    except GtnNasError as exc:
        sys.exit(f"error: {exc}")
    for line in missing:
        print(f"missing: {line}", file=sys.stderr)
    if args.check:
        sys.exit(0 if text == path.read_text() else 1)
    write_text(path, text)


if __name__ == "__main__":
    main()
