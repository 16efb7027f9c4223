import gzip
import os
import shutil

import pytest
import torch

from gtn_nas.core.data import FILES, MEAN, STD, default_data_dir, load_mnist, locate
from gtn_nas.core.errors import DataError


def test_splits_are_fixed_disjoint_and_sized(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (50_000, 10_000, 10_000)
    assert mnist.train.x.shape[1:] == (1, 28, 28) and mnist.train.x.dtype == torch.float32
    # Normalised: the background pixel (0) maps to -MEAN/STD.
    assert mnist.train.x.min().item() == pytest.approx(-MEAN / STD, abs=1e-5)

    # val and train come from one 60k set without overlap: compare the raw image bytes.
    def rows(x):
        return {bytes(r) for r in (x.flatten(1) * STD + MEAN).mul(255).round().to(torch.uint8).numpy()}

    assert len(rows(mnist.train.x[:5000]) & rows(mnist.val.x)) < 5  # MNIST has a few exact duplicates at most
    assert torch.bincount(mnist.val.y, minlength=10).min() > 800


def test_split_is_deterministic(mnist):
    again = load_mnist(download=False)
    assert torch.equal(again.val.y, mnist.val.y) and torch.equal(again.train.x[:10], mnist.train.x[:10])


def test_torchvision_layout_and_uncompressed_files(tmp_path, mnist):
    src = default_data_dir()
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        p = locate(src)[name]
        if name.startswith("t10k"):  # a mix: test files uncompressed, train files gzipped
            (raw / name).write_bytes(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes())
        else:
            os.symlink(p, raw / p.name)
    data = load_mnist(tmp_path, download=False)
    assert torch.equal(data.test.y, mnist.test.y)


def test_missing_data_is_one_line_error(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert "nowhere" in msg and "--data-dir" in msg and "GTN_NAS_DATA" in msg and "\n" not in msg


def test_truncated_file_is_named(tmp_path):
    src = locate(default_data_dir())
    for p in src.values():
        os.symlink(p, tmp_path / p.name)
    victim = src["train-labels-idx1-ubyte"]
    (tmp_path / victim.name).unlink()
    shutil.copyfile(victim, tmp_path / victim.name)
    with open(tmp_path / victim.name, "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(DataError, match=victim.name):
        load_mnist(tmp_path, download=False)
