"""CLI commands `search`, `rank` and `fuse` (registered on the shared app; gtn_nas.cli imports this module)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import ConfigError
from .app import (
    ArchsFrom,
    CheckedDevice,
    DataDir,
    Device,
    MaxArchs,
    Quiet,
    Seed,
    StaleAfter,
    Storage,
    StudyName,
    Wait,
    app,
    echo_unfinished,
    given,
)
from .progress import progress_bar

SearchOut = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Output CSV: one row per architecture scored (missing folders are created; the study's SQLite "
        "file goes beside it).",
    ),
]
TeacherCkpt = Annotated[Path | None, typer.Option("--teacher", help="Teacher checkpoint (implies --proxy teacher).")]
Proxy = Annotated[
    str | None,
    typer.Option(
        "--proxy",
        help="teacher, real, subset, params, synflow, naswot or fused (default: teacher with --teacher).",
    ),
]
FusedModel = Annotated[
    Path | None,
    typer.Option(
        "--fused-model",
        help="With --proxy fused: a model from gtn-nas fuse; its features are computed with this search's settings.",
    ),
]
SearchSpace = Annotated[
    str, typer.Option("--space", help="Built-in space name or .toml file (searched; draws lr-tuning architectures).")
]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Training steps per architecture (default: 32).")]
BatchSize = Annotated[
    int | None, typer.Option("--batch-size", min=1, help="real/subset batch size (default: the teacher's, else 128).")
]
Momentum = Annotated[
    str | None,
    typer.Option(
        "--momentum", help="real/subset SGD momentum; a comma list is tuned with the lr on the holdout (default: 0.5)."
    ),
]
Lr = Annotated[float | None, typer.Option("--lr", help="real/subset learning rate (default: tuned on --lr-grid).")]
LrGrid = Annotated[
    str | None,
    typer.Option("--lr-grid", help="Learning rates tried when tuning real/subset (default: 0.01,0.03,0.1,0.3)."),
]
NTrials = Annotated[
    int | None, typer.Option("--n-trials", min=1, help="COMPLETE trials in the study, over all workers (default: 100).")
]
Sampler = Annotated[str | None, typer.Option("--sampler", help="tpe or random (default: tpe).")]
ValExamples = Annotated[
    int | None,
    typer.Option(
        "--val-examples", help="Score on this many validation images (a subset fixed by --seed; default all 10,000)."
    ),
]
ProxySeeds = Annotated[
    int | None,
    typer.Option(
        "--proxy-seeds", help="Mean score over this many student initialisations on the same data (default: 1)."
    ),
]
MaxGradNorm = Annotated[
    str | None,
    typer.Option(
        "--max-grad-norm",
        help="real/subset: clip each step's gradient to this global norm (a teacher brings its calibrated clip); "
        "a comma list (none = no clip) is tuned with the lr.",
    ),
]
SearchGroundTruth = Annotated[
    Path | None,
    typer.Option("--ground-truth", help="Ground-truth CSV (gtn-nas ground-truth): report the best architecture's."),
]


@app.command()
def search(
    out: SearchOut,
    teacher: TeacherCkpt = None,
    proxy: Proxy = None,
    fused_model: FusedModel = None,
    space: SearchSpace = "convnet",
    archs_from: ArchsFrom = None,
    steps: Steps = None,
    batch_size: BatchSize = None,
    momentum: Momentum = None,
    lr: Lr = None,
    lr_grid: LrGrid = None,
    n_trials: NTrials = None,
    sampler: Sampler = None,
    seed: Seed = 0,
    val_examples: ValExamples = None,
    proxy_seeds: ProxySeeds = None,
    max_grad_norm: MaxGradNorm = None,
    storage: Storage = None,
    study_name: StudyName = None,
    ground_truth: SearchGroundTruth = None,
    max_archs: MaxArchs = None,
    stale_after: StaleAfter = None,
    wait: Wait = False,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Score architectures with a proxy: an Optuna search over a space, or exactly those of --archs-from.

    Exit status 0 only when the study is complete (--n-trials COMPLETE trials, or every architecture of
    --archs-from scored); 3 when other, possibly dead, workers still hold some (the message says when
    they become reclaimable; --wait waits and redoes them).
    """
    from .. import api

    api.threads_from_env()
    api.check_output_file(out)
    api.check_storage_file(storage, out)
    if proxy is None and teacher is None:
        raise ConfigError("give --teacher CHECKPOINT, or --proxy real, subset, params, synflow, naswot or fused")
    settings = api.ProxySettings(
        kind=proxy or "teacher", teacher=str(teacher) if teacher else None, seed=seed, lr=lr, batch_size=batch_size,
        fused_model=str(fused_model) if fused_model else None,
        val_examples=val_examples, **given(steps=steps, seeds=proxy_seeds, lr_grid=_floats(lr_grid, "--lr-grid")),
        **_momentum(momentum), **_clip(max_grad_norm),
    ).validate()  # fmt: skip
    sp = api.load_space(space)
    common = dict(storage=storage, study_name=study_name, wait=wait, data_dir=data_dir, device=device)
    common |= given(stale_after=stale_after)
    if archs_from is not None:
        return _evaluate(api, settings, out, sp, archs_from, max_archs, quiet, common)
    if max_archs is not None:
        raise ConfigError("--max-archs works with --archs-from (a search stops at --n-trials)")
    gt = api.load_ground_truth(ground_truth) if ground_truth else None
    run = _search(api, sp, settings, out, given(n_trials=n_trials, sampler=sampler), quiet, common)
    for line in api.search_summary(run.frame, run.study, gt):
        typer.echo(line)
    typer.echo(f"wrote {out} (storage {run.storage}, study {run.study_name})")
    echo_unfinished(run.pending, "trials")


def _evaluate(api, settings, out, sp, archs_from, max_archs, quiet, common) -> None:
    """Score exactly the architectures of `archs_from`, with a bar that ticks per architecture."""
    specs = api.specs_from_csv(archs_from)
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("search", total=len(specs), info="")
        tick = lambda aid, r: bar.update(task, advance=1, info=f"{aid}: {r['score']:.4f}")  # noqa: E731
        run = api.evaluate(
            specs, settings, out, space=sp, source=archs_from.stem, max_archs=max_archs, on_arch=tick, **common
        )
    typer.echo(
        f"{len(run.frame)} of {len(specs)} architectures scored by {run.proxy_name}; wrote {out} "
        f"(storage {run.storage}, study {run.study_name})"
    )
    echo_unfinished(run.pending)


def _search(api, sp, settings, out, budget, quiet, common):
    """An Optuna search, with a bar of all workers' complete trials and this worker's last proposal."""
    from optuna.trial import TrialState

    total = budget.get("n_trials", api.N_TRIALS)
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("search", total=total, info="")

        def tick(study, trial):
            done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            bar.update(task, completed=min(done, total), info=trial.user_attrs.get("arch_id", ""))

        return api.search(sp, settings, out, on_trial=tick, **budget, **common)


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated numbers; got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} must list at least one number")
    return values


def _momentum(text: str | None) -> dict:
    """--momentum: one value, or a grid tuned with the lr."""
    values = _floats(text, "--momentum")
    if values is None:
        return {}
    return {"momentum": values[0]} if len(values) == 1 else {"momentum_grid": values}


def _clip(text: str | None) -> dict:
    """--max-grad-norm: a clip, or a comma list of them to tune (`none`: no clip)."""
    if text is None:
        return {}
    try:
        values = tuple(None if v.strip().lower() == "none" else float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--max-grad-norm must be a number, or comma-separated numbers and none; got {text!r}"
        ) from None
    if len(values) == 1:
        return {"max_grad_norm": values[0]}
    return {"clip_grid": values} if values else {}


@app.command()
def rank(
    runs: Annotated[list[Path], typer.Argument(help="Search-output CSVs (one or more proxies each).")],
    ground_truth: Annotated[Path, typer.Option("--ground-truth", help="Ground-truth CSV (gtn-nas ground-truth).")],
    out_csv: Annotated[Path | None, typer.Option("--out-csv", help="Write the metrics table as CSV.")] = None,
    out_md: Annotated[Path | None, typer.Option("--out-md", help="Write the Markdown table.")] = None,
    n_boot: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals (0: none).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    combine: Annotated[
        list[str] | None,
        typer.Option(
            "--combine",
            help="Also rank a combination of proxies, e.g. teacher:gm+naswot: the mean of each architecture's "
            "ranks (repeatable).",
        ),
    ] = None,
    paired: Annotated[
        list[str] | None,
        typer.Option(
            "--paired",
            help="Also test a pair of proxies, e.g. teacher:gm,real: rho(a) - rho(b) with a paired bootstrap "
            "interval and the design's minimal detectable difference (repeatable). One run per distillation "
            "seed: 'a1;a2,b' (or 'a1;a2,b1;b2'), the mean of the seeds' differences.",
        ),
    ] = None,
    detect: Annotated[
        float | None, typer.Option("--detect", help="With --paired: the architectures needed to detect this Δρ (> 0).")
    ] = None,
    device: CheckedDevice = "auto",
) -> None:
    """Rank correlation, top-k overlap, regret and cost of each proxy against the ground truth."""
    from .. import api

    api.resolve_device(device)
    for path, option in ((out_csv, "--out-csv"), (out_md, "--out-md")):
        if path is not None:
            api.check_output_file(path, option)
    if detect is not None and not (math.isfinite(detect) and detect > 0):
        raise ConfigError(f"--detect must be a finite number > 0; got {detect}")
    table = api.rank(ground_truth, runs, n_boot, seed, combine or (), paired or (), detect)
    md = api.to_markdown(table, ground_truth, n_boot)
    if out_csv:
        api.write_csv(table, out_csv)
    if out_md:
        api.write_text(out_md, md)
    typer.echo(md, nl=False)


@app.command()
def fuse(
    scores: Annotated[list[Path], typer.Argument(help="Search-output CSVs of the proxies to fuse (any step counts).")],
    ground_truth: Annotated[
        list[Path],
        typer.Option(
            "--ground-truth",
            help="Ground-truth CSV with a spec column: the training architectures (repeat it to pool spaces).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The fitted model (.json); out-of-fold predictions go beside it.")],
    folds: Annotated[
        int | None, typer.Option("--folds", help="Cross-validation folds over architectures (default: 10).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Fold and model seed (default: 0).")] = None,
    n_boot: Annotated[
        int | None, typer.Option("--bootstrap", min=0, help="Bootstrap resamples of rho's interval (default: 1000).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="What the trees fit: accuracy, log-error (-log(1 - accuracy)) or rank (quantile among "
            "the training nets; the model then predicts quantiles). Default: the measured best (README).",
        ),
    ] = None,
    device: CheckedDevice = "auto",
) -> None:
    """Fit the fused proxy: a gradient-boosted model from proxies' scores, zero-cost scores and each
    architecture's encoding to its ground-truth accuracy, judged on architectures it never saw."""
    from .. import api

    api.resolve_device(device)
    result = api.fuse(scores, ground_truth, out, **given(folds=folds, seed=seed, n_boot=n_boot, target=target))
    n = len(result.predictions)
    typer.echo(
        f"fused proxy {out}: out-of-fold Spearman rho {result.rho:.3f} [{result.rho_lo:.3f}, {result.rho_hi:.3f}] "
        f"over {n} architectures; refitted on all {n}"
    )
