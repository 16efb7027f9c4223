"""The whole NAS correlation study: every proxy on the ground-truth architectures, ranked.

    python benchmarks/nas_correlation.py                      # the committed ground truth and teachers
    python benchmarks/nas_correlation.py --ground-truth GT.csv --teachers a.pt b.pt --results DIR

For each teacher checkpoint (default: results/teachers/{bptt,ift,gm}.pt and
results/teachers/pixels-*.pt, those that exist) and each baseline (real, subset, params, synflow, naswot), runs

    gtn-nas search --archs-from GT.csv ... --out RESULTS/nas/NAME.csv

(resumable: the Optuna storage RESULTS/nas/NAME.db keeps finished architectures), then

    gtn-nas rank --ground-truth GT.csv RESULTS/nas/*.csv --out-csv RESULTS/nas_correlation.csv \\
        --out-md RESULTS/nas_correlation.md

(with `--combine P+naswot` for every trained proxy P when naswot is a baseline: each
architecture's mean rank under P and naswot; and `--paired TEACHER,real` for every teacher when
real is a baseline: the difference in rho with a paired bootstrap interval) and draws one scatter
plot per proxy (proxy score vs ground-truth validation accuracy) under RESULTS/nas/plots/.
Baselines train with the first teacher's batch size, and `subset` uses its synthetic-set size
(T x B), so that they are compared at the same number of steps and images.
The exact commands are printed and saved to RESULTS/nas/commands.json; this repository's report
(`python benchmarks/report.py`; its section is called at the end) renders them as
RESULTS/nas/COMMANDS.md, and draws the plots and RESULTS/nas_correlation.md from the files.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import common

DEFAULT_TEACHERS = ("bptt", "ift", "gm")


def default_teachers(folder: Path) -> list[Path]:
    named = [folder / f"{m}.pt" for m in DEFAULT_TEACHERS]
    return [p for p in named if p.is_file()] + sorted(folder.glob("pixels-*.pt"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = common.parser(__doc__.split("\n\n")[0])
    common.add_ground_truth(ap)
    ap.add_argument(
        "--teachers",
        type=Path,
        nargs="*",
        default=None,
        help="Teacher checkpoints (default: results/teachers/{bptt,ift,gm}.pt, pixels-*.pt that exist).",
    )
    ap.add_argument(
        "--baselines",
        default="real,subset,params,synflow,naswot",
        help="Comma-separated baseline proxies ('' for none).",
    )
    ap.add_argument("--space", default="convnet", help="Space the real/subset lr-tuning architectures are drawn from.")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument(
        "--batch-size", type=int, default=None, help="Baselines' batch size (default: the first teacher's, else 128)."
    )
    ap.add_argument("--seed", type=int, default=0)
    common.add_bootstrap(ap)
    ap.add_argument("--results", type=Path, default=Path("results"), help="Output folder (nas/, nas_correlation.*).")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--rerun",
        action="store_true",
        help="Rerun every search (default: keep an output CSV that already scores every ground-truth "
        "architecture and is newer than its teacher)",
    )
    return ap.parse_args(argv)


def is_done(cmd: list[str], ground_truth: Path) -> bool:
    """Whether a search's output already holds every ground-truth architecture, made after its teacher."""
    import pandas as pd

    out = Path(cmd[-1])
    if not out.is_file():
        return False
    # A teacher proxy depends on the checkpoint; `subset` only on its T and B, which do not change.
    teacher = Path(cmd[cmd.index("--teacher") + 1]) if "--teacher" in cmd and "--proxy" not in cmd else None
    if teacher is not None and teacher.stat().st_mtime > out.stat().st_mtime:
        return False
    return set(pd.read_csv(ground_truth)["arch_id"]) <= set(pd.read_csv(out)["arch_id"])


def plan(args: argparse.Namespace) -> tuple[list[tuple[list[str], dict]], list[str], list[str], list[str]]:
    """Per proxy: its `gtn-nas search` command line and the same as `ProxySettings` fields (the
    benchmark calls the API; the command lines are what a user would type); and the rank command."""
    from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher

    teachers = args.teachers if args.teachers is not None else default_teachers(Path("results/teachers"))
    nas = args.results / "nas"
    common = [
        "--archs-from",
        str(args.ground_truth),
        "--steps",
        str(args.steps),
        "--seed",
        str(args.seed),
        "--space",
        args.space,
        "--device",
        args.device,
        "--quiet",
    ] + (["--data-dir", args.data_dir] if args.data_dir else [])
    base = {"steps": args.steps, "seed": args.seed}
    searches = [
        (
            ["search", "--teacher", str(t), *common, "--out", str(nas / f"{t.stem}.csv")],
            {**base, "kind": "teacher", "teacher": str(t)},
        )
        for t in teachers
    ]
    batch = args.batch_size or (load_teacher(teachers[0])[0].cfg.batch_size if teachers else 128)
    for name in [b for b in args.baselines.split(",") if b]:
        extra, fields = (
            (["--batch-size", str(batch)], {"batch_size": batch}) if name in ("real", "subset") else ([], {})
        )
        if name == "subset" and teachers:  # the subset is as large as the first teacher's synthetic set
            extra, fields = ["--teacher", str(teachers[0])], {"teacher": str(teachers[0])}
        searches.append(
            (
                ["search", "--proxy", name, *common, *extra, "--out", str(nas / f"{name}.csv")],
                {**base, "kind": name, **fields},
            )
        )
    outs = [cmd[-1] for cmd, _ in searches]
    rank = [
        "rank",
        "--ground-truth",
        str(args.ground_truth),
        *outs,
        "--bootstrap",
        str(args.bootstrap),
        "--seed",
        str(args.seed),
        "--out-csv",
        str(args.results / "nas_correlation.csv"),
        "--out-md",
        str(args.results / "nas_correlation.md"),
    ]
    labels = trained_labels(searches)  # reads each teacher's checkpoint once
    combos = combinations(searches, labels)
    paired = pairs(labels, combos)
    for combo in combos:
        rank += ["--combine", combo]
    for pair in paired:
        rank += ["--paired", pair]
    return searches, rank, combos, paired


def trained_labels(searches: list) -> list[str]:
    """The proxy labels of the trained proxies (teachers, real, subset), as `rank` names them."""
    from gtn_nas.api.lab import load_checkpoint, teacher_name

    return list(
        dict.fromkeys(
            teacher_name(load_checkpoint(f["teacher"])) if f["kind"] == "teacher" else f["kind"]
            for _, f in searches
            if f["kind"] in ("teacher", "real", "subset")
        )
    )


def combinations(searches: list, labels: list[str]) -> list[str]:
    """Every trained proxy (`labels`) rank-averaged with the zero-cost naswot, if it runs."""
    if "naswot" not in [fields["kind"] for _, fields in searches]:
        return []
    return [f"{label}+naswot" for label in labels]


def pairs(labels: list[str], combos: list[str]) -> list[str]:
    """Each teacher against real data, paired over the same architectures (and each teacher + naswot
    against real + naswot): is the teacher's ranking better than the baseline a user would use?"""
    if "real" not in labels:
        return []
    teachers = [label for label in labels if label.startswith("teacher:")]
    combined = [f"{t}+naswot,real+naswot" for t in teachers if f"{t}+naswot" in combos and "real+naswot" in combos]
    return [f"{t},real" for t in teachers] + combined


def evaluate(fields: dict, out: Path, args: argparse.Namespace, data) -> None:
    """What `gtn-nas search --archs-from GT ...` does, through the Python API."""
    import gtn_nas
    from gtn_nas.api import specs_from_csv

    gtn_nas.evaluate(
        specs_from_csv(args.ground_truth),
        gtn_nas.ProxySettings(**fields),
        out,
        space=args.space,
        source=args.ground_truth.stem,
        data=data,
        device=args.device,
    )


def rank(args: argparse.Namespace, outs: list[str], combine: list[str], paired: list[str]) -> None:
    import gtn_nas
    from gtn_nas.api import write_csv

    write_csv(
        gtn_nas.rank(args.ground_truth, outs, args.bootstrap, args.seed, combine, paired),
        args.results / "nas_correlation.csv",
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    searches, rank_cmd, combos, paired = plan(args)
    if not searches:
        sys.exit("error: no teacher checkpoints and no baselines: nothing to rank")
    from repo_report import nas_commands_md

    line = lambda c: "gtn-nas " + " ".join(shlex.quote(a) for a in c)
    meta = {
        # from `argv`, not sys.argv: main() may be called with its own arguments
        "command": " ".join(["python benchmarks/nas_correlation.py", *map(shlex.quote, argv)]),
        "date": common.utc_now(),
        "hardware": common.hardware(),
        "searches": [line(cmd) for cmd, _ in searches],
        "rank": line(rank_cmd),
        "ground_truth": str(args.ground_truth),
        "bootstrap": args.bootstrap,
        "results": str(args.results),
    }
    print(nas_commands_md(meta))
    data = None
    kept = []
    for cmd, fields in searches:
        if not args.rerun and is_done(cmd, args.ground_truth):
            print(f"kept {cmd[-1]} (complete, newer than its teacher)", file=sys.stderr)
            kept.append(cmd[-1])
            continue
        print("$ gtn-nas " + " ".join(shlex.quote(a) for a in cmd), file=sys.stderr)
        if data is None:
            from gtn_nas.api import load_mnist

            data = load_mnist(args.data_dir)
        evaluate(fields, Path(cmd[-1]), args, data)
    rank(args, [cmd[-1] for cmd, _ in searches], combos, paired)
    from repo_report import write_section

    if kept:  # say which outputs this run reused, so the commands below are not all read as run now
        rest = "ran the other searches" if len(kept) < len(searches) else "ran no search, only the rank command"
        meta["note"] = (
            f"This run reused {', '.join(f'`{k}`' for k in kept)} (complete outputs of the same command, newer "
            f"than their teacher; `--rerun` redoes them) and {rest}."
        )
    common.write_json(args.results / "nas" / "commands.json", meta)
    # nas_correlation.md, nas/COMMANDS.md, nas/plots/, as `python benchmarks/report.py` draws them
    write_section("nas", args.results)


if __name__ == "__main__":
    from gtn_nas.api import GtnNasError

    try:
        main()
    except GtnNasError as exc:
        sys.exit(f"error: {exc}")
