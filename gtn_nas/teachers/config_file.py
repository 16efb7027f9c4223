"""A distillation's settings from a TOML file (`gtn-nas distill --config FILE.toml`), with overrides.

The command line keeps the few options most runs change; everything else — the teacher's
architecture and start, each method's knobs, monitoring — is a field of a config dataclass and can
be set in a file that mirrors them:

    space = "distill"            # DistillConfig fields at the top level
    eval_every = 25
    [teacher]                    # TeacherConfig fields
    init = "real"
    fit_steps = 300
    [method]                     # the method's own config (BpttConfig, IftConfig or GmConfig)
    neumann_terms = 20
    [calibration]                # the calibration grid (CalibrationConfig; "teacher" / "none" for None)
    max_grad_norms = [1.0]

Paths in the file (`space`, `rank_pool` ending in .toml/.csv) are taken relative to the file's
folder, so a config and the files it names travel together. `extends = "base.toml"` (relative to
the file too) starts from another config: the file's top-level keys replace the base's, and its
tables ([teacher], [method], [calibration]) replace the base's keys one by one, so variants of one
setting (another method, another start) say only what differs. `benchmarks/configs/` holds the
ablation's variants in this form.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

from ..core.errors import ConfigError
from .calibration import CalibrationConfig
from .config import DistillConfig, check_step_options
from .generator import TeacherConfig

_SECTIONS = ("teacher", "method", "calibration")
_PATHS = {"space": ".toml", "rank_pool": ".csv"}


def distill_config(
    file: str | Path | None = None, *, teacher: dict | None = None, method_options: dict | None = None, **fields
) -> DistillConfig:
    """The validated DistillConfig of `file` (if any), where every given (non-None) keyword wins.

    `teacher` and `method_options` override single keys of the file's [teacher] and [method] tables."""
    data = _read(Path(file)) if file is not None else {}
    teacher_fields = {**data.pop("teacher", {}), **_given(teacher or {})}
    method_fields = {**data.pop("method", {}), **_given(method_options or {})}
    calibration = data.pop("calibration", None)
    top = {**data, **_given(fields)}
    where = f"--config {file}" if file is not None else "distill"
    _check_keys(top, {f.name for f in dataclasses.fields(DistillConfig)} - {"teacher", "method_options"}, where, "")
    _check_keys(teacher_fields, {f.name for f in dataclasses.fields(TeacherConfig)}, where, "[teacher] ")
    if calibration is not None:
        top["calibration"] = _calibration(calibration, where)
    try:
        cfg = DistillConfig(**top, teacher=TeacherConfig(**teacher_fields), method_options=method_fields)
    except TypeError as exc:  # a value of the wrong kind that a dataclass check trips over
        raise ConfigError(f"{where}: {exc}") from None
    cfg = cfg.validate()
    check_step_options(cfg.method, method_fields, cfg.teacher.inner_steps)  # even at their default value
    return cfg


# TOML has no null: the grid's None entries are spelled as words.
_NONE_WORDS = {"momenta": "teacher", "max_grad_norms": "none"}


def _calibration(table: dict, where: str) -> CalibrationConfig:
    """The [calibration] table as a grid: lists become tuples, the words of _NONE_WORDS None (the
    grid's seed follows the distillation's, so it is not a key)."""
    allowed = {f.name for f in dataclasses.fields(CalibrationConfig)} - {"seed"}
    _check_keys(table, allowed, where, "[calibration] ")
    fields = {}
    for key, value in table.items():
        if isinstance(value, list):
            value = tuple(None if v == _NONE_WORDS.get(key) else v for v in value)
        fields[key] = value
    try:
        return CalibrationConfig(**fields)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{where}: [calibration] {exc}") from None


def _given(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file" + (f" (extended by {seen[-1]})" if seen else ""))
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    for section in _SECTIONS:
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"--config {path}: [{section}] must be a table")
    for key, suffix in _PATHS.items():  # relative to the config file's folder
        value = data.get(key)
        if isinstance(value, str) and value.endswith(suffix) and not Path(value).is_absolute():
            data[key] = str(path.parent / value)
    return _extended(path, data, seen)


def _extended(path: Path, data: dict, seen: tuple[Path, ...]) -> dict:
    """`data` over the config it `extends` (if any): top-level keys replaced, tables merged key by key."""
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"--config {path}: extends must be a path to a TOML file; got {base!r}")
    base_path = path.parent / base  # not resolved: paths in it stay as relative as the caller's
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise ConfigError(f"--config {path}: extends {base} makes a loop")
    merged = _read(base_path, (*seen, path.resolve()))
    for key, value in data.items():
        merged[key] = {**merged.get(key, {}), **value} if key in _SECTIONS else value
    return merged


def _check_keys(given: dict, allowed: set[str], where: str, section: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(f"{where}: {section}unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def config_toml(cfg: DistillConfig, folder: str | Path | None = None) -> str:
    """`cfg` as a config file that `distill_config(file, method=cfg.method)` reads back to the same
    DistillConfig: every field, so that a teacher's stored settings can be rerun (`gtn-nas distill
    --method M --config FILE`). The method is not a key (TOML cannot hold both `method` and the
    [method] table), and the calibration grid's seed follows the distillation's. Paths (a space or
    ranking-pool file) are written relative to `folder`, where the file is to live, as `_read` takes them."""
    d = cfg.to_dict()
    d.pop("method")
    for key, suffix in _PATHS.items():
        value = d.get(key)
        if folder is not None and isinstance(value, str) and value.endswith(suffix) and not Path(value).is_absolute():
            d[key] = os.path.relpath(value, folder)
    tables = {"teacher": d.pop("teacher"), "method": d.pop("method_options"), "calibration": d.pop("calibration")}
    tables["calibration"].pop("seed", None)
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if v is not None]
    for name, table in tables.items():
        words = _NONE_WORDS if name == "calibration" else {}
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_toml_value(v, words.get(k))}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def _toml_value(value, none_word: str | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(f'"{none_word}"' if v is None else _toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)
