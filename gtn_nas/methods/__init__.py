"""Meta-gradient methods, selected by name: `bptt`, `ift`, `gm` (one module each)."""

from __future__ import annotations

from ..errors import ConfigError
from .base import MetaContext, MetaGradient, MetaResult
from .bptt import Bptt, BpttConfig
from .gm import Gm, GmConfig
from .ift import Ift, IftConfig

METHODS = {"bptt": (Bptt, BpttConfig), "ift": (Ift, IftConfig), "gm": (Gm, GmConfig)}


def make_method(name: str, options: dict | None = None) -> MetaGradient:
    """The method called `name`, configured from a dict of its config's fields."""
    if name not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}; got {name!r}")
    cls, cfg_cls = METHODS[name]
    return cls(cfg_cls(**(options or {})))


__all__ = ["METHODS", "MetaContext", "MetaGradient", "MetaResult", "make_method",
           "Bptt", "BpttConfig", "Ift", "IftConfig", "Gm", "GmConfig"]
