"""The `gtn-nas` command line: a thin shell over the Python API.

Every gtn-nas error becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..core.errors import ConfigError, GtnNasError
from .app import (
    DataDir,
    Device,
    Storage,
    app,
    check_output_dir,
    check_output_file,
    check_storage_file,
    threads_from_env,
)


@app.command("ground-truth")
def ground_truth(
    space: str = typer.Option("convnet", help="Built-in space name or path to a .toml space file."),
    n_archs: int = typer.Option(60, "--n-archs", min=1, help="Architectures drawn from the space."),
    arch_seed: int = typer.Option(0, "--arch-seed", help="Seed of the architecture draw."),
    archs_from: Path | None = typer.Option(
        None, "--archs-from", help="Use the architectures of this CSV instead of drawing."
    ),
    epochs: int = typer.Option(1, min=1),
    schedule: str = typer.Option(
        "constant", "--schedule", help="Adam's lr over training: constant or cosine (annealed to 0)."
    ),
    seeds: int = typer.Option(2, "--seeds", min=1, help="Training seeds per architecture (mean and spread)."),
    train_examples: int | None = typer.Option(
        None, "--train-examples", min=100, help="Train on this many examples only (smoke tests)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output CSV (missing folders are created; the study's SQLite file goes beside it)."
    ),
    storage: str | None = Storage,
    study_name: str | None = typer.Option(None, "--study-name"),
    max_archs: int | None = typer.Option(
        None, "--max-archs", min=1, help="Stop after this many architectures (this worker)."
    ),
    stale_after: float = typer.Option(
        120.0, "--stale-after", help="Seconds without heartbeat before a RUNNING architecture is redone (>= 2)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="If other workers still hold architectures at the end, wait and redo those that die."
    ),
    data_dir: Path | None = DataDir,
    device: str = Device,
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fully train architectures on real MNIST: the yardstick proxies are ranked against.

    Exit status 0 only when every architecture has its row; 3 when some are still claimed by other
    (possibly dead) workers or waiting (the message says how many, and when they become reclaimable).
    """
    from .. import api
    from ..core.device import resolve_device
    from ..core.spaces import load_space, specs_from_csv
    from ..core.training import FullTraining
    from ..nas.ground_truth import GroundTruthConfig
    from ..nas.heartbeat import validate_stale_after
    from ..nas.storage import storage_url
    from ..nas.workqueue import pending_work, wait_for_queue
    from .progress import progress_bar

    threads_from_env()
    check_output_file(out)
    check_storage_file(storage, out)
    validate_stale_after(stale_after)
    if wait and max_archs is not None:
        raise ConfigError("--wait works until every architecture has its row; it cannot be combined with --max-archs")
    resolve_device(device)
    sp = load_space(space)
    specs = specs_from_csv(archs_from) if archs_from else sp.sample(n_archs, arch_seed)
    cfg = GroundTruthConfig(FullTraining(epochs=epochs, schedule=schedule), tuple(range(seeds)), train_examples)
    url, name, frames = (
        storage_url(storage, out.with_suffix(".db")),
        study_name or api.ground_truth_study(specs, cfg),
        [],
    )
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("ground truth", total=len(specs), info="")
        report = lambda aid, result: bar.update(task, advance=1, info=f"{aid}: val {result['val_acc']:.4f}")

        def run_once():
            frames.append(
                api.ground_truth(
                    specs,
                    cfg,
                    out,
                    storage=storage,
                    study_name=name,
                    max_archs=max_archs,
                    stale_after=stale_after,
                    data_dir=data_dir,
                    device=device,
                    on_arch=report,
                )
            )
            return pending_work(url, name, specs, stale_after)

        left = wait_for_queue(run_once, wait)
    # The count after the last look at the queue (the frame may predate another worker's last row).
    typer.echo(f"{left.complete} of {len(specs)} architectures done; wrote {out} (storage {url})")
    if not left.done:  # exit 0 means every architecture has its row
        typer.echo(f"unfinished: {left.describe()}", err=True)
        raise typer.Exit(3)


@app.command()
def distill(
    method: str = typer.Option(
        "ift", help="Meta-gradient: bptt (exact, memory grows with the unroll), ift or gm (flat memory in T)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Teacher checkpoint to write (metrics CSV beside it; missing folders are created)."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML file with any other setting: teacher, method knobs, space (see teachers/config_file.py).",
    ),
    meta_steps: int | None = typer.Option(
        None,
        "--meta-steps",
        help="Default: the method's 15-minute laptop budget (bptt 800, ift 240, gm 400); 0: the fitted start alone.",
    ),
    students_per_step: int | None = typer.Option(
        None, "--students-per-step", help="Students per meta-step, K (default 1; --objective rank needs >= 2)."
    ),
    objective: str | None = typer.Option(
        None,
        "--objective",
        help="accuracy (default: the students' real-data loss), rank (order pool students as full training does) "
        "or twin (each student's loss pulled to that of its twin trained longer on real data); rank and twin "
        "measured no better than accuracy.",
    ),
    rank_pool: Path | None = typer.Option(
        None,
        "--rank-pool",
        help="--objective rank: ground-truth CSV of the ranking pool (e.g. results/ground_truth/rank_pool_144.csv).",
    ),
    rank_weight: float | None = typer.Option(
        None, "--rank-weight", help="--objective rank: mean loss + this x rank loss (default: the rank loss alone)."
    ),
    meta_lr: float | None = typer.Option(
        None,
        "--meta-lr",
        help="Adam's meta-lr (default 0.001 from a fitted start: higher undid the fit; 0.01 from noise).",
    ),
    inner_steps: int | None = typer.Option(
        None, "--inner-steps", help="T, the steps a student takes (default 32, as in GTN)."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Synthetic images per inner step (default 128)."),
    calibrate: bool | None = typer.Option(
        None,
        "--calibrate/--no-calibrate",
        help="Grid-search inner lr x momentum x clip afterwards (default: ift, gm: measured better).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of every random choice (default 0; same seed, same teacher)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the checkpoint at --out (default: refuse to overwrite it)."
    ),
    data_dir: Path | None = DataDir,
    device: str = Device,
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar (default: one, with ETA)."),
) -> None:
    """Train a teacher (GTN generator or pixel set) with one meta-gradient method."""
    import os

    from .. import api
    from ..core.data import load_mnist
    from ..core.device import resolve_device
    from ..teachers.config_file import distill_config
    from ..teachers.distillation import metrics_path
    from .progress import progress_bar

    threads_from_env()
    check_output_file(out)
    check_output_file(metrics_path(out), "--out (its metrics CSV)")
    cfg = distill_config(
        config,
        method=method,
        meta_steps=meta_steps,
        students_per_step=students_per_step,
        objective=objective,
        rank_pool=None if rank_pool is None else str(rank_pool),
        rank_weight=rank_weight,
        meta_lr=meta_lr,
        calibrate=calibrate,
        seed=seed,
        teacher={"inner_steps": inner_steps, "batch_size": batch_size},
    )
    resolve_device(device)  # every option is checked before any work (and before the progress bar)
    api.check_distill_output(out, resume)
    data = load_mnist(data_dir)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    with progress_bar(disable=quiet or not main_rank) as bar:
        fits = cfg.teacher.init == "real" and cfg.teacher.kind == "generator" and not resume
        task = bar.add_task(
            f"distill {method}", total=cfg.meta_steps, info="fitting the generator to real images" if fits else ""
        )

        def show(row):
            acc = "" if row["val_acc"] != row["val_acc"] else f" val {row['val_acc']:.3f}"
            info = f"loss {row['meta_loss']:.3f}{acc} mem {row['peak_mem_mb']:.0f}MB"
            bar.update(task, completed=row["meta_step"], info=info)

        run = api.distill(cfg, out, resume=resume, score=True, data=data, device=device, on_step=show)
    if run.is_main:
        typer.echo(_distill_summary(run, cfg))


def _distill_summary(run, cfg) -> str:
    lines = []
    if run.calibration:
        c = run.calibration
        clip = f", gradient norm clipped at {c['max_grad_norm']}" if c.get("max_grad_norm") is not None else ""
        lines.append(
            f"calibrated: inner lr x{c['lr_scale']}, momentum {c['momentum']}{clip} "
            f"(training-split holdout accuracy {c['holdout_acc']:.4f})"
        )
    final, steps = run.validation, int(run.metrics["meta_step"].iloc[-1]) if len(run.metrics) else 0
    elapsed = run.elapsed_s
    ranks = f", {run.world_size} processes" if run.world_size > 1 else ""
    lines.append(
        f"teacher {run.path} ({cfg.method}, {steps} meta-steps{ranks}, {elapsed:.0f}s): students trained "
        f"{cfg.teacher.inner_steps} steps on its data reach {final['mean']:.4f} validation accuracy (mean of "
        f"{final['n']} students; min {final['min']:.4f}, max {final['max']:.4f}); "
        f"metrics {run.path.with_suffix('.csv')}"
    )
    return "\n".join(lines)


@app.command()
def export(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher checkpoint."),
    out: Path = typer.Option(..., "--out", help="Output .npz file (missing folders are created)."),
    noise_seed: int = typer.Option(0, "--noise-seed", help="Noise seed for teachers without a learned curriculum."),
) -> None:
    """Write the teacher's synthetic dataset as a .npz that any framework can train on."""
    from .. import api

    if out.suffix != ".npz":  # before the output checks: the one-line reason is the suffix
        raise ConfigError(f"--out must end in .npz; got {out}")
    check_output_file(out)
    n = api.export(teacher, out, noise_seed)
    typer.echo(f"wrote {out}: {n} images")


@app.command()
def calibrate(
    teacher: Path = typer.Option(..., "--teacher", help="Trained teacher checkpoint."),
    out: Path = typer.Option(
        ..., "--out", help="Where to write the recalibrated checkpoint (may be --teacher itself)."
    ),
    clips: str = typer.Option(
        "none,1", "--clips", help="Gradient-norm clips tried ('none' = no clipping), comma-separated."
    ),
    students: int = typer.Option(4, "--students", min=1, help="Distillation-space students per setting."),
    data_dir: Path | None = DataDir,
    device: str = Device,
) -> None:
    """Calibrate a trained teacher afresh: inner lr scale x momentum x gradient clip, scored on
    distillation students and a training-split holdout (its earlier calibration is undone first)."""
    from .. import api
    from ..teachers.calibration import CalibrationConfig

    threads_from_env()
    grid = tuple(None if c.strip().lower() == "none" else _positive_float(c, "--clips") for c in clips.split(","))
    cfg = CalibrationConfig(max_grad_norms=grid, students=students)
    check_output_file(out)
    c = api.calibrate(teacher, out, cfg, data_dir=data_dir, device=device)
    clip = f", gradient norm clipped at {c['max_grad_norm']}" if c["max_grad_norm"] is not None else ", no clipping"
    typer.echo(
        f"wrote {out}: inner lr x{c['lr_scale']}, momentum {c['momentum']}{clip} "
        f"(training-split holdout accuracy {c['holdout_acc']:.4f}; {len(c['table'])} settings in {c['seconds']:.0f}s)"
    )


def _positive_float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a number (or 'none')") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{option}: {text!r} must be a finite number > 0 (or 'none')")
    return value


@app.command("report")
def report_cmd(
    runs: list[Path] = typer.Argument(..., help="Search-output CSVs (gtn-nas search), one proxy or budget each."),
    ground_truth: Path = typer.Option(..., "--ground-truth", help="Ground-truth CSV (gtn-nas ground-truth)."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder for ranking.md/.csv, scatter.png and, with several budgets, "
        "frontier.csv/.png (created if missing).",
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same inputs and seed, same bytes)."),
) -> None:
    """A report of your search runs against a ground truth: ranking table with intervals, scatter, frontier."""
    from .. import api

    check_output_dir(out)
    for path in api.report_runs(runs, ground_truth, out, bootstrap, seed):
        typer.echo(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every expected failure into one line on stderr."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI prints its own progress
    try:
        code = app(args=argv, standalone_mode=False)
    except GtnNasError as exc:
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted; rerun the same command (with --resume for distill) to continue", 130)
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), 1)
    except Exception as exc:
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise  # a bug: keep the traceback
        _fail(exc.format_message().replace("\n", " "), 2)  # a usage error (unknown option, bad value)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


from . import search as cli_search  # noqa: E402,F401  (registers `search` and `rank` on `app`)
