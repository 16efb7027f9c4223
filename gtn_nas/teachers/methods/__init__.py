"""Meta-gradient methods, selected by name: `bptt`, `ift`, `gm` (one module each)."""

from __future__ import annotations

import dataclasses

from ...core.errors import ConfigError
from .base import MetaContext, MetaGradient, MetaResult, Pending
from .bptt import Bptt, BpttConfig
from .gm import Gm, GmConfig
from .ift import Ift, IftConfig

METHODS = {"bptt": (Bptt, BpttConfig), "ift": (Ift, IftConfig), "gm": (Gm, GmConfig)}


def make_method(name: str, options: dict | None = None) -> MetaGradient:
    """The method called `name`, configured from a dict of its config's fields."""
    if name not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}; got {name!r}")
    cls, cfg_cls = METHODS[name]
    try:
        return cls(cfg_cls(**(options or {})))
    except TypeError:  # an option the method does not have
        known = {f.name for f in dataclasses.fields(cfg_cls)}
        unknown = sorted(set(options or {}) - known)
        raise ConfigError(
            f"--method {name}: [method] unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            if unknown
            else f"--method {name}: bad [method] options {options}"
        ) from None


def resolve_options(name: str, given: dict) -> dict:
    """Every option of method `name`: the given ones, defaults for the rest (validated)."""
    return dataclasses.asdict(make_method(name, given).cfg)


__all__ = [
    "METHODS",
    "MetaContext",
    "MetaGradient",
    "MetaResult",
    "Pending",
    "make_method",
    "resolve_options",
    "Bptt",
    "BpttConfig",
    "Ift",
    "IftConfig",
    "Gm",
    "GmConfig",
]
