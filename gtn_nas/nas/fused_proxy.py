"""`--proxy fused`: score a candidate with a fitted fused model (fused.py) by computing the features it
was fitted on.

Each feature column names the proxy that makes it: `real@16` is the real-data proxy at 16 steps,
`teacher:gm@32` the teacher proxy of a gm teacher at 32 steps (the search's `--teacher` must be that
teacher), `naswot` and `synflow` the zero-cost proxies; the encoding comes from the spec. Every part
runs with the search's own settings (seed, validation images, batch size, lr grid), so a model
should be fitted on scores made with the same settings. A candidate's cost is the sum of its parts'.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from ..core.errors import ConfigError
from .fused import FusedModel, encode
from .proxies import make_proxy, teacher_name

KINDS = ("teacher", "real", "subset", "naswot", "synflow", "params")


def parts_of(model: FusedModel) -> dict[str, tuple[str, int | None]]:
    """feature column -> (proxy, steps) for the columns a proxy makes (the rest are the encoding)."""
    out = {}
    for col in model.columns:
        if "@" in col:
            proxy, steps = col.rsplit("@", 1)
            out[col] = (proxy, int(steps))
        elif col in ("naswot", "synflow", "params"):
            out[col] = (col, None)
    return out


@dataclass
class FusedProxy:
    """The search-facing scorer: the same interface as proxies.Proxy."""

    name: str
    settings: object  # ProxySettings
    model: FusedModel
    parts: dict  # column -> Proxy
    setup: dict = field(default_factory=dict)
    scored: int = 0

    def score(self, spec: dict) -> dict:
        self.scored += 1
        results = {col: part.score(spec) for col, part in self.parts.items()}
        row = {**encode(spec), **{col: r["score"] for col, r in results.items()}}
        predicted = float(self.model.predict(pd.DataFrame([row]))[0])
        any_result = next(iter(results.values()), None)
        return {
            "score": predicted,
            "seconds": sum(r["seconds"] for r in results.values()),
            "flops": sum(r["flops"] for r in results.values()),
            "params": any_result["params"] if any_result else 0,
        }


def check_fused(settings, teacher) -> FusedModel:
    """The model, once every feature it needs is one this search can compute (checked before any
    study is opened, so a bad model leaves no file behind)."""
    model = FusedModel.load(settings.fused_model)
    for col, (proxy, _) in parts_of(model).items():
        kind = "teacher" if proxy.startswith("teacher:") else proxy
        if kind == "teacher" and (teacher is None or teacher_name(teacher[1]) != proxy):
            given = teacher_name(teacher[1]) if teacher else "none"
            raise ConfigError(f"the fused model's feature {col} needs a {proxy} teacher (--teacher); given: {given}")
        if kind not in KINDS:
            raise ConfigError(f"the fused model's feature {col}: no proxy {proxy!r} can compute it")
    return model


def make_fused(settings, data, device, space, exclude, teacher) -> FusedProxy:
    """Build every part the model's columns need, each a proxy with the search's settings."""
    model = check_fused(settings, teacher)
    parts = {}
    for col, (proxy, steps) in parts_of(model).items():
        kind = "teacher" if proxy.startswith("teacher:") else proxy
        path = settings.teacher if kind == "teacher" else None
        part = dataclasses.replace(settings, kind=kind, fused_model=None, teacher=path, steps=steps or settings.steps)
        parts[col] = make_proxy(part, data, device, space, exclude, teacher if kind == "teacher" else None)
    setup = {k: sum(float(p.setup.get(k, 0.0)) for p in parts.values()) for k in ("setup_seconds", "setup_flops")}
    setup["distill_seconds"] = max((float(p.setup.get("distill_seconds", 0.0)) for p in parts.values()), default=0.0)
    return FusedProxy("fused", settings, model, parts, setup)
