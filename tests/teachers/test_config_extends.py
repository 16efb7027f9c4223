"""`extends` in a distillation config file: a variant says only what differs from its base."""

import pytest

from gtn_nas.core.errors import ConfigError
from gtn_nas.teachers.config_file import distill_config


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_variant_replaces_top_level_keys_and_merges_tables_key_by_key(tmp_path):
    _write(tmp_path / "base" / "space.toml", 'name = "s"\n[[arch]]\nfamily = "gtn"\nconv1 = 2\nconv2 = 3\nfc = 4\n')
    _write(
        tmp_path / "base" / "b.toml",
        'space = "space.toml"\nmeta_lr = 0.02\n[teacher]\ninner_steps = 4\nbatch_size = 20\n[method]\nwindow = 0\n',
    )
    v = _write(tmp_path / "v.toml", 'extends = "base/b.toml"\nmeta_lr = 0.05\n[teacher]\nbatch_size = 30\n')
    cfg = distill_config(v, method="bptt")
    assert cfg.meta_lr == 0.05 and cfg.teacher.batch_size == 30 and cfg.teacher.inner_steps == 4
    assert cfg.method_options["window"] == 0
    assert cfg.space == str(tmp_path / "base" / "space.toml")  # relative to the file that names it
    assert distill_config(v, method="bptt", meta_lr=0.1).meta_lr == 0.1  # flags still win


@pytest.mark.parametrize(
    "files, needle",
    [
        ({"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'}, "makes a loop"),
        ({"a.toml": 'extends = "a.toml"\n'}, "makes a loop"),
        ({"a.toml": 'extends = "missing.toml"\n'}, "no such file (extended by"),
        ({"a.toml": "extends = 3\n"}, "extends must be a path"),
    ],
)
def test_bad_extends_is_one_line(tmp_path, files, needle):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(ConfigError) as err:
        distill_config(tmp_path / "a.toml", method="bptt")
    assert needle in str(err.value) and "\n" not in str(err.value)
