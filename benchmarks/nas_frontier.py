"""The cost-correlation frontier: how well each proxy ranks the ground-truth ConvNets for what it costs.

Every training proxy (each teacher, `real`, `subset`) trains each ground-truth architecture once
per initialisation seed for the largest budget (default 128 steps; a teacher's T batches are
cycled beyond T, exactly as `gtn-nas search --steps` does) and is scored along that one trajectory
after 8, 16, 32, 64 and 128 steps, on a fixed 1,000-image subset of the validation split and on
all 10,000 (the subset's predictions are a part of the full split's, timed on their own). Scores
at budget s equal those of a separate s-step run: SGD's momentum buffers carry over exactly as in
one run, and nothing is scored before the student is trained. `--seeds k` adds initialisations:
the frontier reports the mean over the first 1..k as the `--proxy-seeds` setting of that cost.

Learning rates: `real` and `subset` use the lr tuned by `gtn_nas.nas.proxies.make_proxy` at 32
steps (the correlation table's setting; training-split holdout, never validation), at every budget.
Teachers bring their own per-step lr and momentum, and the gradient clip their calibration chose.
`--real real-clip1` adds real data trained with its gradient norm clipped at 1 (lr tuned under the
clip), the recipe a clipping teacher uses; `real-grid` tunes lr, momentum and clip on the teachers'
calibration grid; `--real real-recipe subset-recipe --recipe 0.2:0.9:1` adds real data under one
fixed recipe (e.g. the one a teacher's start calibrated to). `--space mlp` with an MLP ground truth
draws real data's lr-tuning nets from the mlp space. Zero-cost proxies (params, synflow, naswot)
are read from their `gtn-nas search` outputs in results/nas/ and appear as one point each.

Cost: FLOPs as in `gtn_nas/nas/proxies.py` (3 F per trained image + F per scored image, over the
same architectures) ÷ the ground truth's training FLOPs; seconds likewise (wall time, noisy on a shared
machine: FLOPs are the comparison to trust). One-off costs (lr tuning, teacher data generation,
distillation) are excluded here; `results/nas_correlation.md` reports them.

    python benchmarks/nas_frontier.py --workers 2                 # resumable: rerun to continue
    python benchmarks/nas_frontier.py --summarise                 # only rebuild the summary CSV
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import ProxySettings, arch_id, load_ground_truth, load_mnist, load_space, write_csv
from gtn_nas.api.lab import (
    balanced_subset,
    build_student,
    correct,
    count_params,
    make_proxy,
    per_image_forward_flops,
    rank_proxy,
    real_batches,
    sgd_steps,
    split_pool,
    subset_batches,
)
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import proxy_teacher_batches as teacher_batches

RAW_COLUMNS = [
    "proxy",
    "arch_id",
    "init_seed",
    "steps",
    "val_examples",
    "score",
    "train_seconds",
    "eval_seconds",
    "flops",
    "params",
]
ZERO_COST = ("params", "synflow", "naswot")


# -- per-architecture work (runs in worker processes) ---------------------------------------------

_STATE: dict = {}


def _init_worker(plans: dict, budgets: tuple[int, ...], val_small: int, threads: int, full: bool = True) -> None:
    torch.set_num_threads(threads)
    data = load_mnist()
    idx = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(0))  # Split.subset's order
    _STATE.update(
        data=data,
        budgets=budgets,
        small=idx[:val_small],
        rest=idx[val_small:],
        batches={name: _batches(plan, data, max(budgets)) for name, plan in plans.items()},
        clips={name: plan.get("max_grad_norm") for name, plan in plans.items()},
        full=full,
    )


def _batches(plan: dict, data, steps: int):
    if plan["kind"] == "teacher":
        batches, _ = teacher_batches(load_teacher(plan["teacher"])[0], steps, seed=0)
        return batches
    _, pool = split_pool(data.train)
    if plan["kind"] == "real":
        return list(real_batches(pool, steps, plan["batch_size"], plan["lr"], plan["momentum"], seed=0))
    subset = balanced_subset(pool, plan["subset_size"], plan["batch_size"], seed=0)
    return subset_batches(subset, steps, plan["batch_size"], plan["lr"], plan["momentum"], seed=0)


def _correct(net, x, y) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    hits = correct(net, None, x, y)
    return hits, time.perf_counter() - start


def score_arch(task: tuple[str, dict, int]) -> list[dict]:
    """One architecture, one proxy, one initialisation: a row per (budget, validation size)."""
    name, spec, seed = task
    val, small, rest, budgets = _STATE["data"].val, _STATE["small"], _STATE["rest"], set(_STATE["budgets"])
    batches = _STATE["batches"][name][: max(budgets)]
    net = build_student(spec, seed)
    f, n_params = per_image_forward_flops(net), count_params(net)
    rows, clock = [], {"train": 0.0, "mark": time.perf_counter()}

    def after(t: int) -> None:
        if t not in budgets:
            return
        clock["train"] += time.perf_counter() - clock["mark"]
        net.eval()
        hit_small, s_small = _correct(net, val.x[small], val.y[small])
        scored = [(len(small), hit_small, s_small)]
        if _STATE["full"]:
            hit_rest, s_rest = _correct(net, val.x[rest], val.y[rest])
            scored.append((len(val), torch.cat([hit_small, hit_rest]), s_small + s_rest))
        images = sum(len(b[1]) for b in batches[:t])
        for n, hits, secs in scored:
            rows.append(
                {
                    "proxy": name,
                    "arch_id": arch_id(spec),
                    "init_seed": seed,
                    "steps": t,
                    "val_examples": n,
                    "score": hits.float().mean().item(),
                    "train_seconds": clock["train"],
                    "eval_seconds": secs,
                    "flops": int(3 * f * images + f * n),
                    "params": n_params,
                }
            )
        clock["mark"] = time.perf_counter()

    sgd_steps(net, batches, after, max_grad_norm=_STATE["clips"][name])
    return rows


# -- planning, running, summarising ----------------------------------------------------------------


# The teachers' calibration grid (lr 0.05 x 1/4 ... 8, momentum 0 / 0.5 / 0.9, clip none or 1), as
# benchmarks/starts.py tunes its `real-grid` and `subset-grid` baselines.
GRID = {
    "lr_grid": (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4),
    "momentum_grid": (0.0, 0.5, 0.9),
    "clip_grid": (None, 1.0),
}


def real_settings(name: str, recipe: tuple[float, float, float | None] | None = None) -> ProxySettings:
    """A real-data proxy's settings from its name: `KIND` (lr tuned at 32 steps), `KIND-clipC`
    (gradients clipped at norm C, lr tuned under the clip), `KIND-grid` (lr, momentum and clip tuned
    on the teachers' calibration grid) or `KIND-recipe` (a fixed lr, momentum and clip, `recipe`: e.g.
    the recipe a teacher's start calibrated to, so real images train under it)."""
    if name.endswith("-grid"):
        return ProxySettings(kind=name.removesuffix("-grid"), steps=32, seed=0, **GRID)
    if name.endswith("-recipe"):
        if recipe is None:
            raise SystemExit(f"{name} needs --recipe LR:MOMENTUM:CLIP")
        lr, momentum, clip = recipe
        kind = name.removesuffix("-recipe")
        return ProxySettings(kind=kind, steps=32, seed=0, lr=lr, momentum=momentum, max_grad_norm=clip)
    kind, _, clip = name.partition("-clip")
    return ProxySettings(kind=kind, steps=32, seed=0, max_grad_norm=float(clip) if clip else None)


def parse_recipe(text: str) -> tuple[float, float, float | None]:
    """`LR:MOMENTUM:CLIP` (CLIP `none`: no clip)."""
    try:
        lr, momentum, clip = text.split(":")
        return float(lr), float(momentum), None if clip == "none" else float(clip)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LR:MOMENTUM:CLIP (e.g. 0.2:0.9:1); got {text!r}") from None


def plan_proxies(
    teachers: list[Path],
    kinds: list[str],
    gt_ids: set[str],
    skip: set[str] = frozenset(),
    space: str = "convnet",
    recipe: tuple[float, float, float | None] | None = None,
) -> dict:
    """name -> how to rebuild its batches; tunes real/subset lrs once, as `gtn-nas search` does,
    on architectures of `space` (see `real_settings` for the names)."""
    data, space = load_mnist(), load_space(space)
    plans = {}
    for path in teachers:
        if f"teacher:{path.stem}" in skip:
            continue
        teacher, ckpt = load_teacher(path)
        plans[f"teacher:{path.stem}"] = {
            "kind": "teacher",
            "teacher": str(path),
            "distill_seconds": float(ckpt.get("elapsed", 0.0)),
            "max_grad_norm": teacher.max_grad_norm,
        }
    ref = load_teacher(teachers[0])[0] if teachers else None  # real/subset take its batch size, subset its T x B
    for name in kinds:
        if name in skip:
            continue
        s = real_settings(name, recipe)
        kind = s.kind
        proxy = make_proxy(s, data, torch.device("cpu"), space, gt_ids, (ref, {}) if ref is not None else None)
        B = proxy.setup["batch_size"]
        plans[name] = {
            "kind": kind,
            "lr": proxy.setup["lr"],
            "momentum": proxy.setup["momentum"],
            "batch_size": B,
            "subset_size": (ref.cfg.inner_steps if ref is not None else 32) * B,
            "setup_seconds": proxy.setup.get("setup_seconds", 0.0),
            "max_grad_norm": proxy.max_grad_norm,
        }
        how = "fixed" if s.lr is not None else "tuned at 32 steps"
        print(f"{name}: lr {proxy.setup['lr']} ({how})", flush=True)
    return plans


def run(args, gt: pd.DataFrame, raw_path: Path) -> None:
    raw = pd.read_csv(raw_path) if raw_path.exists() else pd.DataFrame(columns=RAW_COLUMNS)
    plans_path = raw_path.with_name("plans.json")
    # A resumed run keeps its tuned lrs; proxies it has no plan for are planned and added.
    plans = json.loads(plans_path.read_text()) if plans_path.exists() else {}
    if args.redo:  # their teachers changed: forget their scores and plans (distillation seconds included)
        raw = raw[~raw["proxy"].isin(args.only)]
        plans = {name: plan for name, plan in plans.items() if name not in args.only}
    done = set(zip(raw["proxy"], raw["arch_id"], raw["init_seed"]))
    plans.update(plan_proxies(args.teachers, args.real, set(gt["arch_id"]), set(plans), args.space, args.recipe))
    common.write_json(plans_path, plans)
    specs = [json.loads(s) for s in gt["spec"]]
    names = [n for n in plans if not args.only or n in args.only]
    tasks = [
        (name, spec, seed)
        for seed in range(args.seeds)
        for name in names
        for spec in specs
        if (name, arch_id(spec), seed) not in done
    ]
    print(f"{len(tasks)} trainings to go ({len(done)} done)", flush=True)
    frames, start = [raw], time.perf_counter()
    # workers rebuild the batches of the proxies they train (an earlier run's teacher may be gone)
    init = ({n: plans[n] for n in names}, tuple(args.steps), args.val_small, args.threads, not args.small_only)
    with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=init) as pool:
        for i, rows in enumerate(pool.map(score_arch, tasks, chunksize=1), start=1):
            frames.append(pd.DataFrame(rows))
            if i % 10 == 0 or i == len(tasks):
                write_csv(pd.concat(frames, ignore_index=True), raw_path)
                print(f"{i}/{len(tasks)} ({time.perf_counter() - start:.0f}s)", flush=True)


def zero_cost_rows(nas_dir: Path) -> pd.DataFrame:
    """The zero-cost proxies' `gtn-nas search` outputs, as one budget-less point each."""
    frames = []
    for kind in ZERO_COST:
        path = nas_dir / f"{kind}.csv"
        if path.exists():
            f = pd.read_csv(path)
            frames.append(
                f.assign(proxy=kind, steps=0, val_examples=0, init_seed=0)[
                    ["proxy", "arch_id", "init_seed", "steps", "val_examples", "score", "seconds", "flops"]
                ]
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(
    raw: pd.DataFrame, zero: pd.DataFrame, gt: pd.DataFrame, n_boot: int, long: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every (proxy, steps, val_examples, seeds) point against the 1-epoch ground truth; with `long`
    (the longer yardstick on a subset), the same points on that subset against it, plus the 1-epoch
    ground truth itself as a proxy ("real, 1 epoch": the cost a user would otherwise pay)."""
    frame = _points(raw, zero, gt, n_boot).assign(ground_truth=f"1 epoch ({len(gt)} nets)")
    if long is None:
        return frame
    ids = set(long["arch_id"])
    sub = _points(raw[raw["arch_id"].isin(ids)], zero[zero["arch_id"].isin(ids)] if len(zero) else zero, long, n_boot)
    one = gt[gt["arch_id"].isin(ids)].assign(score=gt["val_acc"], flops=gt["train_flops"])
    epoch_steps = math.ceil(50_000 / 128)  # the ground truth's Adam steps (batch 128), per seed
    sub = pd.concat(
        [sub, pd.DataFrame([_point("real, 1 epoch", epoch_steps, 10_000, 2, one, long, n_boot)])], ignore_index=True
    )
    return pd.concat([frame, sub.assign(ground_truth=f"3 epochs, cosine ({len(long)} nets)")], ignore_index=True)


def _points(raw: pd.DataFrame, zero: pd.DataFrame, gt: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    raw = raw.assign(seconds=raw["train_seconds"] + raw["eval_seconds"])
    out = []
    for (proxy, steps, n_val), g in raw.groupby(["proxy", "steps", "val_examples"], sort=False):
        for k in range(1, int(g["init_seed"].max()) + 2):
            rows = (
                g[g["init_seed"] < k]
                .groupby("arch_id", as_index=False)
                .agg(score=("score", "mean"), seconds=("seconds", "sum"), flops=("flops", "sum"), n=("score", "size"))
            )
            if (rows["n"] < k).any():  # a seed not finished for every architecture
                continue
            out.append(_point(proxy, steps, n_val, k, rows, gt, n_boot))
    for proxy, g in zero.groupby("proxy", sort=False) if len(zero) else []:
        out.append(_point(proxy, 0, 0, 1, g, gt, n_boot))
    return pd.DataFrame(out)


def _point(proxy, steps, n_val, seeds, rows, gt, n_boot) -> dict:
    r = rank_proxy(rows, gt, n_boot=n_boot, seed=0)
    return {
        "proxy": proxy,
        "steps": int(steps),
        "val_examples": int(n_val),
        "seeds": seeds,
        "n": r["n"],
        "spearman": r["spearman"],
        "spearman_lo": r["spearman_lo"],
        "spearman_hi": r["spearman_hi"],
        "kendall": r["kendall"],
        "top10": r["top10_overlap"],
        "regret": r["regret"],
        "flops_ratio": r["flops_ratio"],
        "seconds_ratio": r["cost_ratio"],
    }


def main() -> None:
    ap = common.parser(__doc__)
    common.add_ground_truth(ap)
    ap.add_argument(
        "--teachers", type=Path, nargs="*", default=[Path(f"results/teachers/{m}.pt") for m in ("gm", "bptt", "ift")]
    )
    ap.add_argument(
        "--real", nargs="*", default=["real", "subset"], help="real-data proxies (real, subset; -clipC, -recipe)"
    )
    ap.add_argument("--recipe", type=parse_recipe, help="LR:MOMENTUM:CLIP of the `*-recipe` real-data proxies")
    ap.add_argument("--space", default="convnet", help="where real data's lr-tuning nets are drawn (mlp for MLPs)")
    ap.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--val-small", type=int, default=1000, help="the smaller validation subset (the other is all 10k)")
    ap.add_argument(
        "--small-only", action="store_true", help="score on the --val-small subset alone (no 10k pass: ~10x cheaper)"
    )
    ap.add_argument("--seeds", type=int, default=1, help="initialisations per architecture (proxy seeds 1..k)")
    ap.add_argument("--only", nargs="*", help="train only these proxies (e.g. extra seeds for teacher:gm real)")
    ap.add_argument(
        "--redo", action="store_true", help="with --only: score those proxies afresh (e.g. a recalibrated teacher)"
    )
    common.add_workers(ap)
    common.add_threads(ap, help="threads per worker")
    common.add_bootstrap(ap)
    common.add_long_ground_truth(
        ap, help="the longer yardstick on a subset (benchmarks/yardstick.py), used when present"
    )
    ap.add_argument("--nas-dir", type=Path, default=Path("results/nas"), help="zero-cost proxies' search outputs")
    ap.add_argument(
        "--out", type=Path, default=Path("results/nas_frontier"), help="writes OUT.csv, OUT.json, OUT/scores.csv"
    )
    ap.add_argument("--summarise", action="store_true", help="only rebuild OUT.csv from OUT/scores.csv")
    args = ap.parse_args()
    if args.redo and not args.only:
        raise SystemExit("--redo needs --only: the proxies to score afresh")
    gt = load_ground_truth(args.ground_truth)
    raw_path = args.out / "scores.csv"
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        run(args, gt, raw_path)
    long = load_ground_truth(args.long_ground_truth) if args.long_ground_truth.exists() else None
    summary = summarise(pd.read_csv(raw_path), zero_cost_rows(args.nas_dir), gt, args.bootstrap, long)
    old = json.loads(args.out.with_suffix(".json").read_text()) if args.out.with_suffix(".json").exists() else {}
    runs = old.get("runs", []) + ([] if args.summarise else [common.command()])  # every run that added scores
    meta = common.metadata(
        hardware_threads=args.threads,  # each worker's
        runs=runs,
        ground_truth=str(args.ground_truth),
        n_archs=len(gt),
        plans=json.loads((args.out / "plans.json").read_text()),
    )
    common.write_outputs(args.out, summary, meta)
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
