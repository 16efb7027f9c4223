import json
from pathlib import Path

import pytest

from gtn_nas.core.errors import SpaceError
from gtn_nas.core.spaces import arch_id, builtin_spaces, load_space, spec_from_json, specs_from_csv, validate_spec

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_spaces_count_and_ids():
    assert {"convnet", "mlp", "distill", "heldout"} <= set(builtin_spaces())
    conv = load_space("convnet")
    assert len(conv) == 3 * 3 * 6 * 4 * 3
    assert len(set(conv.ids())) == len(conv)
    assert conv.ids()[0] == "conv-d1-w8-relu-none-max"
    assert len(load_space("mlp")) == 4 * 4 * 6 * 3


def test_sampling_is_deterministic_and_distinct():
    conv = load_space("convnet")
    a, b = conv.sample(50, seed=3), conv.sample(50, seed=3)
    assert a == b and len({arch_id(s) for s in a}) == 50
    assert conv.sample(50, seed=4) != a


def test_heldout_is_disjoint_from_distill_space():
    assert not set(load_space("heldout").ids()) & set(load_space("distill").ids())


def test_spec_json_roundtrip():
    spec = load_space("mlp").archs[5]
    assert spec_from_json(json.dumps(spec)) == spec


@pytest.mark.parametrize(
    "body, needle",
    [
        (
            '[[grid]]\nfamily = "conv"\ndepth = [1]\nwidth = [8]\nactivation = ["relu"]\nnorm = ["none"]\n',
            "missing key 'pooling'",
        ),
        (
            '[[grid]]\nfamily = "mlp"\ndepth = [1]\nwidth = [8]\nactivation = ["swish"]\nnorm = ["none"]\n',
            "key 'activation' must be one of",
        ),
        (
            '[[grid]]\nfamily = "mlp"\ndepth = [1]\nwidth = [0]\nactivation = ["relu"]\nnorm = ["none"]\n',
            "key 'width' must be an integer",
        ),
        ('[[grid]]\nfamily = "rnn"\n', "key 'family' must be one of"),
        (
            '[[arch]]\nfamily = "mlp"\ndepth = 1\nwidth = 8\nactivation = "relu"\nnorm = "none"\ncolour = "red"\n',
            "unknown key(s) colour",
        ),
        ('name = "x"\n', "the space is empty"),
        ("name = [\n", "invalid TOML"),
        ("grids = []\n", "unknown top-level key(s) grids"),
    ],
)
def test_bad_space_files_name_file_and_key(tmp_path, body, needle):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(SpaceError) as err:
        load_space(path)
    assert str(path) in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)


def test_unknown_space_name_lists_builtins():
    with pytest.raises(SpaceError, match="built-in: convnet"):
        load_space("nosuchspace")


def test_specs_from_csv(tmp_path):
    spec = validate_spec({"family": "mlp", "depth": 1, "width": 8, "activation": "relu", "norm": "none"})
    good = tmp_path / "a.csv"
    good.write_text('arch_id,spec\nx,"' + json.dumps(spec).replace('"', '""') + '"\n')
    assert specs_from_csv(good) == [spec]
    bad = tmp_path / "b.csv"
    bad.write_text("arch_id,score\nx,1\n")
    with pytest.raises(SpaceError, match="'spec' column"):
        specs_from_csv(bad)


def test_distill_space_spans_the_search_spaces_and_is_disjoint_from_ground_truth_and_heldout():

    distill = load_space("distill")
    ids = set(distill.ids())
    gt = set(s for s in (arch_id(x) for x in specs_from_csv(ROOT / "results/ground_truth/convnet.csv")))
    assert len(gt) == 60
    assert not ids & gt and not ids & set(load_space("heldout").ids())
    conv = [a for a in distill.archs if a["family"] == "conv"]
    mlp = [a for a in distill.archs if a["family"] == "mlp"]
    convnet = load_space("convnet").archs
    for key in ("depth", "activation", "norm", "pooling"):
        assert {a[key] for a in conv} == {a[key] for a in convnet}, key
    assert {a["norm"] for a in mlp} == {"none", "batch", "layer"} and {a["depth"] for a in mlp} == {1, 2, 3}
