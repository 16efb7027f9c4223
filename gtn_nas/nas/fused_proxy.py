"""`--proxy fused`: score a candidate with a fitted fused model (fused.py) by computing the features it
was fitted on.

Each feature column names the proxy that makes it: `real@16` is the real-data proxy at 16 steps,
`teacher:gm@32` the teacher proxy of a gm teacher at 32 steps (the search's `--teacher` must be that
teacher), `naswot` and `synflow` the zero-cost proxies; the encoding comes from the spec. A trained
proxy trains once, to its largest step count, and is scored along the way at the smaller ones (as
benchmarks/nas_frontier.py scores them). Every part runs with the search's own settings (seed,
validation images, batch size, lr grid), so a model should be fitted on scores made with the same
settings. A candidate's cost is the sum of its parts'.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import pandas as pd

from ..core.errors import ConfigError
from ..core.students import accuracy, build_student, count_params
from ..core.training import sgd_steps
from .fused import FusedModel, encode
from .proxies import make_proxy, per_image_forward_flops, teacher_name

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


def trajectory(proxy, spec: dict, budgets: list[int]) -> dict:
    """Scores after each of `budgets` steps along one training of `proxy`'s batches (as the frontier
    benchmark scores them), averaged over the proxy's student seeds; one training's cost plus an
    evaluation per budget."""
    scores, seconds, flops = {t: 0.0 for t in budgets}, 0.0, 0
    seeds = [proxy.settings.seed + i for i in range(proxy.settings.seeds)]
    for seed in seeds:
        start = time.perf_counter()
        net = build_student(spec, seed, proxy.device)

        def after(t: int, net=net) -> None:  # bound: each seed has its own net
            if t in scores:
                scores[t] += accuracy(net.eval(), None, proxy.val.x, proxy.val.y) / len(seeds)

        sgd_steps(net, proxy.batches[: max(budgets)], after, proxy.max_grad_norm)
        seconds += time.perf_counter() - start
        f = per_image_forward_flops(net)
        images = sum(len(b[1]) for b in proxy.batches[: max(budgets)])
        flops += int(3 * f * images + f * len(proxy.val) * len(budgets))
    return {"scores": scores, "seconds": seconds, "flops": flops, "params": count_params(net)}


@dataclass
class FusedProxy:
    """The search-facing scorer: the same interface as proxies.Proxy. `parts`: proxy name -> (its
    Proxy, the feature columns it makes with their step counts; None for a zero-cost score)."""

    name: str
    settings: object  # ProxySettings
    model: FusedModel
    parts: dict
    setup: dict = field(default_factory=dict)
    scored: int = 0

    def score(self, spec: dict) -> dict:
        self.scored += 1
        row, seconds, flops, params = encode(spec), 0.0, 0, 0
        for part, columns in self.parts.values():
            if columns[0][1] is None:  # zero-cost
                r = part.score(spec)
                row[columns[0][0]] = r["score"]
            else:
                r = trajectory(part, spec, [steps for _, steps in columns])
                row.update({col: r["scores"][steps] for col, steps in columns})
            seconds, flops, params = seconds + r["seconds"], flops + r["flops"], r["params"]
        predicted = float(self.model.predict(pd.DataFrame([row]))[0])
        return {"score": predicted, "seconds": seconds, "flops": flops, "params": params}


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
    """One part per proxy the model's columns name, built with the search's settings: a trained
    proxy for its largest step count (its smaller ones are read along the same training)."""
    model = check_fused(settings, teacher)
    wanted: dict[str, list] = {}
    for col, (proxy, steps) in parts_of(model).items():
        wanted.setdefault(proxy, []).append((col, steps))
    parts = {}
    for proxy, columns in wanted.items():
        kind = "teacher" if proxy.startswith("teacher:") else proxy
        steps = max((s for _, s in columns if s is not None), default=settings.steps)
        path = settings.teacher if kind == "teacher" else None
        part = dataclasses.replace(settings, kind=kind, fused_model=None, teacher=path, steps=steps)
        parts[proxy] = (make_proxy(part, data, device, space, exclude, teacher if kind == "teacher" else None), columns)
    setup = {k: sum(float(p.setup.get(k, 0.0)) for p, _ in parts.values()) for k in ("setup_seconds", "setup_flops")}
    setup["distill_seconds"] = max((float(p.setup.get("distill_seconds", 0.0)) for p, _ in parts.values()), default=0.0)
    return FusedProxy("fused", settings, model, parts, setup)
