"""This repository's own report: every Markdown table and plot under results/ rebuilt from the raw
files there (CSV, JSON sidecars holding each command, teacher checkpoints), and the
`<!-- results:NAME -->` blocks of the README and of the narrative files under results/ refilled.
Trains nothing; the same inputs give the same bytes.

    python benchmarks/report.py            # write what changed
    python benchmarks/report.py --check    # write nothing; exit 1 if a file is out of date or not generated

(For a report of your own runs, `gtn-nas report RUNS... --ground-truth GT.csv --out DIR`.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import common
from gtn_nas.api import ConfigError, GtnNasError, check_output_dir, threads_from_env
from repo_report import build_report, find_readme, stale, write_report


def run(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--results", type=Path, default=Path("results"), help="Folder of raw results.")
    ap.add_argument("--out", type=Path, default=None, help="Folder to write to (default: --results).")
    ap.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="README whose blocks to refill (default: README.md beside --out, if it has blocks).",
    )
    ap.add_argument("--no-readme", action="store_true", help="Leave the README alone.")
    ap.add_argument(
        "--check",
        action="store_true",
        help="Write nothing; exit 1 if a Markdown file or block is out of date, or not generated.",
    )
    args = ap.parse_args(argv)
    threads_from_env()
    out = args.results if args.out is None else args.out
    check_output_dir(out)
    if args.readme is not None and not args.readme.is_file():
        raise ConfigError(f"--readme {args.readme}: no such file")
    target = None if args.no_readme else (args.readme or find_readme(out))
    rep = build_report(args.results, target, figures=not args.check)
    for section, paths in rep.missing:
        print(f"missing: {section}: {', '.join(paths)}")
    for path in rep.unguarded:
        print(f"not generated: {path} (no section writes it and it has no <!-- results:NAME --> block)")
    if args.check:
        old = stale(rep, out)
        for path in old:
            print(f"out of date: {path}")
        return 1 if old or rep.unguarded else 0
    written, unchanged = write_report(rep, out)
    for path in written:
        print(f"wrote {path}")
    print(
        f"{len(written)} written, {len(unchanged)} unchanged, {len(rep.missing)} section(s) skipped for missing inputs"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """run(), with every gtn-nas error as one line on stderr and exit status 2."""
    try:
        return run(argv)
    except GtnNasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
