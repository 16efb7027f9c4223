"""rank: every metric checked against an example worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from cli_run import assert_one_line_error, cli
from typer.testing import CliRunner

from gtn_nas.cli.commands import app
from gtn_nas.core.errors import ConfigError
from gtn_nas.nas.ranking import load_runs, rank_all, rank_proxy, top_k_overlap
from gtn_nas.report.rank_markdown import to_markdown

# Twelve architectures a01..a12 with ground truth val_acc = 0.80 + i/100 (so the true rank is i),
# and a proxy whose ranks swap 4<->5 and 7<->12:  p = 1 2 3 5 4 6 12 8 9 10 11 7.
P = [1, 2, 3, 5, 4, 6, 12, 8, 9, 10, 11, 7]
IDS = [f"a{i:02d}" for i in range(1, 13)]

# By hand:
#   Spearman  rho = 1 - 6 Σd² / (n(n²-1)),  Σd² = 1+1+25+25 = 52  ->  1 - 312/1716 = 9/11
#   Kendall   tau = (C - D) / 66; discordant pairs = inversions of p = 1 (5,4) + 5 (12 before 8,9,10,11,7)
#             + 4 (8,9,10,11 before 7) = 10  ->  (56 - 10)/66 = 23/33
#   Top 50%:  a07..a12, proxy ranks among them 6 2 3 4 5 1: Σd² = 25+25 = 50 -> 1 - 300/210 = -3/7;
#             inversions 5 + 4 = 9 of 15 pairs -> (6 - 9)/15 = -1/5
#   Top-5:    true {a08..a12}, proxy {a07 (p=12), a11, a10, a09, a08} -> 4/5
#   Top-10:   true {a03..a12}, proxy p >= 3 -> {a03..a12} -> 10/10
#   Regret:   the proxy picks a07 (0.87); the best is a12 (0.92) -> 0.05
#   Cost:     proxy 12 x 0.5 s = 6 s vs ground truth 12 x 10 s = 120 s -> 0.05;
#             FLOPs 12e6 vs 12e9 -> 1e-3; amortised (6 + 6 setup + 60 distillation) / 120 = 0.6


def write_example(tmp_path):
    gt = pd.DataFrame(
        {
            "arch_id": IDS,
            "spec": "{}",
            "val_acc": [0.80 + i / 100 for i in range(1, 13)],
            "seconds": 10.0,
            "train_flops": 1e9,
        }
    )
    run = pd.DataFrame(
        {
            "arch_id": IDS,
            "proxy": "teacher:ift",
            "score": [0.5 + p / 100 for p in P],
            "seconds": 0.5,
            "flops": 1e6,
            "setup_seconds": 6.0,
            "setup_flops": 0,
            "distill_seconds": 60.0,
        }
    )
    gt.to_csv(tmp_path / "gt.csv", index=False)
    run.to_csv(tmp_path / "ift.csv", index=False)
    return tmp_path / "gt.csv", tmp_path / "ift.csv"


def test_rank_matches_the_hand_computed_example(tmp_path):
    gt, run = write_example(tmp_path)
    row = rank_all(gt, [run], n_boot=200, seed=0).iloc[0]
    assert row["proxy"] == "teacher:ift" and row["n"] == 12 and row["n_top50"] == 6
    assert row["spearman"] == pytest.approx(9 / 11) and row["kendall"] == pytest.approx(23 / 33)
    assert row["spearman_top50"] == pytest.approx(-3 / 7) and row["kendall_top50"] == pytest.approx(-1 / 5)
    assert row["top5_overlap"] == pytest.approx(0.8) and row["top10_overlap"] == pytest.approx(1.0)
    assert row["regret"] == pytest.approx(0.05) and row["pick"] == "a07"
    assert row["cost_ratio"] == pytest.approx(0.05) and row["flops_ratio"] == pytest.approx(1e-3)
    assert row["distill_seconds"] == 60 and row["distill_seconds_per_arch"] == pytest.approx(5.0)
    assert row["amortised_cost_ratio"] == pytest.approx(0.6)
    assert row["spearman_lo"] <= row["spearman_hi"] and row["kendall_lo"] <= row["kendall_hi"]
    assert -1 <= row["spearman_lo"] and row["spearman_hi"] <= 1


def test_bootstrap_is_seeded(tmp_path):
    gt, run = write_example(tmp_path)
    a, b, c = (rank_all(gt, [run], n_boot=100, seed=s).iloc[0] for s in (1, 1, 2))
    assert a["spearman_lo"] == b["spearman_lo"] and a["kendall_hi"] == b["kendall_hi"]
    assert (a["spearman_lo"], a["spearman_hi"]) != (c["spearman_lo"], c["spearman_hi"])


def test_only_shared_architectures_count_and_small_sets_give_nan(tmp_path):
    gt, run = write_example(tmp_path)
    frame = pd.read_csv(run).iloc[:5]  # scored only a01..a05: p = 1 2 3 5 4, Σd² = 2 -> rho = 1 - 12/120
    row = rank_proxy(frame, pd.read_csv(gt), n_boot=0)
    assert row["n"] == 5 and row["n_missing"] == 7 and row["spearman"] == pytest.approx(0.9)
    assert row["top5_overlap"] == 1.0 and math.isnan(row["top10_overlap"]) and math.isnan(row["spearman_lo"])
    assert row["cost_ratio"] == pytest.approx(2.5 / 50)


def test_ties_are_broken_by_arch_id_and_constant_scores_have_no_correlation():
    frame = pd.DataFrame({"arch_id": list("fedcba"), "score": 0.0, "val_acc": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]})
    # All scores tie: the proxy's top 5 is a..e by id, the true top 5 is b..f; its pick is a.
    assert top_k_overlap(frame, 5) == pytest.approx(4 / 5)
    row = rank_proxy(frame.assign(proxy="x"), frame[["arch_id", "val_acc"]], n_boot=20)
    assert row["pick"] == "a" and row["regret"] == pytest.approx(0.5)
    assert math.isnan(row["spearman"]) and math.isnan(row["kendall"]) and math.isnan(row["spearman_lo"])


def test_same_proxy_in_two_files_is_labelled_by_file(tmp_path):
    gt, run = write_example(tmp_path)
    other = tmp_path / "ift-seed1.csv"
    pd.read_csv(run).to_csv(other, index=False)
    assert [label for label, _, _ in load_runs([run, other])] == ["teacher:ift [ift]", "teacher:ift [ift-seed1]"]


def test_rank_command_writes_csv_and_markdown(tmp_path):
    gt, run = write_example(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "rank",
            "--ground-truth",
            str(gt),
            str(run),
            "--bootstrap",
            "50",
            "--out-csv",
            str(tmp_path / "r.csv"),
            "--out-md",
            str(tmp_path / "r.md"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "r.csv")
    assert {"proxy", "spearman", "kendall", "cost_ratio", "spearman_lo", "spearman_top50", "regret"} <= set(
        table.columns
    )
    md = (tmp_path / "r.md").read_text()
    assert md == result.output and "| teacher:ift | 12 | 0.818 [" in md and "0.0500 (a07)" in md


def test_bad_inputs_are_one_line_errors(tmp_path):
    gt, run = write_example(tmp_path)
    pd.DataFrame({"arch_id": ["x"], "score": [1]}).to_csv(tmp_path / "noproxy.csv", index=False)
    with pytest.raises(ConfigError, match="needs column\\(s\\) proxy"):
        rank_all(gt, [tmp_path / "noproxy.csv"])
    with pytest.raises(ConfigError, match="no such ground-truth CSV"):
        rank_all(tmp_path / "missing.csv", [run])


def test_combined_proxy_is_the_mean_of_ranks_at_the_summed_cost(tmp_path):
    from scipy.stats import spearmanr

    gt, run = write_example(tmp_path)
    q = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 11]  # a second proxy: swaps 11 <-> 12 only
    pd.DataFrame(
        {"arch_id": IDS, "proxy": "naswot", "score": [float(v) for v in q], "seconds": 0.25, "flops": 1e3}
    ).to_csv(tmp_path / "naswot.csv", index=False)
    table = rank_all(gt, [run, tmp_path / "naswot.csv"], n_boot=0, combine=["teacher:ift+naswot"]).set_index("proxy")
    row = table.loc["teacher:ift+naswot"]
    # By hand: mean ranks (p + q) / 2 = 1 2 3 4.5 4.5 6 9.5 8 9 10 11.5 9 against the true order 1..12.
    mean_rank = [1, 2, 3, 4.5, 4.5, 6, 9.5, 8, 9, 10, 11.5, 9]
    assert row["spearman"] == pytest.approx(spearmanr(mean_rank, range(1, 13)).statistic)
    assert row["spearman"] > max(table.loc["teacher:ift", "spearman"], 0.0) and row["pick"] == "a11"
    assert row["cost_ratio"] == pytest.approx(12 * 0.75 / 120) and row["flops_ratio"] == pytest.approx(
        12 * (1e6 + 1e3) / 12e9
    )
    assert row["distill_seconds"] == 60 and row["amortised_cost_ratio"] == pytest.approx((9 + 6 + 60) / 120)
    with pytest.raises(ConfigError, match="--combine"):
        rank_all(gt, [run], n_boot=0, combine=["teacher:ift+nope"])

    assert_one_line_error(
        cli("rank", "--ground-truth", gt, run, "--combine", "teacher:ift"), "--combine", "teacher:ift"
    )


def test_paired_difference_is_the_difference_of_rhos_with_a_paired_interval(tmp_path):
    from scipy.stats import spearmanr

    gt, run = write_example(tmp_path)
    q = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 11]  # swaps 11 <-> 12 only: rho 1 - 12/1716
    pd.DataFrame({"arch_id": IDS, "proxy": "real", "score": [float(v) for v in q]}).to_csv(
        tmp_path / "real.csv", index=False
    )
    table = rank_all(
        gt, [run, tmp_path / "real.csv"], n_boot=200, paired=["real,teacher:ift", "teacher:ift,teacher:ift"]
    )
    proxies = table[table["pair"].isna()].set_index("proxy")
    assert list(proxies.index) == ["teacher:ift", "real"]
    row, same = (r for _, r in table[table["pair"].notna()].iterrows())
    assert row["proxy"] == "real − teacher:ift" and row["n"] == 12
    expected = spearmanr(q, range(12)).statistic - spearmanr(P, range(12)).statistic
    assert row["spearman"] == pytest.approx(expected) == pytest.approx(1 - 12 / 1716 - 9 / 11)
    assert (
        row["spearman_lo"] <= row["spearman"] <= row["spearman_hi"] and row["spearman_lo"] >= 0
    )  # real never ranks worse
    assert row["p_not_above"] < 0.5
    # A proxy against itself: every resample's difference is exactly 0, so "not above" always holds.
    assert (same["spearman"], same["spearman_lo"], same["spearman_hi"], same["p_not_above"]) == (0, 0, 0, 1)
    md = to_markdown(table, gt, 200)
    assert "| real − teacher:ift | 12 | 0.175 [" in md and md.count("| teacher:ift |") == 1
    with pytest.raises(ConfigError, match="--paired"):
        rank_all(gt, [run], n_boot=0, paired=["teacher:ift"])

    assert_one_line_error(cli("rank", "--ground-truth", gt, run, "--paired", "teacher:ift,nope"), "--paired", "nope")


def test_the_minimal_detectable_difference_is_2_8_bootstrap_standard_errors_and_scales_as_one_over_root_n():
    import numpy as np

    from gtn_nas.nas.ranking import MDD_Z, architectures_needed, paired_difference

    rng = np.random.default_rng(0)
    truth = rng.normal(size=80)
    x, y = truth + rng.normal(scale=1.0, size=80), truth + rng.normal(scale=1.5, size=80)
    out = paired_difference(x, y, truth, n_boot=400, seed=3)
    draws = []
    for i in np.random.default_rng(3).integers(0, 80, (400, 80)):
        draws.append(spearman(x[i], truth[i]) - spearman(y[i], truth[i]))
    assert out["mdd"] == pytest.approx(MDD_Z * np.std(draws, ddof=1))
    assert architectures_needed(80, out["mdd"], out["mdd"]) == 80  # the design itself
    assert architectures_needed(80, 0.12, 0.06) == 320  # half the difference: four times the architectures
    assert np.isnan(architectures_needed(80, float("nan"), 0.05))
    # A larger design detects smaller differences: the MDD shrinks about as 1/√n.
    truth4, noise = rng.normal(size=320), rng.normal(size=(2, 320))
    big = paired_difference(truth4 + noise[0], truth4 + 1.5 * noise[1], truth4, n_boot=400, seed=3)
    assert big["mdd"] == pytest.approx(out["mdd"] / 2, rel=0.35)


def spearman(a, b):
    from scipy.stats import spearmanr

    return spearmanr(a, b).statistic


def test_rank_detect_prints_the_mdd_and_the_architectures_needed(tmp_path):

    gt, run = write_example(tmp_path)
    q = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 11]
    pd.DataFrame({"arch_id": IDS, "proxy": "real", "score": [float(v) for v in q]}).to_csv(
        tmp_path / "real.csv", index=False
    )
    row = rank_all(gt, [run, tmp_path / "real.csv"], n_boot=1000, paired=["real,teacher:ift"], detect=0.05).iloc[-1]
    assert row["mdd"] > 0 and row["n_needed"] == math.ceil(12 * (row["mdd"] / 0.05) ** 2)
    args = ("rank", "--ground-truth", gt, run, tmp_path / "real.csv", "--paired", "real,teacher:ift", "--detect")
    out = cli(*args, 0.05)
    assert out.exit_code == 0, out.stderr
    assert "| MDD (80% power) | architectures for ±0.05 |" in out.stdout
    assert f"| ±{row['mdd']:.3f} | {row['n_needed']:.0f} |" in out.stdout
    assert_one_line_error(cli(*args, 0), "--detect")


def test_a_pair_over_distillation_seeds_averages_the_seeds_differences_under_shared_resamples(tmp_path):
    import numpy as np

    from gtn_nas.nas.ranking import MDD_Z, paired_difference

    rng = np.random.default_rng(1)
    truth = rng.normal(size=60)
    xs = truth + rng.normal(scale=1.0, size=(2, 60))  # two seeds of a teacher
    y = truth + rng.normal(scale=1.0, size=60)  # one comparator, for both seeds
    pooled = paired_difference(xs, y, truth, n_boot=300, seed=4)
    one = [paired_difference(x, y, truth, n_boot=300, seed=4) for x in xs]
    assert pooled["seeds"] == 2 and "seeds" not in one[0]
    assert pooled["spearman"] == pytest.approx((one[0]["spearman"] + one[1]["spearman"]) / 2)
    draws = [  # by hand: the same architectures for both seeds in each resample
        np.mean([spearman(x[i], truth[i]) - spearman(y[i], truth[i]) for x in xs])
        for i in np.random.default_rng(4).integers(0, 60, (300, 60))
    ]
    assert pooled["mdd"] == pytest.approx(MDD_Z * np.std(draws, ddof=1))
    # A comparator per seed is paired seed by seed; a length mismatch is refused.
    per_seed = paired_difference(xs, np.stack([y, y]), truth, n_boot=300, seed=4)
    assert per_seed["spearman"] == pooled["spearman"] and per_seed["mdd"] == pooled["mdd"]
    with pytest.raises(ConfigError, match="paired seeds: 2 against 3"):
        paired_difference(xs, np.stack([y, y, y]), truth, n_boot=10, seed=0)

    # Through `gtn-nas rank`: "a1;a2,b" names one run per seed.
    gt, run = write_example(tmp_path)
    for name, scores in (("s1", P[::-1]), ("s2", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 11])):
        pd.DataFrame({"arch_id": IDS, "proxy": name, "score": [float(v) for v in scores]}).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
    table = rank_all(gt, [run, tmp_path / "s1.csv", tmp_path / "s2.csv"], n_boot=50, paired=["s1;s2,teacher:ift"])
    row = table[table["pair"].notna()].iloc[0]
    rho = table.set_index("proxy")["spearman"]
    assert row["proxy"] == "s1;s2 − teacher:ift" and row["seeds"] == 2
    assert row["spearman"] == pytest.approx((rho["s1"] + rho["s2"]) / 2 - rho["teacher:ift"])
    assert "one run per distillation seed" in to_markdown(table, gt, 50)
    assert_one_line_error(
        cli("rank", "--ground-truth", gt, run, tmp_path / "s1.csv", "--paired", "s1;teacher:ift,s1;nope"), "nope"
    )
    assert_one_line_error(
        cli("rank", "--ground-truth", gt, run, tmp_path / "s1.csv", "--paired", "s1,s1;teacher:ift"),
        "one comparator, or one per seed",
    )
