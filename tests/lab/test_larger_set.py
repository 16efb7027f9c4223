"""Issue 33's larger evaluation set (results/ground_truth/*_archs.toml): the 60 ConvNets included,
and no id shared with a ranking pool, the held-out nets or the distillation students (the
yardstick's 20, drawn from the 60, are the one allowed overlap)."""

from pathlib import Path

from gtn_nas.core.spaces import arch_id, load_space, specs_from_csv

GT = Path(__file__).resolve().parents[2] / "results" / "ground_truth"


def _ids(csv: Path) -> set[str]:
    return {arch_id(s) for s in specs_from_csv(csv)}


def test_the_larger_set_keeps_the_60_and_avoids_every_pool_and_held_out_net():
    conv, mlp = load_space(GT / "convnet250_archs.toml"), load_space(GT / "mlp100_archs.toml")
    assert len(conv) == 250 and len(mlp) == 100
    assert set(conv.ids()) <= set(load_space("convnet").ids()) and set(mlp.ids()) <= set(load_space("mlp").ids())
    sixty = _ids(GT / "convnet.csv")
    assert conv.ids()[:60] == [arch_id(s) for s in specs_from_csv(GT / "convnet.csv")] and len(sixty) == 60
    ids = set(conv.ids()) | set(mlp.ids())
    for other in ("rank_pool.csv", "rank_pool_144.csv"):
        assert not ids & _ids(GT / other), other
    assert not ids & set(load_space("heldout").ids())
    assert not ids & set(load_space("distill").ids())
    yardstick = _ids(GT / "yardstick_archs.csv")
    assert ids & yardstick <= sixty  # the yardstick's nets only where they were already among the 60
    new = set(load_space(GT / "convnet250_new_archs.toml").ids())
    assert new == set(conv.ids()) - sixty and not new & yardstick
