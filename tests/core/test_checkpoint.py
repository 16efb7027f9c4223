import os
import pickle

import pytest
import torch

from gtn_nas.core.checkpoint import load_checkpoint, save_checkpoint
from gtn_nas.core.errors import CheckpointError

PAYLOAD = {
    "method": "ift",
    "config": {"a": 1},
    "teacher": {"w": torch.ones(2)},
    "meta_step": 3,
    "metrics": [{"x": 1.0}],
}


def test_roundtrip_and_versions(tmp_path):
    save_checkpoint(tmp_path / "t.pt", PAYLOAD)
    data = load_checkpoint(tmp_path / "t.pt")
    assert data["meta_step"] == 3 and torch.equal(data["teacher"]["w"], torch.ones(2))
    assert set(data["versions"]) == {"gtn_nas", "torch", "python"}
    assert os.listdir(tmp_path) == ["t.pt"]  # no temporary file left behind


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gtn_nas_pwned",))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "gtn-nas-teacher", "payload": Evil()}, path)
    if os.path.exists("/tmp/gtn_nas_pwned"):
        os.remove("/tmp/gtn_nas_pwned")
    with pytest.raises(CheckpointError, match="refused to load") as err:
        load_checkpoint(path)
    assert not os.path.exists("/tmp/gtn_nas_pwned")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(b"not a checkpoint at all"),
        lambda p: torch.save({"w": torch.zeros(3)}, p),  # a plain state dict
        lambda p: p.write_bytes(pickle.dumps([1, 2, 3])),
        lambda p: torch.save({"format": "gtn-nas-teacher", "format_version": 1}, p),  # incomplete
    ],
)
def test_other_files_are_refused_with_one_line(tmp_path, make):
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, PAYLOAD)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # torch raises either, by Python version
        save_checkpoint(path, {**PAYLOAD, "bad": lambda: 0})  # lambdas cannot be saved
    assert load_checkpoint(path)["meta_step"] == 3
    assert os.listdir(tmp_path) == ["t.pt"]
