"""Meta-cost benchmark: peak memory and seconds per meta-step of bptt, ift and gm versus T.

Every (method, T) is measured in its own process, on one fixed student architecture, with the
default teacher (generator + learned curriculum, B=128). Memory: on CPU the peak resident set size
sampled every 2 ms during the meta-steps (reported absolute and above the process's baseline after
setup); on GPU torch.cuda.max_memory_allocated. Time: median over the repeats after one warm-up.

    python benchmarks/meta_cost.py --out results/meta_cost.csv            # all methods, T = 8..128
    python benchmarks/meta_cost.py --one ift --steps 32                   # one measurement (JSON)

`bptt-full` is BPTT through all T steps (`--bptt-window 0`); `bptt` is the default (a random
window of 8 steps). Ratios (`mem_vs_bptt`, `time_vs_bptt`) are against `bptt-full` when measured.

`--configs NAME=FILE,...` measures each method as a distillation config file sets it up instead
(its learner, teacher and options; from noise, T from `--T`), e.g. the GTN-paper setting:

    python benchmarks/meta_cost.py --T 32 --methods bptt-full,ift,gm --out results/teachers/gtn_mnist/meta_cost.csv \
        --configs bptt-full=benchmarks/configs/gtn_mnist.toml,ift=benchmarks/configs/gtn_mnist_ift.toml,\
gm=benchmarks/configs/gtn_mnist_gm.toml
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

VARIANTS = {"bptt-full": ("bptt", {"window": 0})}  # name -> (method, options); other names: defaults
STUDENT = {"family": "conv", "depth": 2, "width": 32, "activation": "relu", "norm": "instance", "pooling": "max"}


class RssSampler:
    """Peak RSS of this process, sampled from /proc in a background thread."""

    def __init__(self, every: float = 0.002):
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def __enter__(self):
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _config(method: str, steps: int, config: str | None, space: str):
    """The DistillConfig measured: the default teacher on STUDENT, or `config`'s setting, from noise."""
    from gtn_nas.api import DistillConfig, TeacherConfig, distill_config

    base, options = VARIANTS.get(method, (method, {}))
    if config:
        return distill_config(
            config, method=base, meta_steps=10**6, eval_every=10**9, teacher={"inner_steps": steps, "init": "noise"}
        )
    return DistillConfig(
        method=base,
        method_options=options,
        teacher=TeacherConfig(inner_steps=steps, init="noise"),
        meta_steps=10**6,
        eval_every=10**9,
        space=space,
    )


def measure_one(method: str, steps: int, repeats: int, device_name: str, threads: int, config=None) -> dict:
    import torch

    from gtn_nas.api import MNIST, Distiller, load_mnist, resolve_device

    torch.set_num_threads(threads)
    device = resolve_device(device_name)
    full = load_mnist()
    data = MNIST(full.train.subset(10_000, 0), full.val.subset(1000, 0), full.test.subset(10, 0)).to(device)
    del full
    # init noise: the meta-gradient's cost alone (a fit to real images would run in the first step);
    # the one student as a one-architecture space file, read when the distiller is built.
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(method, steps, config, str(common.space_file([STUDENT], Path(tmp) / "meta_cost.toml")))
        d = Distiller(cfg, data, device)
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    # The warm-up step is inside the sampler: the allocator keeps what it took, so a peak measured
    # only after it would hide the first step's allocations.
    with RssSampler() as rss:
        base = rss.rss()
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            d.meta_step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:
                times.append(time.perf_counter() - t0)
    row = {
        "method": method,
        "T": steps,
        "device": device.type,
        "threads": threads,
        "repeats": repeats,
        "sec_per_meta_step": statistics.median(times),
        "sec_min": min(times),
        "sec_max": max(times),
    }
    if device.type == "cuda":
        row |= {"peak_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20, "baseline_mb": float("nan")}
    else:
        row |= {"peak_mem_mb": rss.peak / 2**20, "baseline_mb": base / 2**20}
    row["increment_mb"] = row["peak_mem_mb"] - row["baseline_mb"]
    return row


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--one", help="measure one method in this process and print JSON")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--methods", default="bptt-full,bptt,ift,gm")
    ap.add_argument("--T", default="8,16,32,64,128")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    common.add_threads(ap)
    ap.add_argument("--out", type=Path, default=Path("results/meta_cost.csv"))
    ap.add_argument("--summarise-only", action="store_true", help="redo the table and plot from an existing --out CSV")
    ap.add_argument("--configs", default="", help="NAME=FILE,...: measure method NAME as config FILE sets it up")
    ap.add_argument("--config", help=argparse.SUPPRESS)  # --one: the config of that method
    args = ap.parse_args()
    configs = dict(item.split("=", 1) for item in args.configs.split(",") if item)
    if args.summarise_only:
        summarise(args.out)
        return
    if args.one:
        print(json.dumps(measure_one(args.one, args.steps, args.repeats, args.device, args.threads, args.config)))
        return

    import pandas as pd

    from gtn_nas.api import write_csv

    rows = []
    for T in map(int, args.T.split(",")):
        for method in args.methods.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--one",
                method,
                "--steps",
                str(T),
                "--repeats",
                str(args.repeats),
                "--device",
                args.device,
                "--threads",
                str(args.threads),
                *(["--config", configs[method]] if method in configs else []),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                err = (out.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{method} T={T}: FAILED ({err})", flush=True)
                rows.append({"method": method, "T": T, "error": err})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{method:5s} T={T:4d}: {row['sec_per_meta_step']:.2f} s/meta-step, "
                f"peak {row['peak_mem_mb']:.0f} MB (+{row['increment_mb']:.0f} MB over baseline)",
                flush=True,
            )
            rows.append(row)
            write_csv(pd.DataFrame(rows), args.out)
    meta = common.metadata(
        hardware_threads=args.threads,
        student="as each config sets it up" if configs else STUDENT,
        batch_size=128,
        teacher="generator + learned curriculum",
    )
    common.write_outputs(args.out, pd.DataFrame(rows), meta, indent=2)  # with the failed measurements
    summarise(args.out)
    out = args.out
    print(f"wrote {out}, {out.with_suffix('.json')}, {out.with_suffix('.md')} and {out.with_suffix('.png')}")


def summarise(out: Path) -> None:
    """Markdown table (with ratios to BPTT at the same T) and the memory/time plot, from the CSV and
    JSON at `out`, exactly as `python benchmarks/report.py` renders them."""
    from repo_report import meta_cost_md, meta_cost_table, read_csv, read_json
    from repo_report.figures import meta_cost_figure, save_figure

    frame, meta = read_csv(out, ("method",), ("T",)), read_json(out.with_suffix(".json"), ("command",))
    common.write_md(out.with_suffix(".md"), meta_cost_md(frame, meta, png=out.with_suffix(".png").name), echo=False)
    save_figure(meta_cost_figure(meta_cost_table(frame)[0]), out.with_suffix(".png"))


if __name__ == "__main__":
    main()
