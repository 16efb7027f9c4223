"""Meta-steps per minute, old code against new, in one run on the same students and threads.

The baseline is a git revision of gtn-nas (default: the last commit of 0.1, before the teacher
work), unpacked into a temporary folder and imported from there in a subprocess; the current tree
is imported the same way. Each (code, method, student set, threads) runs in its own process: real
MNIST (a 10k training subset, as in meta_cost.py), the method's *default* settings of that code
version (T=32, B=128, default generator), one warm-up meta-step, then `--repeats` meta-steps per
student, each student in turn the only architecture of a distiller of its own (its space a file of
that one architecture; the teacher starts from noise, as a fitted start sets the teacher's values,
not a meta-step's cost). A warm-started ift student serves ceil(T/N) meta-steps, the first dearer
in replay mode: each repeat times all of them, per meta-step, from a fresh student. Old and new
alternate method by method so that drift in the machine's load hits both. `--variant` adds rows of the current code
with other method options (e.g. ift's warm start), measured in the same run.

    python benchmarks/meta_speed.py --out results/meta_speed.csv
    python benchmarks/meta_speed.py --variant 'warm8-cg5=ift:{"warm_steps": 8, "neumann_terms": 5}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "3f07aca"


def worker(method: str, specs: list[dict], repeats: int, threads: int, options: dict) -> dict:
    import dataclasses

    import torch

    import gtn_nas

    # The layout is read from the package's own files, not from a failed import: an editable
    # install's finder serves a module the unpacked revision lacks from the working tree instead.
    if (Path(gtn_nas.__file__).parent / "core").is_dir():
        from gtn_nas.api import MNIST, Distiller, load_mnist

        try:
            from gtn_nas.api import DistillConfig
        except ImportError:  # a layered revision from before DistillConfig had its own module
            from gtn_nas.api import DistillConfig
        from gtn_nas.api import TeacherConfig

        # Each student gets its own distiller, so a fitted start (the default) would be fitted again
        # per student (minutes each); it sets the teacher's values, not what a meta-step costs.
        kw = {"teacher": TeacherConfig(init="noise")}
    else:  # revisions before the package's layers (gtn-nas 0.1 included): no fitted start
        from gtn_nas.data import MNIST, load_mnist
        from gtn_nas.distill import DistillConfig, Distiller

        kw = {}

    torch.set_num_threads(threads)
    full = load_mnist()
    data = MNIST(full.train.subset(10_000, 0), full.val.subset(1000, 0), full.test.subset(10, 0))
    if options:  # 0.1 takes no options: only the new code's variants pass them
        kw["method_options"] = options

    def distiller(spec: dict, folder: Path):
        """A distiller whose every student is `spec`: its space is a file of that one architecture
        (`DistillConfig.space` takes a .toml path in every version, 0.1 included)."""
        space = str(common.space_file([spec], folder / "student.toml"))
        cfg = DistillConfig(method=method, meta_steps=10**6, eval_every=10**9, space=space, **kw)
        return Distiller(cfg, data, torch.device("cpu"))

    def fresh(d) -> None:
        if hasattr(d.method, "load_state_dict"):
            d.method.load_state_dict({})

    per_student = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(specs):
            d = distiller(spec, Path(tmp))
            # A student kept across meta-steps (ift's warm start) serves ceil(T/N) of them, and in replay
            # mode the first costs more: each repeat times one such student from its start, per meta-step.
            warm = getattr(getattr(d.method, "cfg", None), "warm_steps", 0)  # the options as resolved (0.1 has none)
            cycle = -(-d.cfg.teacher.inner_steps // warm) if warm else 1
            if i == 0:
                fresh(d)
                d.meta_step()  # warm-up
            times = []
            for _ in range(repeats):
                fresh(d)
                t0 = time.perf_counter()
                for _ in range(cycle):
                    d.meta_step()
                times.append((time.perf_counter() - t0) / cycle)
            per_student.append(statistics.median(times))
    return {
        "package": str(Path(gtn_nas.__file__).parent),
        "options": dataclasses.asdict(d.method.cfg),
        "generator": getattr(d.cfg.teacher, "generator", "upsample"),
        "sec_per_student": per_student,
    }


def unpack(rev: str, dest: Path) -> Path:
    """The package at `rev`, importable from `dest` (search spaces where importlib finds them)."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "gtn_nas", "search_spaces"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    (dest / "gtn_nas" / "search_spaces").mkdir(exist_ok=True)
    for toml in (dest / "search_spaces").glob("*"):
        (dest / "gtn_nas" / "search_spaces" / toml.name).write_bytes(toml.read_bytes())
    return dest


def run(path: Path, method: str, specs: list[dict], repeats: int, threads: int, options: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path)}
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--specs",
        json.dumps(specs),
        "--repeats",
        str(repeats),
        "--threads",
        str(threads),
        "--options",
        json.dumps(options or {}),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise SystemExit(f"{method} at {path}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def variant(text: str) -> tuple[str, str, dict]:
    """LABEL=METHOD:JSON -> (label, method, options)."""
    try:
        label, rest = text.split("=", 1)
        method, options = rest.split(":", 1)
        return label, method, json.loads(options)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--variant wants LABEL=METHOD:JSON (e.g. 'warm8=ift:{{\"warm_steps\": 8}}'); got {text!r}"
        ) from None


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--worker")
    ap.add_argument("--specs")
    ap.add_argument("--options", default="{}")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        type=variant,
        help="LABEL=METHOD:JSON, a row of the current code with these method options (repeatable)",
    )
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--methods", default="bptt,ift,gm")
    ap.add_argument("--students", type=int, default=6, help="students drawn from each distillation space")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", default="2", help="comma-separated torch intra-op thread counts")
    ap.add_argument("--out", type=Path, default=Path("results/meta_speed.csv"))
    args = ap.parse_args()
    if args.worker:
        print(
            json.dumps(
                worker(args.worker, json.loads(args.specs), args.repeats, int(args.threads), json.loads(args.options))
            )
        )
        return

    import pandas as pd

    from gtn_nas.api import arch_id, load_space, write_csv
    from repo_report import meta_speed_md, read_csv

    sets = {
        "new students": load_space("distill").sample(args.students, seed=0),
        "0.1 students": load_space("distill_v0").sample(args.students, seed=0),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        codes = {"0.1 (" + args.baseline_rev + ")": unpack(args.baseline_rev, Path(tmp)), "new": ROOT}
        for threads in map(int, args.threads.split(",")):
            for method in args.methods.split(","):
                for set_name, specs in sets.items():
                    for code, path in codes.items():
                        if code == "new" and set_name != "new students":
                            continue  # the new code runs on its own students only
                        runs = [("default", None)] + (
                            [(label, opts) for label, m, opts in args.variant if m == method] if code == "new" else []
                        )
                        for label, opts in runs:
                            r = run(path, method, specs, args.repeats, threads, opts)
                            sec = statistics.mean(r["sec_per_student"])
                            rows.append(
                                {
                                    "method": method,
                                    "code": code,
                                    "variant": label,
                                    "students": set_name,
                                    "threads": threads,
                                    "sec_per_meta_step": sec,
                                    "meta_steps_per_min": 60 / sec,
                                    "options": json.dumps(r["options"]),
                                    "generator": r["generator"],
                                    "per_student": json.dumps(dict(zip(map(arch_id, specs), r["sec_per_student"]))),
                                }
                            )
                            print(
                                f"{method:4s} {code:14s} {label:10s} {set_name:12s} threads={threads}: "
                                f"{sec:.2f} s/meta-step",
                                flush=True,
                            )
                            write_csv(pd.DataFrame(rows), args.out)
    frame = pd.DataFrame(rows)
    old = frame[frame["code"] != "new"].set_index(["method", "students", "threads"])["meta_steps_per_min"]
    frame["speedup_vs_0.1_same_students"] = [
        r.meta_steps_per_min / old[(r.method, r.students, r.threads)] for r in frame.itertuples()
    ]
    base = old.xs("0.1 students", level="students")
    frame["speedup_vs_0.1_as_shipped"] = [
        r.meta_steps_per_min / base[(r.method, r.threads)] for r in frame.itertuples()
    ]
    meta = common.metadata(
        hardware_threads=args.threads, T=32, batch_size=128, students=args.students, repeats=args.repeats
    )
    common.write_outputs(args.out, frame, meta, indent=2)
    # From the file just written, as `python benchmarks/report.py` renders it.
    md = meta_speed_md(read_csv(args.out), meta)
    common.write_md(args.out.with_suffix(".md"), md)


if __name__ == "__main__":
    main()
