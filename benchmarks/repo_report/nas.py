"""Architecture-search pages: rank correlation, scatter plots, the cost frontier, a proxy beside naswot, search runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import figures as draw
from .figures import markdown_table
from .inputs import Inputs, _blank_na, _command_block, _num

NAS_KEYS = ("command", "searches", "rank", "ground_truth", "bootstrap")


def nas_commands_md(meta: dict, prefix: str = "") -> str:
    note = f"{meta['note']}\n\n" if meta.get("note") else ""
    return (
        f"# Commands that made `{prefix}nas_correlation.*` and `{prefix}nas/`\n\n{note}"
        + _command_block(meta["command"])
        + "\nwhich ran:\n\n"
        + _command_block(*meta["searches"], meta["rank"])
    )


def nas_correlation_md(table: pd.DataFrame, meta: dict, prefix: str = "") -> str:
    from gtn_nas.api import to_markdown

    return (
        "# Proxies against full training: rank correlation and cost\n\n"
        f"Command: `{meta['command']}` (each search and the rank command: `{prefix}nas/COMMANDS.md`). Scatter plots of "
        f"every proxy's score against the ground truth: `{prefix}nas/plots/` (`all.png`: every proxy).\n\n"
        + to_markdown(table, meta["ground_truth"], int(meta["bootstrap"]))
    )


def proxy_frame(runs: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """One search output joined with the ground truth on arch_id, with the spec's depth and norm."""
    both = runs.merge(ground_truth[["arch_id", "val_acc"]], on="arch_id")
    specs = [json.loads(s) for s in both["spec"]]
    return both.assign(depth=[s.get("depth") for s in specs], norm=[s.get("norm") for s in specs])


def _nas(prefix: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        from gtn_nas.api.lab import correlations

        meta = inputs.json(f"{prefix}nas/commands.json", NAS_KEYS)
        table = inputs.csv(f"{prefix}nas_correlation.csv", ("proxy",), ("n",))
        gt = inputs.csv(
            inputs.in_results(meta["ground_truth"], meta.get("results", "results")), ("arch_id",), ("val_acc",)
        )
        out = {
            f"{prefix}nas_correlation.md": nas_correlation_md(table, meta, prefix),
            f"{prefix}nas/COMMANDS.md": nas_commands_md(meta, prefix),
        }
        order = list(table["proxy"])
        panels = []
        for rel in inputs.glob(f"{prefix}nas/*.csv"):
            frame = proxy_frame(inputs.csv(rel, ("arch_id", "proxy", "spec"), ("score",)), gt)
            name = str(frame["proxy"].iloc[0]) if len(frame) else Path(rel).stem
            rho, tau = correlations(frame["score"].to_numpy(float), frame["val_acc"].to_numpy(float))
            title = f"{name}: ρ = {rho:.2f}, τ = {tau:.2f} (n = {len(frame)})"
            out[f"{prefix}nas/plots/{Path(rel).stem}.png"] = draw.proxy_scatter_figure(frame, name, title)
            panels.append((order.index(name) if name in order else len(order), name, title, frame))
        out[f"{prefix}nas/plots/all.png"] = draw.proxy_panels_figure(
            [p[1:] for p in sorted(panels, key=lambda p: (p[0], p[1]))]
        )
        return out

    return build


FRONTIER_COLUMNS = ("proxy",)
FRONTIER_NUMERIC = (
    "steps",
    "val_examples",
    "seeds",
    "spearman",
    "spearman_lo",
    "spearman_hi",
    "kendall",
    "top10",
    "flops_ratio",
    "seconds_ratio",
)


def frontier_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The points per ground truth they were ranked against (a frontier compares like with like)."""
    if "ground_truth" not in frame:
        return [("", frame)]
    return [(str(gt), g) for gt, g in frame.groupby("ground_truth", sort=False)]


def _setting(v, fmt: str) -> str:
    return "–" if v == 0 else _num(v, fmt)  # zero-cost proxies: no training steps, no validation images


def frontier_table(frame: pd.DataFrame, compact: bool = False) -> pd.DataFrame:
    """Every proxy setting, by proxy then cost, with its 95% interval and whether it is on the Pareto
    front of its ground truth (no other point as cheap in FLOPs or cheaper is as good in ρ or better);
    `compact`: the Pareto points only, fewer columns (the README's block)."""
    parts = []
    for gt, g in frontier_groups(frame):
        front = draw.pareto_front(g["flops_ratio"].to_numpy(float), g["spearman"].to_numpy(float))
        parts.append(
            g.assign(pareto=["yes" if p else "" for p in front], gt=gt).sort_values(
                ["proxy", "flops_ratio", "val_examples", "steps"]
            )
        )
    f = pd.concat(parts)
    out = pd.DataFrame(
        {
            "ground truth": f["gt"],
            "proxy": f["proxy"],
            "steps": f["steps"].map(lambda v: _setting(v, ".0f")),
            "val. examples": f["val_examples"].map(lambda v: _setting(v, ",.0f")),
            "seeds": f["seeds"].map(lambda v: _num(v, ".0f")),
            "Spearman ρ [95% CI]": [
                f"{_num(r.spearman, '.3f')} [{_num(r.spearman_lo, '.2f')}, {_num(r.spearman_hi, '.2f')}]"
                for r in f.itertuples()
            ],
            "Kendall τ": f["kendall"].map(lambda v: _num(v, ".3f")),
            "top-10": f["top10"].map(lambda v: _num(v, ".1f")),
            "FLOPs ÷ GT": f["flops_ratio"].map(lambda v: _num(v, ".2e")),
            "seconds ÷ GT": f["seconds_ratio"].map(lambda v: _num(v, ".2e")),
            "Pareto": f["pareto"],
        }
    )
    if compact:  # the frontier itself: the settings worth paying for
        out = out[out["Pareto"] == "yes"].drop(columns=["Kendall τ", "top-10", "seconds ÷ GT", "Pareto"])
    return out if "ground_truth" in frame else out.drop(columns=["ground truth"])


def frontier_md(frame: pd.DataFrame, meta: dict, png: str = "nas_frontier.png") -> str:
    gt = f" Ground truth: `{meta['ground_truth']}`." if meta.get("ground_truth") else ""
    tables = [
        (f"## Against the ground truth: {name}\n\n" if name else "")
        + markdown_table(frontier_table(g).drop(columns=["ground truth"], errors="ignore"))
        for name, g in frontier_groups(frame)
    ]
    return (
        "# What does a better ranking cost? Proxy settings against their rank correlation\n\n"
        + (
            "Runs that trained the scores (resumable, in this order):\n\n" + _command_block(*meta["runs"]) + "\n"
            if meta.get("runs")
            else ""
        )
        + f"Command (the summary): `{meta['command']}`\n\n"
        "One row per proxy setting (training steps, validation examples scored, seeds averaged; `–`: a zero-cost "
        "proxy, which trains nothing): Spearman ρ and Kendall τ with the ground truth (95% bootstrap interval), "
        "overlap of the top-10, and the proxy's cost ÷ the ground truth's over the same architectures. `Pareto`: no "
        "other setting is both at most as costly in FLOPs and at least as good in ρ."
        f"{gt} Plot: `{png}`.\n\n" + "\n".join(tables)
    )


def _frontier(inputs: Inputs) -> dict:
    frame = inputs.csv("nas_frontier.csv", FRONTIER_COLUMNS, FRONTIER_NUMERIC)
    meta = inputs.json("nas_frontier.json", ("command",))
    return {"nas_frontier.md": frontier_md(frame, meta), "nas_frontier.png": draw.frontier_figure(frame)}


HISTORY_NUMERIC = ("trial", "score", "best_so_far")


def search_md(summary: pd.DataFrame, meta: dict, histories: list[str]) -> str:
    plots = "".join(f"\n- `{h}.csv`: `plots/{h}.png`" for h in histories)
    when = "; ".join(str(meta[k]) for k in ("hardware", "date") if meta.get(k))
    runs = meta.get("runs") or []
    # A summary partly redone with --only names every run and the searches each one made.
    made = (
        "Commands: " + "; then ".join(f"`{r['command']}` ({', '.join(r['searches'])}; {r.get('date')})" for r in runs)
        if len(runs) > 1
        else f"Command: `{meta['command']}`"
    )
    return (
        f"# Search runs\n\n{made}{f' ({when})' if when else ''}\n\n"
        + markdown_table(_blank_na(summary))
        + (
            f"\nOptimisation history of each search (every trial's score and the best so far):\n{plots}\n"
            if histories
            else ""
        )
    )


def _search(inputs: Inputs) -> dict:
    summary = inputs.csv("search/summary.csv")
    meta = inputs.json("search/summary.json", ("command",))
    # The searches the summary names (other CSVs in search/, e.g. the picks' ground truth, are not histories).
    names = [str(s) for s in summary["search"]] if "search" in summary else []
    out = {}
    for name in names:
        frame = inputs.csv(f"search/{name}.csv", (), HISTORY_NUMERIC).sort_values("trial", kind="stable")
        out[f"search/plots/{name}.png"] = draw.history_figure(frame, name)
    out["search/summary.md"] = search_md(summary, meta, names)
    return out


COMBINATION_NUMERIC = (
    "steps",
    "val_examples",
    "init_seed",
    "rho_alone",
    "rho_with_naswot",
    "rho_alone_3ep",
    "rho_with_naswot_3ep",
)


def combination_pivot(frame: pd.DataFrame, val: int, seed: int, suffix: str = "") -> pd.DataFrame:
    """Proxy x steps: "rho alone → rho with naswot" at one validation size and initialisation."""
    f = frame[(frame["val_examples"] == val) & (frame["init_seed"] == seed)]
    cell = f.assign(cell=[f"{a:.2f} → {b:.2f}" for a, b in zip(f[f"rho_alone{suffix}"], f[f"rho_with_naswot{suffix}"])])
    table = cell.pivot(index="proxy", columns="steps", values="cell")
    table.columns = [f"{int(c)} steps" for c in table.columns]
    return table.reset_index()


def nas_combination_md(frame: pd.DataFrame, meta: dict) -> str:
    pair = meta["pair"]
    diffs = frame.dropna(subset=["diff"])
    cols = {
        f"ρ({pair[0]}+naswot) − ρ({pair[1]}+naswot) [95% CI]": "diff",
        f"ρ({pair[0]}) − ρ({pair[1]}) [95% CI]": "diff_alone",
    }
    cols = {
        name: c for name, c in cols.items() if c in diffs
    }  # files written before the proxies alone were paired lack them
    diffs = diffs[["steps", "val_examples", "init_seed"]].assign(
        **{
            name: [
                f"{d:+.3f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in zip(diffs[c], diffs[f"{c}_lo"], diffs[f"{c}_hi"])
            ]
            for name, c in cols.items()
        }
    )
    seeds = sorted(frame["init_seed"].unique())
    return (
        "# A trained proxy beside a zero-cost one: rank-averaged with naswot\n\n"
        f"Command: `{meta['command']}` ({meta['date']}; "
        f"reads `{meta['scores']}` and `{meta['naswot']}`, trains nothing)\n\n"
        "Each cell: Spearman ρ of the proxy alone → of its combination with naswot (each architecture's mean rank "
        "under both, `gtn-nas rank --combine P+naswot`), against the 1-epoch ground truth over the 60 ConvNets; "
        f"naswot alone: see `nas_correlation.md`. 1,000 validation images, initialisation 0:\n\n"
        + markdown_table(combination_pivot(frame, 1000, 0))
        + "\n10,000 validation images, initialisation 0:\n\n"
        + markdown_table(combination_pivot(frame, 10000, 0))
        + "\nAgainst the 3-epoch yardstick (its 20 nets), 1,000 validation images, initialisation 0:\n\n"
        + markdown_table(combination_pivot(frame, 1000, 0, "_3ep"))
        + f"\nPaired: the same {meta['bootstrap']} bootstrap resamples of the 60 architectures for both proxies "
        f"(seed {meta['seed']}), percentile 95% interval; initialisations {', '.join(str(int(s)) for s in seeds)} "
        "where the frontier has them:\n\n"
        + markdown_table(diffs.astype({"steps": int, "val_examples": int, "init_seed": int}))
    )


def _nas_combination(inputs: Inputs) -> dict:
    frame = inputs.csv("nas_combination.csv", ("proxy",), COMBINATION_NUMERIC)
    meta = inputs.json("nas_combination.json", ("command", "date", "bootstrap", "seed", "pair", "naswot", "scores"))
    return {"nas_combination.md": nas_combination_md(frame, meta)}


def _rank_md(
    folder: str, ground_truth: str, n_boot: int = 1000, name: str = "nas_correlation"
) -> Callable[[Inputs], dict]:
    """FOLDER/NAME.md from the CSV that `gtn-nas rank --out-csv` wrote beside it (the Markdown
    `--out-md` wrote is this rendering of it)."""

    def build(inputs: Inputs) -> dict:
        from gtn_nas.api import to_markdown

        table = inputs.csv(f"{folder}/{name}.csv", ("proxy",), ("n",))
        return {f"{folder}/{name}.md": to_markdown(table, ground_truth, n_boot)}

    return build
