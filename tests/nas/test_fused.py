"""The fused proxy: its shipped form predicts as scikit-learn does, it recovers a known ordering, it
never sees the architectures it is judged on, and bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import assert_one_line_error, cli
from scipy.stats import spearmanr
from sklearn.ensemble import GradientBoostingRegressor

from gtn_nas.api import arch_id, load_space
from gtn_nas.core.errors import ConfigError
from gtn_nas.nas import fused


def synthetic(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Features with a known, non-linear and noisy map to the truth, an accuracy in (0.5, 1)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"], index=[f"arch{i}" for i in range(n)])
    score = 2 * x["a"] - x["b"] ** 2 + 0.1 * rng.normal(size=n)
    return x, pd.Series(0.5 + 0.5 / (1 + np.exp(-score)), index=x.index)


def test_the_json_model_predicts_as_scikit_learn_does(tmp_path):
    x, y = synthetic()
    model = fused.fit(x, y, seed=3, target="accuracy")  # the trees fit the truth as it is, as scikit-learn's do
    reference = GradientBoostingRegressor(**fused.GBR, random_state=3).fit(x.to_numpy(), y.to_numpy())
    np.testing.assert_allclose(model.predict(x), reference.predict(x.to_numpy()), rtol=0, atol=1e-12)
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    np.testing.assert_array_equal(fused.FusedModel.load(path).predict(x), model.predict(x))


def test_cross_validation_recovers_a_known_ordering():
    x, y = synthetic(120)
    pred = fused.crossval(x, y, k=5, seed=0)
    assert spearmanr(pred, y.loc[pred.index]).statistic > 0.9
    # and a feature of pure noise alone recovers nothing
    noise = pd.DataFrame({"z": np.random.default_rng(1).normal(size=len(x))}, index=x.index)
    assert abs(spearmanr(fused.crossval(noise, y, 5, 0), y).statistic) < 0.3


def test_an_infinite_score_keeps_its_place_at_the_end_of_the_order():
    """naswot is -inf for a net whose kernel matrix is singular (23 of the 100 MLPs): such a net is
    fitted and predicted as the lowest score, and the finite ones as before."""
    x, y = synthetic(120)
    low = x["a"] < -1.0  # the truth is lowest where a is
    x_inf = x.assign(a=x["a"].where(~low, -np.inf))
    model = fused.fit(x_inf, y, seed=0)
    pred = pd.Series(model.predict(x_inf), index=x.index)
    assert np.isfinite(pred).all()
    assert pred[low].mean() < pred[~low].mean()
    assert spearmanr(fused.crossval(x_inf, y, 5, 0), y).statistic > 0.85


def test_no_fold_sees_the_architectures_it_predicts():
    x, y = synthetic(60)
    splits = fused.folds(x.index, 6, seed=2)
    tests = [set(test) for _, test in splits]
    assert set().union(*tests) == set(x.index) and sum(map(len, tests)) == len(x)
    for train, test in splits:
        assert not set(train) & set(test)
    pred = fused.crossval(x, y, 6, seed=2)
    # Scramble the truth of one fold's architectures: that fold's predictions cannot move.
    held = splits[0][1]
    scrambled = y.copy()
    scrambled.loc[held] = np.random.default_rng(9).random(len(held))  # other accuracies
    moved = fused.crossval(x, scrambled, 6, seed=2)
    np.testing.assert_array_equal(moved.loc[held], pred.loc[held])
    assert not np.allclose(moved.drop(held), pred.drop(held))  # the others trained on the scrambled rows


def test_the_encoding_tells_architectures_apart():
    specs = load_space("convnet").archs[:20]
    table = pd.DataFrame([fused.encode(s) for s in specs])
    assert len(table.drop_duplicates()) == len(specs)
    assert (table.filter(like="=").fillna(0).sum(axis=1) == 4).all()  # one choice per categorical key


def files(tmp_path, n_truth: int, shift_ids: bool = False) -> tuple[list, str]:
    """A ground truth of `n_truth` ConvNets and scores of 30, as search outputs and gtn-nas
    ground-truth write them; `shift_ids`: the scores name none of the ground truth's nets."""
    specs = load_space("convnet").archs[:100]
    scored, truth = (specs[n_truth : n_truth + 30] if shift_ids else specs[:30]), specs[:n_truth]
    rng = np.random.default_rng(0)
    gt = pd.DataFrame(
        {"arch_id": [arch_id(s) for s in truth], "spec": [json.dumps(s) for s in truth], "val_acc": rng.random(n_truth)}
    )
    rows = [
        {"arch_id": arch_id(s), "proxy": p, "steps": 32, "score": rng.random()}
        for s in scored
        for p in ("real", "naswot")
    ]
    gt.to_csv(tmp_path / "gt.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "scores.csv", index=False)
    return [tmp_path / "scores.csv"], str(tmp_path / "gt.csv")


def test_fuse_writes_the_model_and_out_of_fold_predictions(tmp_path):
    scores, gt = files(tmp_path, 30)
    run = cli("fuse", *scores, "--ground-truth", gt, "--out", tmp_path / "m.json", "--folds", "5", "--bootstrap", "50")
    assert run.exit_code == 0, run.stderr
    assert "over 30 architectures" in run.stdout
    preds = pd.read_csv(tmp_path / "m.csv")
    assert len(preds) == 30 and preds["predicted"].notna().all()
    model = fused.FusedModel.load(tmp_path / "m.json")
    assert "naswot" in model.columns and "real@32" in model.columns


def test_several_ground_truths_are_one_training_set(tmp_path):
    """Split in two overlapping files (as one space's and another's would be), the ground truth fits
    the same model as whole: each architecture once, in the first file's order."""
    scores, gt = files(tmp_path, 30)
    whole = pd.read_csv(gt)
    whole.iloc[:20].to_csv(tmp_path / "a.csv", index=False)
    whole.iloc[15:].to_csv(tmp_path / "b.csv", index=False)  # 5 nets in both
    one = fused.fit_from_files(scores, gt, folds_k=5, n_boot=0)
    two = fused.fit_from_files(scores, [tmp_path / "a.csv", tmp_path / "b.csv"], folds_k=5, n_boot=0)
    pd.testing.assert_frame_equal(one.predictions, two.predictions)
    run = cli(
        "fuse",
        *scores,
        "--ground-truth",
        tmp_path / "a.csv",
        "--ground-truth",
        tmp_path / "b.csv",
        "--out",
        tmp_path / "m.json",
        "--folds",
        "5",
        "--bootstrap",
        "0",
    )
    assert run.exit_code == 0 and "over 30 architectures" in run.stdout, run.stderr


@pytest.mark.parametrize(
    ("n_truth", "shift", "needle"),
    [(9, False, "at least 10 architectures"), (40, True, "none of the 30 scored architectures")],
)
def test_bad_training_sets_are_one_line_errors(tmp_path, n_truth, shift, needle):
    scores, gt = files(tmp_path, n_truth, shift_ids=shift)
    run = cli("fuse", *scores, "--ground-truth", gt, "--out", tmp_path / "m.json")
    assert_one_line_error(run, needle)
    assert not (tmp_path / "m.json").exists()


def test_the_model_must_be_a_json_file(tmp_path):
    scores, gt = files(tmp_path, 30)
    assert_one_line_error(cli("fuse", *scores, "--ground-truth", gt, "--out", tmp_path / "m.csv"), ".json")


def zero_cost_model(tmp_path, trained: tuple = ()) -> tuple[str, str]:
    """A model fitted on naswot and synflow columns, and `trained` (proxy, steps) ones (random scores:
    only the plumbing is tested)."""
    specs = load_space("convnet").archs[:12]
    rng = np.random.default_rng(4)
    gt = pd.DataFrame(
        {"arch_id": [arch_id(s) for s in specs], "spec": [json.dumps(s) for s in specs], "val_acc": rng.random(12)}
    )
    parts = [("naswot", None), ("synflow", None), *trained]
    rows = [{"arch_id": arch_id(s), "proxy": p, "steps": t, "score": rng.random()} for s in specs for p, t in parts]
    gt.to_csv(tmp_path / "gt.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "zc.csv", index=False)
    run = cli("fuse", tmp_path / "zc.csv", "--ground-truth", tmp_path / "gt.csv", "--out", tmp_path / "m.json")
    assert run.exit_code == 0, run.stderr
    return str(tmp_path / "m.json"), str(tmp_path / "gt.csv")


def test_search_with_the_fused_proxy_scores_what_the_model_predicts_from_its_parts(tmp_path):
    model, gt = zero_cost_model(tmp_path)
    common = ("--archs-from", gt, "--space", "convnet", "--device", "cpu", "--quiet")
    assert (
        cli("search", "--proxy", "fused", "--fused-model", model, *common, "--out", tmp_path / "f.csv").exit_code == 0
    )
    for proxy in ("naswot", "synflow"):
        assert cli("search", "--proxy", proxy, *common, "--out", tmp_path / f"{proxy}.csv").exit_code == 0
    parts = pd.concat([pd.read_csv(tmp_path / f"{p}.csv") for p in ("naswot", "synflow")])
    scored = pd.read_csv(tmp_path / "f.csv").set_index("arch_id")
    specs = {aid: json.loads(s) for aid, s in scored["spec"].items()}
    expected = fused.FusedModel.load(model).predict(fused.feature_table(parts, specs))
    np.testing.assert_allclose(scored.loc[list(specs), "score"], expected, rtol=1e-12)
    assert (scored["flops"] > 0).all()  # the parts' costs are charged


def test_fused_search_errors_are_one_line(tmp_path):
    model, gt = zero_cost_model(tmp_path)
    needs_teacher = json.loads((tmp_path / "m.json").read_text())
    needs_teacher["columns"] = ["teacher:gm@32", *needs_teacher["columns"][1:]]
    (tmp_path / "t.json").write_text(json.dumps(needs_teacher))
    out = ("--archs-from", gt, "--out", tmp_path / "x.csv", "--device", "cpu")
    assert_one_line_error(cli("search", "--proxy", "fused", *out), "--fused-model")
    assert_one_line_error(cli("search", "--proxy", "fused", "--fused-model", tmp_path / "t.json", *out), "teacher:gm")
    assert_one_line_error(cli("search", "--proxy", "fused", "--fused-model", tmp_path / "none.json", *out), "none.json")


@pytest.mark.parametrize("target", fused.TARGETS)
def test_every_target_recovers_a_known_ordering_and_round_trips_through_json(tmp_path, target):
    x, acc = synthetic(120)
    pred = fused.crossval(x, acc, k=5, seed=0, target=target)
    assert spearmanr(pred, acc.loc[pred.index]).statistic > 0.9
    model = fused.fit(x, acc, seed=0, target=target)
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    loaded = fused.FusedModel.load(path)
    assert loaded.target == target
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    if target == "log-error":  # predictions come back as accuracies
        assert (model.predict(x) < 1).all() and abs(model.predict(x).mean() - acc.mean()) < 0.01
    if target == "rank":  # quantiles among the training nets
        assert 0 < model.predict(x).min() and model.predict(x).max() <= 1


def test_a_model_written_before_targets_existed_fits_accuracy():
    model = fused.FusedModel.load(Path(__file__).parents[2] / "results/fused/mlp100/encoding.json")
    assert model.target == "accuracy"


def test_log_error_refuses_a_truth_that_is_not_an_accuracy():
    x, y = synthetic()
    with pytest.raises(ConfigError, match="log-error needs accuracies"):
        fused.fit(x, y * 100, target="log-error")
    assert fused.fit(x, y * 100, target="accuracy").target == "accuracy"


def test_a_bad_target_is_one_line_and_writes_nothing(tmp_path):
    scores, gt = files(tmp_path, 30)
    run = cli("fuse", *scores, "--ground-truth", gt, "--out", tmp_path / "m.json", "--target", "loss")
    assert_one_line_error(run, "--target must be one of accuracy, log-error, rank")
    assert not (tmp_path / "m.json").exists()
    (tmp_path / "bad.json").write_text(fused.fit(*synthetic(), target="rank").to_json().replace('"rank"', '"ranks"'))
    with pytest.raises(ConfigError, match="unknown target 'ranks'"):
        fused.FusedModel.load(tmp_path / "bad.json")
