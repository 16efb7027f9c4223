"""benchmarks/fused_proxy.py: the feature-set ablation is paired over architectures, and the MLPs'
gm-noise scores are read as the ConvNets' teacher feature."""

import fused_proxy  # benchmarks/ (pytest's pythonpath)
import numpy as np
import pandas as pd


def test_a_feature_set_that_predicts_beats_one_that_does_not_and_missing_sets_are_skipped():
    rng = np.random.default_rng(0)
    index = [f"arch{i}" for i in range(120)]
    truth = pd.Series(rng.normal(size=120), index=index)
    informed = [truth + 0.3 * pd.Series(rng.normal(size=120), index=index) for _ in range(3)]
    blind = [pd.Series(rng.normal(size=120), index=index) for _ in range(3)]
    preds = {"teacher + zero-cost + encoding": informed, "real + zero-cost + encoding": blind}
    table = fused_proxy.ablation_table(preds, truth, n_boot=200)
    assert len(table) == 1  # the other pairs have no predictions here
    row = table.iloc[0]
    assert row["features"] == "teacher + zero-cost + encoding" and row["minus"] == "real + zero-cost + encoding"
    assert row["spearman"] > 0.7 and row["spearman_lo"] > 0.5 and row["draws"] == 3 and row["draw_sd"] > 0
    # swapped, the difference is negative: the sign is A - B, not a magnitude
    swapped = fused_proxy.ablation_table(
        {"teacher + zero-cost + encoding": blind, "real + zero-cost + encoding": informed}, truth, n_boot=200
    )
    assert swapped.iloc[0]["spearman_hi"] < -0.5


def test_the_mlp_frontier_feeds_gm_noise_as_the_teacher_feature(tmp_path, monkeypatch):
    scores = pd.DataFrame(
        {"proxy": ["teacher:gm", "teacher:gm-noise", "real"], "arch_id": ["m1"] * 3, "score": [0.1, 0.2, 0.3]}
    )
    scores.to_csv(tmp_path / "scores.csv", index=False)
    monkeypatch.setitem(fused_proxy.SETS_OF_ARCHS, "mlp100", ("gt.csv", tmp_path / "scores.csv", "zc"))
    front = fused_proxy.read_frontier("mlp100")
    assert sorted(front["proxy"]) == ["real", "teacher:gm"]
    assert front.set_index("proxy").loc["teacher:gm", "score"] == 0.2


def test_pooled_families_are_also_judged_within_each():
    """Two families whose truths differ by a constant: pooled, any model ranks them apart; within a
    family only the informative feature ranks."""
    rng = np.random.default_rng(1)
    index = [f"arch{i}" for i in range(80)]
    family = pd.Series(["conv"] * 40 + ["mlp"] * 40, index=index)
    truth = pd.Series(rng.normal(size=80), index=index) + (family == "conv") * 10
    draws = [truth + 0.1 * pd.Series(rng.normal(size=80), index=index)]
    out = fused_proxy.within(draws, truth, family)
    assert set(out) == {"rho_conv", "rho_mlp"} and min(out.values()) > 0.9
    blind = [pd.Series((family == "conv") * 10.0 + rng.normal(size=80), index=index)]
    assert max(abs(v) for v in fused_proxy.within(blind, truth, family).values()) < 0.4
    assert fused_proxy.within(draws, truth, pd.Series("conv", index=index)) == {}


def test_the_target_table_compares_every_target_with_accuracy_on_the_same_folds():
    rng = np.random.default_rng(2)
    index = pd.Index([f"arch{i}" for i in range(60)], name="arch_id")
    features = pd.DataFrame({"depth": rng.integers(1, 4, 60), "log2_width": rng.normal(size=60)}, index=index)
    truth = pd.Series(0.99 - 0.3 / (1 + np.exp(3 * features["log2_width"])), index=index)
    table = fused_proxy.target_table(features, truth, k=5, repeats=2, n_boot=50, family=pd.Series("conv", index=index))
    assert table["features"].unique().tolist() == ["encoding only"]
    assert table["target"].tolist() == ["accuracy", "log-error", "rank"]
    base = table.set_index("target").loc["accuracy"]
    assert base["minus_accuracy"] == 0 and base["rho_mean"] > 0.8
    assert (table["regret_points"] >= 0).all() and (table["regret_points_max"] >= table["regret_points"]).all()


def test_ridge_keeps_an_infinite_score_at_the_end_of_the_order():
    rng = np.random.default_rng(3)
    index = [f"arch{i}" for i in range(40)]
    x = pd.DataFrame({"naswot": rng.normal(size=40), "depth": rng.integers(1, 4, 40)}, index=index)
    y = pd.Series(x["naswot"] + 0.1 * rng.normal(size=40), index=index)
    x.loc[y.nsmallest(5).index, "naswot"] = -np.inf  # the worst nets
    pred = fused_proxy.ridge_crossval(x, y, k=5, seed=0)
    assert pred.notna().all() and pred[y.nsmallest(5).index].max() < pred.median()
