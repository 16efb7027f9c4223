"""The ground-truth and yardstick pages."""

from __future__ import annotations

import json

import pandas as pd

from . import figures as draw
from .figures import markdown_table
from .inputs import Inputs, _command_block, _num


def ground_truth_md(frame: pd.DataFrame, meta: dict, name: str, yardstick: bool = False) -> str:
    epochs = "/".join(str(v) for v in sorted(frame["epochs"].unique())) if "epochs" in frame else "?"
    epochs += " epoch" if epochs == "1" else " epochs"
    seeds = "/".join(str(v) for v in sorted(frame["n_seeds"].unique())) if "n_seeds" in frame else "?"
    acc = frame["val_acc"]
    text = (
        f"# Ground truth\n\n`{name}`: {len(frame)} architectures drawn (seed {meta.get('arch_seed', '?')}) from "
        f"`search_spaces/{meta.get('space', '?')}.toml`, each trained from scratch "
        f"on the 50k training split for {epochs} "
        f"({meta.get('training', 'see the command')}) with {seeds} seeds, scored on the 10k validation split (mean "
        "`val_acc`, spread `val_acc_sd`, every seed in `val_accs`) and on the test split (`test_acc`). `seconds` is "
        "training + evaluation wall time summed over seeds, "
        f"{meta.get('machine', 'machine not recorded')}, so it is noisy; "
        "`train_flops` counts forward+backward FLOPs with `torch.utils.flop_counter`.\n\n"
        f"Validation accuracy ranges from {acc.min():.4f} to {acc.max():.4f} (median {acc.median():.4f}).\n\n"
        f"Command{' (' + meta['note'] + ')' if meta.get('note') else ''}:\n\n" + _command_block(meta["command"])
    )
    if yardstick:
        text += "\nIs one epoch enough to rank them? `yardstick.md` compares 1 and 3 epochs.\n"
    return text


LARGER = {  # issue 33's larger set (benchmarks/larger_set.py): file -> (architectures planned, what)
    "convnet250.csv": (250, "ConvNets of `convnet.toml`: the 60 above and 190 more (`convnet250_new.csv`)"),
    "mlp100.csv": (100, "MLPs of `mlp.toml`"),
}


def larger_set_md(inputs: Inputs) -> str:
    """The larger evaluation set's files, as far as they have run (same protocol as convnet.csv)."""
    lines = []
    for name, (planned, what) in LARGER.items():
        if not inputs.exists(f"ground_truth/{name}"):
            continue
        f = inputs.csv(f"ground_truth/{name}", ("arch_id",), ("val_acc", "seconds"))
        acc = f["val_acc"]
        lines.append(
            f"- `{name}`: {len(f)} of {planned} {what}; validation accuracy {acc.min():.4f} to {acc.max():.4f} "
            f"(median {acc.median():.4f}); {f['seconds'].sum() / 60:.0f} minutes of training summed over its rows "
            "(one thread beside other runs: not a timing)."
        )
    if not lines:
        return ""
    return (
        "\n## The larger evaluation set (issue 33)\n\nDrawn by `benchmarks/larger_set.py` (seed 33; disjoint from "
        "the ranking pools, held-out nets and distillation students, a test checks the ids), trained with the protocol "
        "above (1 epoch, 2 seeds, one thread), resumable:\n\n"
        + "\n".join(lines)
        + "\n\n"
        + _command_block(
            "GTN_NAS_THREADS=1 gtn-nas ground-truth --space results/ground_truth/convnet250_new_archs.toml "
            "--n-archs 190 --epochs 1 --seeds 2 --out results/ground_truth/convnet250_new.csv --wait\n"
            "python benchmarks/larger_set.py --merge\n"
            "GTN_NAS_THREADS=1 gtn-nas ground-truth --space results/ground_truth/mlp100_archs.toml "
            "--n-archs 100 --epochs 1 --seeds 2 --out results/ground_truth/mlp100.csv --wait"
        )
    )


def _ground_truth(inputs: Inputs) -> dict:
    frame = inputs.csv("ground_truth/convnet.csv", ("arch_id",), ("val_acc",))
    meta = inputs.json("ground_truth/convnet.json", ("command",))
    text = ground_truth_md(frame, meta, "convnet.csv", inputs.exists("ground_truth/yardstick.csv"))
    return {"ground_truth/README.md": text + larger_set_md(inputs)}


YARDSTICK_COLUMNS = ("arch_id",)
YARDSTICK_NUMERIC = ("val_acc_1ep", "val_acc_3ep")


def yardstick_md(frame: pd.DataFrame, meta: dict, png: str = "yardstick.png") -> str:
    table = frame.sort_values(["val_acc_3ep", "arch_id"], ascending=[False, True])[["arch_id", *YARDSTICK_NUMERIC]]
    table = table.assign(
        rank_1ep=table["val_acc_1ep"].rank(ascending=False, method="min").astype(int),
        rank_3ep=table["val_acc_3ep"].rank(ascending=False, method="min").astype(int),
    )
    table.columns = ["arch_id", "val. acc. 1 epoch", "val. acc. 3 epochs", "rank, 1 epoch", "rank, 3 epochs"]
    kendall = (
        f"; Kendall τ {_num(meta['kendall'], '.3f')} "
        f"[{_num(meta.get('kendall_lo'), '.2f')}, {_num(meta.get('kendall_hi'), '.2f')}]"
        if "kendall" in meta
        else ""
    )
    trained = f"The 3-epoch training: `{meta['long_command']}`.\n\n" if meta.get("long_command") else ""
    return (
        "# Yardstick: does 1 epoch of full training rank like 3?\n\n"
        f"Command: `{meta['command']}`\n\n{trained}"
        f"Between the validation accuracies after 1 and after 3 epochs over {int(meta['n'])} architectures: Spearman ρ "
        f"**{_num(meta['spearman'], '.3f')}** "
        f"[{_num(meta['spearman_lo'], '.2f')}, {_num(meta['spearman_hi'], '.2f')}]{kendall} "
        f"(95% bootstrap intervals). Plot: `{png}`.\n\n" + markdown_table(table, ".4f")
    )


def _yardstick(inputs: Inputs) -> dict:
    frame = inputs.csv("ground_truth/yardstick.csv", YARDSTICK_COLUMNS, YARDSTICK_NUMERIC)
    meta = inputs.json("ground_truth/yardstick.json", ("command", "spearman", "spearman_lo", "spearman_hi", "n"))
    fig = draw.agreement_figure(
        frame["val_acc_1ep"],
        frame["val_acc_3ep"],
        "validation accuracy, 1 epoch",
        "validation accuracy, 3 epochs",
        f"ρ = {_num(meta['spearman'], '.3f')} (n = {int(meta['n'])})",
    )
    return {"ground_truth/yardstick.md": yardstick_md(frame, meta), "ground_truth/yardstick.png": fig}


def seed_ceiling(frame: pd.DataFrame) -> float:
    """Spearman ρ between the rankings of a ground truth's first two training seeds (`val_accs`):
    the most any proxy can be expected to agree with the seed-mean ranking, roughly."""
    from scipy.stats import spearmanr

    accs = [json.loads(v) for v in frame["val_accs"]]
    return float(spearmanr([a[0] for a in accs], [a[1] for a in accs]).statistic)


def rank_pool_md(stem: str):
    """ground_truth/STEM.md: a ranking pool of `--objective rank`, its split and its cost."""

    def section(inputs: Inputs) -> dict:
        from gtn_nas.api.lab import RankPool

        frame = inputs.csv(f"ground_truth/{stem}.csv", ("arch_id", "spec", "val_accs"), ("val_acc", "seconds"))
        meta = inputs.json(f"ground_truth/{stem}.json", ("command",))
        pool = RankPool.load(inputs.root / f"ground_truth/{stem}.csv")
        convnet = inputs.csv("ground_truth/convnet.csv", ("arch_id", "val_accs"), ("val_acc",))
        text = ground_truth_md(frame, meta, f"{stem}.csv").replace(
            "# Ground truth", "# Ground truth of a ranking pool", 1
        )
        families = frame["family"].value_counts().to_dict() if "family" in frame else {}
        text += (
            f"\n\nA pool for `gtn-nas distill --objective rank --rank-pool`: {len(pool.train)} "
            "rank-train architectures (meta-gradients) "
            f"and {len(pool.val)} rank-val (model selection: `rank_val_rho` in the metrics CSV), "
            "split by a hash of the id; "
            f"families {', '.join(f'{k} {v}' for k, v in sorted(families.items()))}. "
            "Its cost, paid once and shipped with this file: "
            f"{frame['seconds'].sum() / 3600:.2f} h of training summed over "
            f"architectures and seeds ({meta.get('machine', 'machine not recorded')}). None of its ids is an "
            "evaluation, yardstick or held-out net (`tests/teachers/test_rank_objective.py`).\n\n"
            "Ceiling: Spearman ρ between the rankings of the two training seeds, "
            f"{seed_ceiling(frame):.3f} over this pool and "
            f"{seed_ceiling(convnet):.3f} over the 60 ConvNets of `convnet.csv`.\n"
        )
        return {f"ground_truth/{stem}.md": text}

    return section
