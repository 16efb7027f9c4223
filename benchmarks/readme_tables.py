"""Fill the README's result tables from the files under results/ (nothing typed by hand).

Every block of README.md between `<!-- results:NAME -->` and `<!-- /results:NAME -->` is replaced
by a table built from the named results file; a missing file leaves the block as it is and is
reported. Deterministic: the same files give the same README bytes.

    python benchmarks/readme_tables.py            # rewrites README.md in place
    python benchmarks/readme_tables.py --check    # exit 1 if README.md differs from the files
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def md(frame: pd.DataFrame, fmt: str = ".3f") -> str:
    def cell(v):
        return format(v, fmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def speed() -> str:
    f = pd.read_csv(RESULTS / "meta_speed.csv")
    rows = []
    for method, g in f.groupby("method", sort=False):
        old_own = g[(g["code"] != "new") & (g["students"] == "0.1 students")]["sec_per_meta_step"].iloc[0]
        old_new = g[(g["code"] != "new") & (g["students"] == "new students")]["sec_per_meta_step"].iloc[0]
        new = g[g["code"] == "new"]
        rows.append({"method": method, "0.1, its students (s)": old_own, "0.1, new students (s)": old_new,
                     "new (s)": new["sec_per_meta_step"].iloc[0], "speed-up, same students": old_new / new["sec_per_meta_step"].iloc[0],
                     "speed-up vs 0.1 as shipped": old_own / new["sec_per_meta_step"].iloc[0]})
    return md(pd.DataFrame(rows), ".2f")


def memory() -> str:
    f = pd.read_csv(RESULTS / "meta_cost.csv").dropna(subset=["peak_mem_mb"])
    mem = f.pivot(index="T", columns="method", values="peak_mem_mb")
    sec = f.pivot(index="T", columns="method", values="sec_per_meta_step")
    out = pd.DataFrame({"T": mem.index})
    for m in mem.columns:
        out[f"{m} MB"] = mem[m].round(0).astype(int).to_numpy()
    for m in ("ift", "gm", "bptt"):
        if m in mem and "bptt-full" in mem:
            out[f"{m} ÷ bptt-full"] = (mem[m] / mem["bptt-full"]).to_numpy()
    for m in sec.columns:
        out[f"{m} s"] = sec[m].to_numpy()
    return md(out, ".2f")


def ablation() -> str:
    f = pd.read_csv(RESULTS / "teachers" / "ablation.csv")
    cols = {"variant": "variant", "what": "what it changes", "meta_steps": "meta-steps in budget",
            "retained_raw": "retained", "retained_calibrated": "retained, calibrated"}
    return md(f[list(cols)].rename(columns=cols), ".3f").replace("| nan |", "| – |")


def wall_times(path: Path) -> str:
    f = pd.read_csv(path)
    cols = {"method": "method", "meta_steps": "meta-steps", "wall_s": "wall time (s)", "meta_training_s": "meta-training (s)",
            "val_acc_2k_3_students": "val. acc. (3 distillation students)", "calibration": "calibration",
            "loadavg_1min_at_end": "load avg. at end"}
    cols = {k: v for k, v in cols.items() if k in f}
    f = f.assign(wall_s=f["wall_s"].round().astype(int), meta_training_s=f["meta_training_s"].round().astype(int))
    return md(f[list(cols)].rename(columns=cols).fillna(""), ".3f")


def default_teachers() -> str:
    return wall_times(RESULTS / "teachers" / "default" / "wall_time.csv")


def long_teachers() -> str:
    return wall_times(RESULTS / "teachers" / "wall_time.csv")


def distributed() -> str:
    f = pd.read_csv(RESULTS / "distributed.csv")
    cols = {"students_per_step": "K", "processes": "processes", "threads_per_process": "threads each",
            "meta_steps_per_min": "meta-steps / min", "students_per_min": "students / min"}
    v = pd.read_csv(RESULTS / "distributed_variance.csv")
    speed = md(f[list(cols)].rename(columns=cols), ".2f")
    var = md(v[["students_per_step", "relative_variance", "variance_vs_k1"]].rename(
        columns={"students_per_step": "K", "relative_variance": "variance ÷ |mean|²", "variance_vs_k1": "variance ÷ K=1's"}), ".3f")
    return speed + "\n\n" + var


def quality() -> str:
    f = pd.read_csv(RESULTS / "teacher_quality" / "summary.csv")
    cols = {"source": "data for the 32 steps", "test_acc_mean": "test acc. (mean)", "test_acc_sd_over_seeds": "s.d. over seeds",
            "worst_arch_acc": "worst arch", "retained_mean": "retained (mean)", "retained_min": "retained (worst)",
            "spearman_vs_full": "Spearman vs full training"}
    return md(f[list(cols)].rename(columns=cols), ".3f")


def nas() -> str:
    f = pd.read_csv(RESULTS / "nas_correlation.csv")
    out = pd.DataFrame({
        "proxy": f["proxy"],
        "Spearman ρ [95% CI]": [f"{r.spearman:.2f} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}]" for r in f.itertuples()],
        "Kendall τ": f["kendall"], "ρ, top 50%": f["spearman_top50"], "top-10": f["top10_overlap"], "regret": f["regret"],
        "FLOPs ÷ GT": f["flops_ratio"]})
    return md(out, ".3f")


def ift_alignment() -> str:
    text = (RESULTS / "ift_alignment.md").read_text()
    return "\n".join(ln for ln in text.splitlines() if ln.startswith("|"))


BLOCKS = {"speed": speed, "memory": memory, "ablation": ablation, "default-teachers": default_teachers,
          "long-teachers": long_teachers, "distributed": distributed,
          "quality": quality, "nas": nas, "ift-alignment": ift_alignment}


def render(readme: str) -> tuple[str, list[str]]:
    missing = []

    def fill(m: re.Match) -> str:
        name = m.group(1)
        try:
            table = BLOCKS[name]()
        except FileNotFoundError as exc:
            missing.append(f"{name}: {exc.filename} is missing")
            return m.group(0)
        except KeyError as exc:  # a results file from an older version of its benchmark
            missing.append(f"{name}: column {exc} missing (rerun its benchmark)")
            return m.group(0)
        return f"<!-- results:{name} -->\n{table}\n<!-- /results:{name} -->"

    return re.sub(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", fill, readme, flags=re.S), missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    text, missing = render(path.read_text())
    for line in missing:
        print(f"missing: {line}", file=sys.stderr)
    if args.check:
        sys.exit(0 if text == path.read_text() else 1)
    path.write_text(text)


if __name__ == "__main__":
    main()
