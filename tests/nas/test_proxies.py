"""Proxies (gtn_nas.nas.proxies): teacher, real, subset and zero-cost scores, their seeds and costs."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_SPACE

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.spaces import load_space
from gtn_nas.core.students import build_student, count_params
from gtn_nas.nas.proxies import ProxySettings, balanced_subset, make_proxy, per_image_forward_flops, split_pool
from gtn_nas.teachers.checkpoints import load_teacher


def test_teacher_proxies_are_named_deterministic_and_costed(tiny_teachers, small_mnist):
    spec = load_space(TINY_SPACE).archs[-1]
    for kind, name in (("generator", "teacher:gm"), ("pixels", "teacher:pixels-gm")):
        teacher = load_teacher(tiny_teachers[kind], "cpu")
        settings = ProxySettings(kind="teacher", steps=3, teacher=str(tiny_teachers[kind]))
        proxy = make_proxy(settings, small_mnist, torch.device("cpu"), teacher=teacher)
        a, b = proxy.score(spec), proxy.score(spec)
        assert proxy.name == name and a["score"] == b["score"] and 0 <= a["score"] <= 1
        assert len(proxy.batches) == 3 and proxy.batches[2][0] is proxy.batches[0][0]  # step t uses batch t mod T
        f = per_image_forward_flops(build_student(spec, 0))
        assert a["flops"] == int(3 * f * 3 * 10 + f * len(small_mnist.val))
        assert proxy.setup["distill_seconds"] > 0 and proxy.setup["setup_flops"] >= 0


def test_real_proxy_tunes_its_lr_on_held_out_architectures(small_mnist):
    space = load_space(TINY_SPACE)
    exclude = set(space.ids()[:-1])
    settings = ProxySettings(kind="real", steps=2, batch_size=10, lr_grid=(0.01, 0.1), tune_archs=1)
    proxy = make_proxy(settings, small_mnist, torch.device("cpu"), space, exclude)
    assert proxy.setup["lr"] in (0.01, 0.1) and set(proxy.setup["lr_table"]) == {"0.01", "0.1"}
    assert proxy.setup["tune_archs"] == [i for i in space.ids() if i not in exclude] and proxy.setup["setup_flops"] > 0
    assert all(b[2] == proxy.setup["lr"] and len(b[1]) == 10 for b in proxy.batches)
    fixed = make_proxy(ProxySettings(kind="real", steps=2, batch_size=10, lr=0.05), small_mnist, torch.device("cpu"))
    assert fixed.setup["lr"] == 0.05 and fixed.setup["setup_seconds"] == 0.0


def test_real_proxy_tunes_lr_momentum_and_clip_together_and_picks_the_best_holdout_score(small_mnist):
    """A momentum x clip grid (as the teachers' calibration has) is tuned with the lr: the chosen
    recipe is the argmax of the recorded table, and the batches and the clip carry it."""
    space = load_space(TINY_SPACE)
    settings = ProxySettings(
        kind="real",
        steps=2,
        batch_size=10,
        lr_grid=(0.01, 0.3),
        momentum_grid=(0.0, 0.9),
        clip_grid=(None, 0.1),
        tune_archs=1,
    )
    assert len(settings.validate().recipes()) == 8
    proxy = make_proxy(settings, small_mnist, torch.device("cpu"), space)
    table = proxy.setup["lr_table"]
    assert len(table) == 8 and "lr=0.3,momentum=0.9,clip=0.1" in table
    best = max(table, key=table.get)
    want = f"lr={proxy.setup['lr']},momentum={proxy.setup['momentum']},clip={proxy.setup.get('max_grad_norm')}"
    assert best == want and table[best] == max(table.values())
    assert all(b[2] == proxy.setup["lr"] and b[3] == proxy.setup["momentum"] for b in proxy.batches)
    assert proxy.max_grad_norm == proxy.setup.get("max_grad_norm")
    # a single-value grid tunes nothing it is not asked to; the key of a study without grids is unchanged
    assert "momentum_grid" not in ProxySettings(kind="real").key()
    assert settings.key()["clip_grid"] == [None, 0.1]


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"kind": "teacher", "teacher": "t.pt", "momentum_grid": (0.0, 0.9)}, "--momentum grid applies"),
        ({"kind": "real", "momentum_grid": (0.0, 1.0)}, "--momentum must be in [0, 1)"),
        ({"kind": "real", "clip_grid": (None, 0.0)}, "--max-grad-norm must list"),
        ({"kind": "real", "clip_grid": (None, 1.0), "max_grad_norm": 1.0}, "not both"),
    ],
)
def test_bad_tuning_grids_are_config_errors(kw, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace(")", r"\)")):
        ProxySettings(**kw).validate()


def test_subset_proxy_is_class_balanced_and_teacher_sized(small_mnist, tiny_teacher):
    holdout, pool = split_pool(small_mnist.train)  # 2,000 training images: a quarter held out
    assert len(holdout) == 500 and len(pool) == 1500
    sub = balanced_subset(pool, 40, 10, seed=0)
    assert torch.equal(sub.y, torch.arange(40) % 10)
    teacher = load_teacher(tiny_teacher, "cpu")
    proxy = make_proxy(
        ProxySettings(kind="subset", steps=4, lr=0.1, teacher=str(tiny_teacher)),
        small_mnist,
        torch.device("cpu"),
        teacher=teacher,
    )
    # 2 teacher steps x 10 = a 20-image subset, trained 4 steps: two passes.
    images = torch.cat([b[0] for b in proxy.batches])
    assert images.shape[0] == 40 and len({tuple(x.flatten()[:20].tolist()) for x in images}) <= 20


def test_proxy_seeds_score_is_the_mean_of_separate_initialisations(small_mnist, tiny_teacher):
    from gtn_nas.nas.proxies import train_and_score

    spec = load_space(TINY_SPACE).archs[-1]
    teacher = load_teacher(tiny_teacher, "cpu")
    proxy = make_proxy(
        ProxySettings(teacher=str(tiny_teacher), steps=3, seed=5, seeds=3),
        small_mnist,
        torch.device("cpu"),
        teacher=teacher,
    )
    separate = [train_and_score(spec, proxy.batches, proxy.val, 5 + i, "cpu")["score"] for i in range(3)]
    assert len(set(separate)) > 1  # the initialisations differ
    assert proxy.score(spec)["score"] == pytest.approx(sum(separate) / 3, abs=1e-12)


def test_val_examples_subset_is_fixed_by_seed(small_mnist):
    make = lambda seed, n=100: make_proxy(
        ProxySettings(kind="params", seed=seed, val_examples=n), small_mnist, torch.device("cpu")
    )
    a, b, c = make(0), make(0), make(1)
    assert len(a.val) == 100 and torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    assert len(make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu")).val) == len(small_mnist.val)
    with pytest.raises(ConfigError, match="--val-examples"):
        make(0, 0)
    with pytest.raises(ConfigError, match="--proxy-seeds"):
        ProxySettings(kind="params", seeds=0).validate()
    assert (
        "seeds" not in ProxySettings().key() and ProxySettings(seeds=2).key()["seeds"] == 2
    )  # old studies keep their key


def test_params_proxy_and_unknown_proxy(small_mnist):
    spec = load_space(TINY_SPACE).archs[0]
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    assert proxy.score(spec)["score"] == count_params(build_student(spec, 0)) and proxy.score(spec)["flops"] == 0
    listed = "teacher, real, subset, params, synflow, naswot, fused"
    with pytest.raises(ConfigError, match=f"--proxy must be one of {listed}; got 'zero-cost'"):
        ProxySettings(kind="zero-cost").validate()


# -- in-process: studies -------------------------------------------------------------------------


def test_a_later_worker_reuses_the_tuned_momentum_and_clip_instead_of_tuning_again(tmp_path, small_mnist, monkeypatch):
    import gtn_nas
    from gtn_nas import api
    from gtn_nas.nas import proxies

    specs = load_space(TINY_SPACE).archs[:2]
    s = ProxySettings(
        kind="real",
        steps=2,
        batch_size=10,
        lr_grid=(0.01, 0.3),
        momentum_grid=(0.0, 0.9),
        clip_grid=(None, 0.1),
        tune_archs=1,
    )
    out = tmp_path / "real.csv"
    first = gtn_nas.evaluate(specs, s, out, space=TINY_SPACE, max_archs=1, data=small_mnist, device="cpu")
    tuned = first.study.user_attrs["setup"]
    seen = []
    real_make = api.make_proxy
    monkeypatch.setattr(api, "make_proxy", lambda settings, *a: seen.append(settings) or real_make(settings, *a))
    monkeypatch.setattr(proxies, "tune_recipe", lambda *a, **k: pytest.fail("a later worker tuned again"))
    second = gtn_nas.evaluate(specs, s, out, space=TINY_SPACE, data=small_mnist, device="cpu")
    assert len(second.frame) == 2
    (used,) = seen
    assert (used.lr, used.momentum, used.max_grad_norm) == (tuned["lr"], tuned["momentum"], tuned.get("max_grad_norm"))
    assert used.momentum_grid is None and used.clip_grid is None
