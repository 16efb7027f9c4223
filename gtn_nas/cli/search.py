"""CLI commands `search` and `rank` (registered on the shared app; gtn_nas.cli imports this module)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ..core.errors import ConfigError
from .app import DataDir, Device, Storage, app, check_output_file, check_storage_file, threads_from_env


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated numbers; got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} must list at least one number")
    return values


def _clips(text: str | None) -> tuple[float | None, ...] | None:
    """--max-grad-norm: a clip, or a comma list of them to tune (`none`: no clip)."""
    if text is None:
        return None
    try:
        return tuple(None if v.strip().lower() == "none" else float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--max-grad-norm must be a number, or comma-separated numbers and none; got {text!r}"
        ) from None


def _one_or_grid(values: tuple | None) -> tuple:
    """(the single value, None) or (None, the grid to tune over)."""
    if values is None or len(values) == 1:
        return (values[0] if values else None), None
    return None, values


@app.command()
def search(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Output CSV: one row per architecture scored "
        "(missing folders are created; the study's SQLite file goes beside it).",
    ),
    teacher: Path | None = typer.Option(None, "--teacher", help="Teacher checkpoint (implies --proxy teacher)."),
    proxy: str | None = typer.Option(
        None, "--proxy", help="teacher, real, subset, params, synflow or naswot (default: teacher with --teacher)."
    ),
    space: str = typer.Option(
        "convnet", help="Built-in space name or .toml file (searched; draws lr-tuning architectures)."
    ),
    archs_from: Path | None = typer.Option(
        None, "--archs-from", help="Score exactly the architectures of this CSV instead of searching."
    ),
    steps: int = typer.Option(32, "--steps", min=1, help="Training steps per architecture."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="real/subset batch size (default: the teacher's, else 128)."
    ),
    momentum: str = typer.Option(
        "0.5", "--momentum", help="real/subset SGD momentum; a comma list is tuned with the lr on the holdout."
    ),
    lr: float | None = typer.Option(None, "--lr", help="real/subset learning rate (default: tuned on --lr-grid)."),
    lr_grid: str = typer.Option("0.01,0.03,0.1,0.3", "--lr-grid", help="Learning rates tried when tuning real/subset."),
    n_trials: int = typer.Option(100, "--n-trials", min=1, help="COMPLETE trials in the study, over all workers."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe or random."),
    seed: int = typer.Option(0, "--seed", help="Sampler, student-initialisation and data seed."),
    val_examples: int | None = typer.Option(
        None,
        "--val-examples",
        help="Score on this many validation images (a subset fixed by --seed; default all 10,000).",
    ),
    proxy_seeds: int = typer.Option(
        1, "--proxy-seeds", help="Mean score over this many student initialisations on the same data."
    ),
    max_grad_norm: str | None = typer.Option(
        None,
        "--max-grad-norm",
        help="real/subset: clip each step's gradient to this global norm (a teacher brings its calibrated clip); "
        "a comma list (none = no clip) is tuned with the lr.",
    ),
    storage: str | None = Storage,
    study_name: str | None = typer.Option(
        None, "--study-name", help="Default: derived from the proxy, space or CSV, steps and seed."
    ),
    ground_truth: Path | None = typer.Option(
        None,
        "--ground-truth",
        help="Ground-truth CSV (gtn-nas ground-truth) to report the best architecture's accuracy.",
    ),
    max_archs: int | None = typer.Option(
        None, "--max-archs", min=1, help="--archs-from: stop after this many architectures (this worker)."
    ),
    stale_after: float = typer.Option(
        120.0, "--stale-after", help="Seconds without heartbeat before a dead worker's architecture is redone (>= 2)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="If other workers still hold trials or architectures at the end, wait and redo dead ones."
    ),
    data_dir: Path | None = DataDir,
    device: str = Device,
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score architectures with a proxy: an Optuna search over a space, or exactly those of --archs-from.

    Exit status 0 only when the study is complete (--n-trials COMPLETE trials, or every architecture of
    --archs-from scored); 3 when other, possibly dead, workers still hold some (the message says when
    they become reclaimable; --wait waits and redoes them).
    """
    from optuna.trial import TrialState

    from .. import api
    from ..core.spaces import load_space, specs_from_csv
    from ..nas.heartbeat import validate_stale_after
    from ..nas.proxies import ProxySettings
    from ..nas.ranking import load_ground_truth
    from ..nas.search import make_sampler, search_summary
    from ..nas.shared_trials import search_pending
    from ..nas.workqueue import pending_work, wait_for_queue
    from .progress import progress_bar

    threads_from_env()
    check_output_file(out)
    check_storage_file(storage, out)
    if proxy is None and teacher is None:
        raise ConfigError("give --teacher CHECKPOINT, or --proxy real, subset, params, synflow or naswot")
    fixed_momentum, momentum_grid = _one_or_grid(_floats(momentum, "--momentum"))
    clip, clip_grid = _one_or_grid(_clips(max_grad_norm))
    settings = ProxySettings(
        kind=proxy or "teacher",
        steps=steps,
        batch_size=batch_size,
        momentum=0.5 if fixed_momentum is None else fixed_momentum,  # unused with a grid
        momentum_grid=momentum_grid,
        clip_grid=clip_grid,
        lr=lr,
        lr_grid=_floats(lr_grid, "--lr-grid"),
        seed=seed,
        teacher=str(teacher) if teacher else None,
        val_examples=val_examples,
        seeds=proxy_seeds,
        max_grad_norm=clip,
    ).validate()
    make_sampler(sampler, seed)
    validate_stale_after(stale_after)
    if wait and max_archs is not None:
        raise ConfigError("--wait works until every architecture is scored; it cannot be combined with --max-archs")
    sp = load_space(space)
    specs = specs_from_csv(archs_from) if archs_from else None
    gt = load_ground_truth(ground_truth) if ground_truth and specs is None else None
    common = dict(storage=storage, study_name=study_name, stale_after=stale_after, data_dir=data_dir, device=device)

    runs = []
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("search", total=len(specs) if specs is not None else n_trials, info="")
        if specs is not None:
            ticks = lambda aid, r: bar.update(task, advance=1, info=f"{aid}: {r['score']:.4f}")

            def run_once():
                runs.append(
                    api.evaluate(
                        specs,
                        settings,
                        out,
                        space=sp,
                        source=archs_from.stem,
                        max_archs=max_archs,
                        on_arch=ticks,
                        **common,
                    )
                )
                return pending_work(runs[-1].storage, runs[-1].study_name, specs, stale_after)
        else:

            def ticks(study, trial):  # all workers' complete trials, this one's last proposal
                done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
                bar.update(task, completed=min(done, n_trials), info=trial.user_attrs.get("arch_id", ""))

            def run_once():
                runs.append(api.search(sp, settings, out, n_trials=n_trials, sampler=sampler, on_trial=ticks, **common))
                return search_pending(runs[-1].study, n_trials, stale_after)

        left = wait_for_queue(run_once, wait)
    run = runs[-1]
    if specs is not None:
        typer.echo(
            f"{len(run.frame)} of {len(specs)} architectures scored by {run.proxy_name}; wrote {out} "
            f"(storage {run.storage}, study {run.study_name})"
        )
    else:
        for line in search_summary(run.frame, run.study, gt):
            typer.echo(line)
        typer.echo(f"wrote {out} (storage {run.storage}, study {run.study_name})")
    if not left.done:  # exit 0 means the study is complete
        typer.echo(f"unfinished: {left.describe('architectures' if specs is not None else 'trials')}", err=True)
        raise typer.Exit(3)


@app.command()
def rank(
    runs: list[Path] = typer.Argument(..., help="Search-output CSVs (one or more proxies each)."),
    ground_truth: Path = typer.Option(..., "--ground-truth", help="Ground-truth CSV (gtn-nas ground-truth)."),
    out_csv: Path | None = typer.Option(None, "--out-csv", help="Write the metrics table as CSV."),
    out_md: Path | None = typer.Option(None, "--out-md", help="Write the Markdown table."),
    n_boot: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    combine: list[str] | None = typer.Option(
        None,
        "--combine",
        help="Also rank a combination of proxies, e.g. "
        "teacher:gm+naswot: the mean of each architecture's ranks (repeatable).",
    ),
    paired: list[str] | None = typer.Option(
        None,
        "--paired",
        help="Also test a pair of proxies, e.g. teacher:gm,real: "
        "rho(a) - rho(b) with a paired bootstrap interval and the design's minimal detectable difference "
        "(repeatable).",
    ),
    detect: float | None = typer.Option(
        None, "--detect", help="With --paired: the architectures needed to detect this Δρ (> 0)."
    ),
) -> None:
    """Rank correlation, top-k overlap, regret and cost of each proxy against the ground truth."""
    from .. import api
    from ..core.atomic import write_csv, write_text
    from ..nas.ranking import to_markdown

    for path, option in ((out_csv, "--out-csv"), (out_md, "--out-md")):
        if path is not None:
            check_output_file(path, option)
    if detect is not None and not (math.isfinite(detect) and detect > 0):
        raise ConfigError(f"--detect must be a finite number > 0; got {detect}")
    table = api.rank(ground_truth, runs, n_boot, seed, combine or (), paired or (), detect)
    md = to_markdown(table, ground_truth, n_boot)
    if out_csv:
        write_csv(table, out_csv)
    if out_md:
        write_text(out_md, md)
    typer.echo(md, nl=False)
