"""Searches that find something: TPE with a teacher, with real data and with the fused proxy, and
random sampling with the teacher, at one or more search seeds.

Each search is an ordinary `gtn-nas search` (through the Python API): 100 COMPLETE Optuna trials
over the 648-architecture convnet space, each proposal trained 32 steps by its proxy (the fused
proxy: its features) and scored on the 10k validation split. A proposal the study already scored is
answered from the earlier trial (no training, cost 0), so `archs` can be below `trials`. Each
search's pick (its best proxy score) is then judged by the ground-truth protocol (1 epoch of Adam,
2 seeds): read from --ground-truth when the pick is there, else trained here through the ordinary
resumable ground-truth queue (results/search/picks_gt.csv). Regret: the best ground truth of
--ground-truth minus the pick's, in points of validation accuracy.

The fused proxy of seed s is fitted here (`api.fuse`) on --fused-train architectures drawn with seed s
from --ground-truth, from the zero-cost scores (--zero-cost) and the encoding; the ground truth
of those architectures is its one-off cost (`fit_gt_seconds`: their recorded training seconds).

Cost: the search's proxy seconds and FLOPs over its trials, plus its one-off costs (lr tuning;
teacher data generation; the fused model's training ground truth); the teacher's distillation time
is listed beside it, not inside. `cost_vs_gt`: proxy + one-off seconds over the seconds of the whole
--ground-truth (so under 0.1 is under a tenth of its cost).

    python benchmarks/search_runs.py --seeds 0 1 --ground-truth results/ground_truth/convnet250.csv
        # -> results/search/{NAME.csv, fused-sS.json, summary.csv, summary.json}
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas import api
from gtn_nas.api import GroundTruthConfig, ProxySettings, load_mnist, write_csv

ZERO_COST = (
    "results/nas/naswot.csv",
    "results/nas/synflow.csv",
    "results/nas_250/naswot.csv",
    "results/nas_250/synflow.csv",
)


def searches(teacher: str, fused: dict[int, Path], seeds: list[int]) -> dict[str, tuple[str, ProxySettings]]:
    """Every search by name (seed 0 unsuffixed, as its first runs were named)."""
    out = {}
    for seed in seeds:
        suffix = "" if seed == 0 else f"-s{seed}"
        gm = ProxySettings(kind="teacher", teacher=teacher, seed=seed)
        out[f"tpe-teacher{suffix}"] = ("tpe", gm)
        out[f"tpe-real{suffix}"] = ("tpe", ProxySettings(kind="real", seed=seed))
        out[f"random-teacher{suffix}"] = ("random", gm)
        if seed in fused:
            out[f"tpe-fused{suffix}"] = ("tpe", ProxySettings(kind="fused", fused_model=str(fused[seed]), seed=seed))
    return out


def fit_fused(
    seed: int, n_train: int, gt_csv: Path, zero_cost: list[str], out: Path, target: str = "accuracy"
) -> tuple[Path, float]:
    """The fused model of one search seed, fitted on `n_train` architectures of the ground truth drawn
    with that seed; its path and the training architectures' ground-truth seconds (its one-off cost)."""
    gt = pd.read_csv(gt_csv)
    train = gt.sample(n=n_train, random_state=seed).sort_values("arch_id")
    train_csv, model = out / f"fused-s{seed}-train.csv", out / f"fused-s{seed}.json"
    write_csv(train, train_csv)
    if not model.exists():
        api.fuse(zero_cost, train_csv, model, folds=min(10, n_train), seed=seed, target=target)
    return model, float(train["seconds"].sum())


def with_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The search output in trial order, with the best proxy score so far (the optimisation history)."""
    f = frame.sort_values("trial").reset_index(drop=True)
    return f.assign(best_so_far=f["score"].cummax())


def judge(picks: dict[str, dict], gt_csv: Path, data, out: Path, train_examples: int | None = None) -> dict[str, dict]:
    """Ground-truth validation accuracy of each pick: from `gt_csv`, or trained now."""
    gt = pd.read_csv(gt_csv).set_index("arch_id")
    todo = [p["spec"] for p in picks.values() if p["arch_id"] not in gt.index]
    trained = (
        api.ground_truth(
            todo, GroundTruthConfig(train_examples=train_examples), out / "picks_gt.csv", data=data, device="cpu"
        ).frame.set_index("arch_id")
        if todo
        else pd.DataFrame()
    )
    out = {}
    for name, p in picks.items():
        src, table = (gt_csv.name, gt) if p["arch_id"] in gt.index else ("search/picks_gt.csv", trained)
        row = table.loc[p["arch_id"]]
        out[name] = {
            "pick_val_acc": float(row["val_acc"]),
            "pick_val_acc_sd": float(row["val_acc_sd"]),
            "pick_test_acc": float(row["test_acc"]),
            "pick_gt_from": src,
            "pick_gt_seconds": float(row["seconds"]),
        }
    return out


def run_one(job) -> tuple[dict, dict]:
    """One search, start to end (in its own process, one thread): its summary row and its pick."""
    name, sampler, proxy, n_trials, out = job
    run = api.search(
        "convnet", proxy, out / f"{name}.csv", n_trials=n_trials, sampler=sampler, data=load_mnist(), device="cpu"
    )
    frame = with_history(run.frame)
    write_csv(frame, out / f"{name}.csv")
    best = frame.loc[frame["score"].idxmax()]
    setup = float(frame["setup_seconds"].iloc[0]) if "setup_seconds" in frame else 0.0
    row = {
        "search": name,
        "sampler": sampler,
        "proxy": run.proxy_name,
        "trials": sum(t.state.name == "COMPLETE" for t in run.study.trials),
        "archs": int(frame["arch_id"].nunique()),
        "pick": best["arch_id"],
        "pick_score": float(best["score"]),
        "proxy_seconds": float(frame["seconds"].sum()),
        "setup_seconds": setup,
        "distill_seconds": float(frame["distill_seconds"].iloc[0]) if "distill_seconds" in frame else 0.0,
        "proxy_tflops": float(frame["flops"].sum()) / 1e12,
    }
    print(row, flush=True)
    return row, {"arch_id": best["arch_id"], "spec": json.loads(best["spec"])}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--teacher", default="results/teachers/gm.pt")
    ap.add_argument("--n-trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="search seeds (each search once per seed)")
    ap.add_argument("--fused-train", type=int, default=20, help="training architectures of each fused model")
    ap.add_argument("--zero-cost", nargs="+", default=list(ZERO_COST), help="the fused models' zero-cost scores")
    # The committed searches' models (fused-sS.json) fitted accuracy, before log-error became the default.
    ap.add_argument("--fused-target", default="accuracy", help="what the fused models' trees fit (fused.TARGETS)")
    ap.add_argument("--only", nargs="*", help="run only these searches (names as in the summary)")
    common.add_ground_truth(ap)
    ap.add_argument("--out", type=Path, default=Path("results/search"))
    common.add_workers(ap, help="searches run side by side, one thread each")
    ap.add_argument(
        "--gt-train-examples", type=int, help="smoke tests only: ground-truth the picks on this many images"
    )
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = lambda name: not args.only or name in args.only  # noqa: E731
    fused, fit_seconds = {}, {}
    for seed in args.seeds:
        if wanted("tpe-fused" + ("" if seed == 0 else f"-s{seed}")):
            fused[seed], fit_seconds[seed] = fit_fused(
                seed, args.fused_train, args.ground_truth, args.zero_cost, out, args.fused_target
            )
    todo = [
        (name, sampler, proxy, args.n_trials, out)
        for name, (sampler, proxy) in searches(args.teacher, fused, args.seeds).items()
        if wanted(name)
    ]
    with ProcessPoolExecutor(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        done = list(pool.map(run_one, todo))  # each search is resumable: its study lives in NAME.db
    rows = [
        {
            **row,
            "seed": proxy.seed,
            "fit_gt_seconds": fit_seconds.get(proxy.seed, 0.0) if proxy.kind == "fused" else 0.0,
        }
        for (row, _), (_, _, proxy, _, _) in zip(done, todo)
    ]
    picks = {row["search"]: pick for row, pick in done}
    data = load_mnist()
    judged = judge(picks, args.ground_truth, data, out, args.gt_train_examples)
    summary = pd.DataFrame([{**r, **judged[r["search"]]} for r in rows])
    summary, runs = kept_from_before(summary, out) if args.only else (summary, [])
    # Rows kept from runs before seeds and fused searches existed: seed 0, no fitted model.
    summary = summary.fillna({"seed": 0, "fit_gt_seconds": 0.0}).astype({"seed": int})
    summary = summary.drop(columns=["best_of_60_val_acc", "median_of_60_val_acc"], errors="ignore")  # the 60's
    summary = with_regret(summary, args.ground_truth)  # every row against the same ground truth
    write_csv(summary, out / "summary.csv")
    runs.append(
        {
            "command": common.command(),
            "date": common.utc_now(),
            "searches": [r["search"] for r in rows],
        }
    )
    meta = {"command": runs[-1]["command"], "date": runs[-1]["date"], "runs": runs, "hardware": common.hardware(1)}
    common.write_json(out / "summary.json", meta)  # hardware: each search's one thread
    print(summary.to_string(index=False))


def with_regret(summary: pd.DataFrame, gt_csv: Path) -> pd.DataFrame:
    """The ground truth's best and median, each pick's regret (points) and each search's cost as a
    share of the whole ground truth's training seconds."""
    gt = pd.read_csv(gt_csv)
    one_off = summary["setup_seconds"] + summary["fit_gt_seconds"]
    return summary.assign(
        gt_archs=len(gt),
        best_of_gt_val_acc=float(gt["val_acc"].max()),
        median_of_gt_val_acc=float(gt["val_acc"].median()),
        regret_points=100 * (float(gt["val_acc"].max()) - summary["pick_val_acc"]),
        cost_vs_gt=(summary["proxy_seconds"] + one_off) / float(gt["seconds"].sum()),
    )


def kept_from_before(summary: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, list[dict]]:
    """With --only: the other searches' rows of the earlier summary, in its order, and its runs."""
    if not (out / "summary.csv").exists():
        return summary, []
    before = pd.read_csv(out / "summary.csv")
    meta = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    runs = meta.get("runs") or (
        [{"command": meta["command"], "date": meta.get("date"), "searches": before["search"].tolist()}]
        if "command" in meta
        else []
    )
    merged = pd.concat([before[~before["search"].isin(summary["search"])], summary])
    order = {name: i for i, name in enumerate(before["search"])}
    return merged.sort_values("search", key=lambda c: c.map(lambda n: order.get(n, len(order)))).reset_index(
        drop=True
    ), runs


if __name__ == "__main__":
    main()
