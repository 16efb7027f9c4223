"""Search spaces: declarative TOML files of architecture specs.

A space file holds any number of `[[grid]]` tables (a family plus a list of choices per key; the
grid is their Cartesian product) and `[[arch]]` tables (one explicit architecture each):

    name = "convnet"
    [[grid]]
    family = "conv"
    depth = [1, 2, 3]
    width = [16, 32, 64]
    activation = ["relu", "tanh"]
    norm = ["none", "batch"]
    pooling = ["max", "avg"]

An architecture spec is a plain dict (JSON-serialisable); its id is a readable, stable string
such as `conv-d2-w32-relu-batch-max`. Enumeration order is the file order, then the product
order, so spaces count, enumerate and sample deterministically.
"""

from __future__ import annotations

import itertools
import json
import random
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import SpaceError

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "silu")
FAMILIES = {
    # key -> (type, allowed values or (min, max))
    "conv": {
        "depth": (int, (1, 6)),
        "width": (int, (1, 512)),
        "activation": (str, ACTIVATIONS),
        "norm": (str, ("none", "batch", "instance", "layer", "weight")),
        "pooling": (str, ("max", "avg", "none")),
    },
    "mlp": {
        "depth": (int, (0, 6)),
        "width": (int, (1, 4096)),
        "activation": (str, ACTIVATIONS),
        "norm": (str, ("none", "batch", "layer", "weight")),
    },
    # The GTN paper's MNIST learner (students.py): two convolutions' channels and a hidden layer's units
    "gtn": {
        "conv1": (int, (1, 512)),
        "conv2": (int, (1, 512)),
        "fc": (int, (1, 4096)),
    },
}


def arch_id(spec: dict) -> str:
    """Stable, readable id of a (validated) spec."""
    if spec["family"] == "conv":
        return "conv-d{depth}-w{width}-{activation}-{norm}-{pooling}".format(**spec)
    if spec["family"] == "gtn":
        return "gtn-c{conv1}-c{conv2}-f{fc}".format(**spec)
    return "mlp-d{depth}-w{width}-{activation}-{norm}".format(**spec)


def spec_to_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)


def _check_value(where: str, key: str, value, kind, allowed) -> None:
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or not allowed[0] <= value <= allowed[1]:
            raise SpaceError(f"{where}: key '{key}' must be an integer in [{allowed[0]}, {allowed[1]}], got {value!r}")
    elif value not in allowed:
        raise SpaceError(f"{where}: key '{key}' must be one of {', '.join(allowed)}; got {value!r}")


def validate_spec(spec: dict, where: str = "spec") -> dict:
    """Check a spec's family, keys and values; return it with keys in canonical order."""
    if not isinstance(spec, dict):
        raise SpaceError(f"{where}: an architecture must be a table/object, got {type(spec).__name__}")
    family = spec.get("family")
    if family not in FAMILIES:
        raise SpaceError(f"{where}: key 'family' must be one of {', '.join(FAMILIES)}; got {family!r}")
    schema = FAMILIES[family]
    extra = set(spec) - set(schema) - {"family"}
    if extra:
        raise SpaceError(
            f"{where}: unknown key(s) {', '.join(sorted(extra))} for family '{family}' (expected {', '.join(schema)})"
        )
    for key, (kind, allowed) in schema.items():
        if key not in spec:
            raise SpaceError(f"{where}: missing key '{key}' for family '{family}'")
        _check_value(where, key, spec[key], kind, allowed)
    return {"family": family, **{k: spec[k] for k in schema}}


def spec_from_json(text: str, where: str = "spec") -> dict:
    try:
        return validate_spec(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise SpaceError(f"{where}: not valid JSON ({exc.msg})") from None


def _expand_grid(grid: dict, where: str) -> list[dict]:
    family = grid.get("family")
    if family not in FAMILIES:
        raise SpaceError(f"{where}: key 'family' must be one of {', '.join(FAMILIES)}; got {family!r}")
    keys = list(FAMILIES[family])
    for key in keys:
        if key not in grid:
            raise SpaceError(f"{where}: missing key '{key}' (a list of choices)")
        if not isinstance(grid[key], list) or not grid[key]:
            raise SpaceError(f"{where}: key '{key}' must be a non-empty list of choices, got {grid[key]!r}")
    extra = set(grid) - set(keys) - {"family"}
    if extra:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (expected family, {', '.join(keys)})")
    return [
        validate_spec(dict(zip(keys, combo), family=family), where)
        for combo in itertools.product(*(grid[k] for k in keys))
    ]


@dataclass(frozen=True)
class Space:
    name: str
    source: str
    archs: tuple[dict, ...]

    def __len__(self) -> int:
        return len(self.archs)

    def ids(self) -> list[str]:
        return [arch_id(a) for a in self.archs]

    def sample(self, n: int, seed: int) -> list[dict]:
        """n distinct architectures drawn without replacement (all of them if n >= size)."""
        if n >= len(self.archs):
            return list(self.archs)
        return [self.archs[i] for i in random.Random(seed).sample(range(len(self.archs)), n)]


def parse_space(doc: dict, source: str) -> Space:
    extra = set(doc) - {"name", "description", "grid", "arch"}
    if extra:
        raise SpaceError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(extra))} (expected name, description, grid, arch)"
        )
    archs: list[dict] = []
    for i, grid in enumerate(doc.get("grid", [])):
        archs += _expand_grid(grid, f"{source}: grid[{i}]")
    for i, spec in enumerate(doc.get("arch", [])):
        archs.append(validate_spec(spec, f"{source}: arch[{i}]"))
    if not archs:
        raise SpaceError(f"{source}: the space is empty (add [[grid]] or [[arch]] tables)")
    unique = list({arch_id(a): a for a in archs}.values())
    return Space(name=str(doc.get("name", Path(source).stem)), source=source, archs=tuple(unique))


def builtin_spaces() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files("gtn_nas.search_spaces").iterdir()
        if p.name.endswith(".toml")
    )


def load_space(name_or_path: str | Path) -> Space:
    """Load a space from a TOML file path, or by the name of a built-in space (`convnet`, `mlp`, ...)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SpaceError(f"{path}: no such search-space file")
        text, source = path.read_text(), str(path)
    else:
        res = resources.files("gtn_nas.search_spaces") / f"{name_or_path}.toml"
        if not res.is_file():
            raise SpaceError(
                f"unknown search space '{name_or_path}' (built-in: {', '.join(builtin_spaces())}; or pass a .toml path)"
            )
        text, source = res.read_text(), f"search_spaces/{name_or_path}.toml"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{source}: invalid TOML ({exc})") from None
    return parse_space(doc, source)


def specs_from_csv(path: str | Path) -> list[dict]:
    """The architectures listed in a CSV with a `spec` column (JSON), e.g. a ground-truth file."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"{path}: no such file")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "spec" not in rows[0]:
        raise SpaceError(f"{path}: expected a CSV with a 'spec' column (JSON architecture specs)")
    specs = [spec_from_json(r["spec"], f"{path}: row {i + 2}") for i, r in enumerate(rows)]
    return list({arch_id(s): s for s in specs}.values())
