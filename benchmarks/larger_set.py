"""Issue 33, part 1: the architectures of the larger evaluation set, and the merge of its ground truth.

250 ConvNets of the built-in `convnet` space (the 60 of results/ground_truth/convnet.csv first, then
190 more) and 100 MLPs of the built-in `mlp` space, all disjoint from the ranking pools
(results/ground_truth/rank_pool*.csv), the yardstick (yardstick_archs.csv, yardstick.csv), the
held-out nets (search_spaces/heldout.toml) and the distillation students (search_spaces/distill.toml),
with one exception forced by "the 60 included": the yardstick's 20 ConvNets (yardstick_archs.csv)
were drawn from the 60 of convnet.csv, so they stay in (they check 1 vs 3 epochs of the ground
truth itself; no proxy is tuned on them). The 190 new ones and the 100 MLPs avoid them too.

The extra architectures are drawn deterministically: the candidates (the space in its enumeration
order, less every excluded id and, for ConvNets, less the 60) are sampled without replacement by
`random.Random(SEED).sample`, SEED = 33 (one fresh generator per space).

    python benchmarks/larger_set.py            # write the space files below, print the ground-truth commands
    python benchmarks/larger_set.py --check    # verify the files: counts, the 60 included, disjointness, determinism
    python benchmarks/larger_set.py --merge    # convnet.csv + convnet250_new.csv -> convnet250.csv (250, file order)

Files (results/ground_truth/):
- convnet250_archs.toml      the 250 ConvNets ([[arch]] tables; the 60 first)
- convnet250_new_archs.toml  the 190 not yet trained (what the ground-truth run trains; the 60 keep their rows)
- mlp100_archs.toml          the 100 MLPs

The 60 existing rows are reused rather than retrained: their Optuna study file is not in the
repository, so the run covers the 190 new ConvNets (a study of their own, resumable) and --merge
joins the two CSVs. Both runs follow the protocol of convnet.csv (1 epoch, 2 seeds, Adam lr 1e-3,
batch 128, one thread).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gtn_nas.api import arch_id, load_space, specs_from_csv  # noqa: E402

SEED = 33  # seed of the extra draw (issue number); one random.Random(SEED) per space
N_CONV, N_MLP = 250, 100
GT = ROOT / "results" / "ground_truth"
CONV_ALL = GT / "convnet250_archs.toml"
CONV_NEW = GT / "convnet250_new_archs.toml"
MLP_ALL = GT / "mlp100_archs.toml"
EXISTING = GT / "convnet.csv"
NEW_CSV, MERGED_CSV, MLP_CSV = GT / "convnet250_new.csv", GT / "convnet250.csv", GT / "mlp100.csv"

PROTOCOL = "--epochs 1 --seeds 2"  # that of convnet.csv (results/ground_truth/README.md)


def gt_command(space: Path, n: int, out: Path) -> str:
    rel = lambda p: p.relative_to(ROOT).as_posix()
    return (
        f"GTN_NAS_THREADS=1 gtn-nas ground-truth --space {rel(space)} --n-archs {n} {PROTOCOL} "
        f"--out {rel(out)} --wait --quiet"
    )


def excluded() -> dict[str, set[str]]:
    """Every id the larger set must avoid, by where it comes from."""
    import csv

    out: dict[str, set[str]] = {}
    for path in sorted(GT.glob("rank_pool*.csv")) + [GT / "yardstick_archs.csv", GT / "yardstick.csv"]:
        with path.open(newline="") as fh:
            out[path.relative_to(ROOT).as_posix()] = {r["arch_id"] for r in csv.DictReader(fh)}
    for name in ("heldout", "distill"):
        path = ROOT / "search_spaces" / f"{name}.toml"
        out[path.relative_to(ROOT).as_posix()] = set(load_space(path).ids())
    return out


def yardstick_ids() -> set[str]:
    """The excluded ids the 60 of convnet.csv may contain: the yardstick's, a subset of them."""
    ex = excluded()
    return ex["results/ground_truth/yardstick_archs.csv"] | ex["results/ground_truth/yardstick.csv"]


def draw() -> tuple[list[dict], list[dict], list[dict]]:
    """(the 60 existing ConvNets, the 190 new ones, the 100 MLPs)."""
    banned = set().union(*excluded().values())
    old = specs_from_csv(EXISTING)
    clash = sorted({arch_id(s) for s in old} & (banned - yardstick_ids()))
    if clash:
        raise SystemExit(f"convnet.csv overlaps the excluded sets: {clash}")
    old_ids = {arch_id(s) for s in old}
    conv = [s for s in load_space("convnet").archs if arch_id(s) not in banned | old_ids]
    mlp = [s for s in load_space("mlp").archs if arch_id(s) not in banned]
    new = random.Random(SEED).sample(conv, N_CONV - len(old))
    mlps = random.Random(SEED).sample(mlp, N_MLP)
    return old, new, mlps


def to_toml(name: str, description: str, specs: list[dict]) -> str:
    lines = [
        "# Written by benchmarks/larger_set.py (issue 33, part 1); do not edit by hand.",
        f"# Extra architectures drawn with random.Random({SEED}).sample; see that script.",
        f'name = "{name}"',
        f'description = "{description}"',
    ]
    for s in specs:
        lines += ["", "[[arch]]"] + [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    return "\n".join(lines) + "\n"


def files() -> dict[Path, str]:
    old, new, mlps = draw()
    return {
        CONV_ALL: to_toml(
            "convnet250",
            f"{N_CONV} ConvNets of the convnet space: the 60 of convnet.csv, then {len(new)} drawn (seed {SEED})",
            old + new,
        ),
        CONV_NEW: to_toml(
            "convnet250_new", f"The {len(new)} ConvNets of convnet250_archs.toml not in convnet.csv", new
        ),
        MLP_ALL: to_toml("mlp100", f"{N_MLP} MLPs of the mlp space drawn (seed {SEED})", mlps),
    }


def check() -> int:
    problems = []
    for path, text in files().items():
        if not path.is_file():
            problems.append(f"{path.name}: missing (run without --check to write it)")
        elif path.read_text() != text:
            problems.append(f"{path.name}: differs from a fresh deterministic draw")
    if problems:
        print("\n".join(problems))
        return 1
    conv, new, mlp = (load_space(p) for p in (CONV_ALL, CONV_NEW, MLP_ALL))
    conv_space, mlp_space = set(load_space("convnet").ids()), set(load_space("mlp").ids())
    old = [arch_id(s) for s in specs_from_csv(EXISTING)]
    ids = {"convnet250": conv.ids(), "mlp100": mlp.ids()}
    if len(set(ids["convnet250"])) != N_CONV or not set(ids["convnet250"]) <= conv_space:
        problems.append(f"convnet250: expected {N_CONV} distinct ids of the convnet space")
    if len(set(ids["mlp100"])) != N_MLP or not set(ids["mlp100"]) <= mlp_space:
        problems.append(f"mlp100: expected {N_MLP} distinct ids of the mlp space")
    if conv.ids()[: len(old)] != old:
        problems.append("convnet250: does not start with the 60 ids of convnet.csv")
    if set(new.ids()) != set(conv.ids()) - set(old) or len(new) != N_CONV - len(old):
        problems.append("convnet250_new: is not convnet250 less the 60")
    allowed = yardstick_ids() & set(old)  # the yardstick's 20, inside the 60 by construction
    if allowed != yardstick_ids():
        problems.append("the yardstick is no longer a subset of convnet.csv's 60")
    for where, bad in excluded().items():
        print(
            f"  {where}: {len(bad)} ids; overlap with convnet250 {len(bad & set(ids['convnet250']))} "
            f"(new 190: {len(bad & set(new.ids()))}), mlp100 {len(bad & set(ids['mlp100']))}"
        )
        for name, got in ids.items():
            hit = sorted((bad & set(got)) - allowed)
            if hit:
                problems.append(f"{name} overlaps {where}: {', '.join(hit)}")
    if problems:
        print("\n".join(problems))
        return 1
    print(
        f"ok: {N_CONV} ConvNets ({len(old)} from convnet.csv + {len(new)} drawn), {N_MLP} MLPs; seed {SEED}; "
        "disjoint from every excluded set except the yardstick's "
        f"{len(allowed)} inside the 60; files match a fresh draw"
    )
    return 0


def merge() -> int:
    import pandas as pd

    order = load_space(CONV_ALL).ids()
    frames = [pd.read_csv(p) for p in (EXISTING, NEW_CSV) if p.is_file()]
    df = pd.concat(frames, ignore_index=True).drop_duplicates("arch_id")
    df = df[df.arch_id.isin(order)].set_index("arch_id").reindex([a for a in order if a in set(df.arch_id)])
    df.reset_index().to_csv(MERGED_CSV, index=False)
    print(f"wrote {MERGED_CSV.relative_to(ROOT)}: {len(df)} of {len(order)} ConvNets")
    return 0 if len(df) == len(order) else 3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the written files instead of writing them")
    ap.add_argument("--merge", action="store_true", help="join convnet.csv and convnet250_new.csv into convnet250.csv")
    args = ap.parse_args()
    print("$ " + shlex.join(["python", *sys.argv]))
    if args.check:
        return check()
    if args.merge:
        return merge()
    for path, text in files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)} ({text.count('[[arch]]')} architectures)")
    print("ground-truth commands (run from the repository root, one after the other):")
    print("  " + gt_command(CONV_NEW, N_CONV - 60, NEW_CSV))
    print("  " + gt_command(MLP_ALL, N_MLP, MLP_CSV))
    print("then: python benchmarks/larger_set.py --merge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
