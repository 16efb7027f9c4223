"""The `gtn-nas` command line: a thin shell over the Python API (`gtn_nas.api`).

Every gtn-nas error becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import ConfigError, GtnNasError
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

# -- ground-truth options ------------------------------------------------------------------------
Space = Annotated[str, typer.Option("--space", help="Built-in space name or path to a .toml space file.")]
NArchs = Annotated[int, typer.Option("--n-archs", min=1, help="Architectures drawn from the space.")]
ArchSeed = Annotated[int, typer.Option("--arch-seed", help="Seed of the architecture draw.")]
Epochs = Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs of Adam (default: 1).")]
Schedule = Annotated[
    str | None,
    typer.Option("--schedule", help="Adam's lr over training: constant or cosine, annealed to 0 (default: constant)."),
]
GtSeeds = Annotated[
    int | None, typer.Option("--seeds", min=1, help="Training seeds per architecture, mean and spread (default: 2).")
]
TrainExamples = Annotated[
    int | None, typer.Option("--train-examples", min=100, help="Train on this many examples only (smoke tests).")
]
GtOut = Annotated[
    Path,
    typer.Option("--out", help="Output CSV (missing folders are created; the study's SQLite file goes beside it)."),
]


@app.command("ground-truth")
def ground_truth(
    out: GtOut,
    space: Space = "convnet",
    n_archs: NArchs = 60,
    arch_seed: ArchSeed = 0,
    archs_from: ArchsFrom = None,
    epochs: Epochs = None,
    schedule: Schedule = None,
    seeds: GtSeeds = None,
    train_examples: TrainExamples = None,
    storage: Storage = None,
    study_name: StudyName = None,
    max_archs: MaxArchs = None,
    stale_after: StaleAfter = None,
    wait: Wait = False,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Fully train architectures on real MNIST: the yardstick proxies are ranked against.

    Exit status 0 only when every architecture has its row; 3 when some are still claimed by other
    (possibly dead) workers or waiting (the message says how many, and when they become reclaimable).
    """
    from .. import api

    api.threads_from_env()
    api.check_output_file(out)
    api.check_storage_file(storage, out)
    specs = api.specs_from_csv(archs_from) if archs_from else api.load_space(space).sample(n_archs, arch_seed)
    training = api.FullTraining(**given(epochs=epochs, schedule=schedule))
    runs = given(seeds=None if seeds is None else tuple(range(seeds)), train_examples=train_examples)
    cfg = api.GroundTruthConfig(training, **runs)
    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("ground truth", total=len(specs), info="")
        tick = lambda aid, result: bar.update(task, advance=1, info=f"{aid}: val {result['val_acc']:.4f}")  # noqa: E731
        run = api.ground_truth(
            specs, cfg, out, storage=storage, study_name=study_name, max_archs=max_archs, wait=wait,
            data_dir=data_dir, device=device, on_arch=tick, **given(stale_after=stale_after),
        )  # fmt: skip
    # The count after the last look at the queue (the frame may predate another worker's last row).
    typer.echo(f"{run.pending.complete} of {len(specs)} architectures done; wrote {out} (storage {run.storage})")
    echo_unfinished(run.pending)


# -- distill options -----------------------------------------------------------------------------
Method = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Meta-gradient (default: ift): bptt (exact, memory grows with the unroll), ift or gm (flat memory in T).",
    ),
]
TeacherOut = Annotated[
    Path,
    typer.Option("--out", help="Teacher checkpoint to write (metrics CSV beside it; missing folders are created)."),
]
Config = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file with any other setting: teacher, method knobs, space (docs/guide.md)."),
]
MetaSteps = Annotated[
    int | None,
    typer.Option(
        "--meta-steps",
        help="Default: the method's 15-minute laptop budget (bptt 800, ift 240, gm 400); 0: the fitted start alone.",
    ),
]
Students = Annotated[
    int | None,
    typer.Option("--students-per-step", help="Students per meta-step, K (default: 1; --objective rank needs >= 2)."),
]
Objective = Annotated[
    str | None,
    typer.Option(
        "--objective",
        help="accuracy (default: the students' real-data loss), rank (order pool students as full training does) "
        "or twin (pull each student's loss to its twin's, trained longer on real data); rank and twin measured "
        "no better than accuracy.",
    ),
]
RankPool = Annotated[
    Path | None,
    typer.Option("--rank-pool", help="--objective rank: ground-truth CSV of the ranking pool (gtn-nas ground-truth)."),
]
RankWeight = Annotated[
    float | None,
    typer.Option(
        "--rank-weight", help="--objective rank: mean loss + this x rank loss (default: the rank loss alone)."
    ),
]
MetaLr = Annotated[
    float | None,
    typer.Option("--meta-lr", help="Adam's meta-lr (default: 0.001 from a fitted start, 0.01 from noise)."),
]
InnerSteps = Annotated[int | None, typer.Option("--inner-steps", help="T, the steps a student takes (default: 32).")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Synthetic images per inner step (default: 128).")]
Calibrate = Annotated[
    bool | None,
    typer.Option(
        "--calibrate/--no-calibrate",
        help="Grid-search inner lr x momentum x clip afterwards (default: ift and gm, where it measured better).",
    ),
]
DistillSeed = Annotated[
    int | None, typer.Option("--seed", help="Seed of every random choice (default: 0; same seed, same teacher).")
]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue the checkpoint at --out (default: refuse to overwrite it).")
]


@app.command()
def distill(
    out: TeacherOut,
    method: Method = None,
    config: Config = None,
    meta_steps: MetaSteps = None,
    students_per_step: Students = None,
    objective: Objective = None,
    rank_pool: RankPool = None,
    rank_weight: RankWeight = None,
    meta_lr: MetaLr = None,
    inner_steps: InnerSteps = None,
    batch_size: BatchSize = None,
    calibrate: Calibrate = None,
    seed: DistillSeed = None,
    resume: Resume = False,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Train a teacher (GTN generator or pixel set) with one meta-gradient method."""
    from .. import api

    api.threads_from_env()
    api.check_output_file(out)
    api.check_output_file(api.metrics_path(out), "--out (its metrics CSV)")
    cfg = api.distill_config(
        config, method=method, meta_steps=meta_steps, students_per_step=students_per_step, objective=objective,
        rank_pool=None if rank_pool is None else str(rank_pool), rank_weight=rank_weight, meta_lr=meta_lr,
        calibrate=calibrate, seed=seed, teacher={"inner_steps": inner_steps, "batch_size": batch_size},
    )  # fmt: skip
    api.resolve_device(device)  # every option is checked before any work (and before the progress bar)
    api.check_distill_output(out, resume)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    with progress_bar(disable=quiet or not main_rank) as bar:
        fits = cfg.teacher.init == "real" and cfg.teacher.kind == "generator" and not resume
        info = "fitting the generator to real images" if fits else ""
        task = bar.add_task(f"distill {cfg.method}", total=cfg.meta_steps, info=info)
        show = lambda row: bar.update(task, completed=row["meta_step"], info=_step_info(row))  # noqa: E731
        run = api.distill(cfg, out, resume=resume, score=True, data_dir=data_dir, device=device, on_step=show)
    if run.is_main:
        typer.echo(_distill_summary(run, cfg))


def _step_info(row: dict) -> str:
    acc = "" if row["val_acc"] != row["val_acc"] else f" val {row['val_acc']:.3f}"
    return f"loss {row['meta_loss']:.3f}{acc} mem {row['peak_mem_mb']:.0f}MB"


def _calibration_line(c: dict, no_clip: str = "") -> str:
    clip = f", gradient norm clipped at {c['max_grad_norm']}" if c.get("max_grad_norm") is not None else no_clip
    holdout = f"training-split holdout accuracy {c['holdout_acc']:.4f}"
    return f"inner lr x{c['lr_scale']}, momentum {c['momentum']}{clip} ({holdout}"


def _distill_summary(run, cfg) -> str:
    lines = [f"calibrated: {_calibration_line(run.calibration)})"] if run.calibration else []
    final, steps = run.validation, int(run.metrics["meta_step"].iloc[-1]) if len(run.metrics) else 0
    ranks = f", {run.world_size} processes" if run.world_size > 1 else ""
    lines.append(
        f"teacher {run.path} ({cfg.method}, {steps} meta-steps{ranks}, {run.elapsed_s:.0f}s): students trained "
        f"{cfg.teacher.inner_steps} steps on its data reach {final['mean']:.4f} validation accuracy (mean of "
        f"{final['n']} students; min {final['min']:.4f}, max {final['max']:.4f}); "
        f"metrics {run.path.with_suffix('.csv')}"
    )
    return "\n".join(lines)


# -- export, calibrate, report -------------------------------------------------------------------
Teacher = Annotated[Path, typer.Option("--teacher", help="Teacher checkpoint.")]


@app.command()
def export(
    teacher: Teacher,
    out: Annotated[Path, typer.Option("--out", help="Output .npz file (missing folders are created).")],
    noise_seed: Annotated[
        int, typer.Option("--noise-seed", help="Noise seed for teachers without a learned curriculum.")
    ] = 0,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="auto, cpu or cuda (default: cpu, so that one teacher gives the same bytes on every machine).",
        ),
    ] = None,
) -> None:
    """Write the teacher's synthetic dataset as a .npz that any framework can train on."""
    from .. import api

    if out.suffix != ".npz":  # before the output checks: the one-line reason is the suffix
        raise ConfigError(f"--out must end in .npz; got {out}")
    api.check_output_file(out)
    n = api.export(teacher, out, noise_seed, **given(device=device))
    typer.echo(f"wrote {out}: {n} images")


@app.command()
def calibrate(
    teacher: Teacher,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the recalibrated checkpoint (may be --teacher itself).")
    ],
    clips: Annotated[
        str | None,
        typer.Option("--clips", help="Gradient-norm clips tried, comma-separated, 'none' = no clip (default: none,1)."),
    ] = None,
    students: Annotated[
        int | None, typer.Option("--students", min=1, help="Distillation-space students per setting (default: 4).")
    ] = None,
    data_dir: DataDir = None,
    device: Device = "auto",
) -> None:
    """Calibrate a trained teacher afresh: inner lr scale x momentum x gradient clip, scored on
    distillation students and a training-split holdout (its earlier calibration is undone first)."""
    from .. import api

    api.threads_from_env()
    grid = None if clips is None else tuple(_clip(c) for c in clips.split(","))
    cfg = api.CalibrationConfig(**given(max_grad_norms=grid, students=students))
    api.check_output_file(out)
    c = api.calibrate(teacher, out, cfg, data_dir=data_dir, device=device)
    grid = f"{len(c['table'])} settings in {c['seconds']:.0f}s"
    typer.echo(f"wrote {out}: {_calibration_line(c, ', no clipping')}; {grid})")


def _clip(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--clips: {text!r} is not a number (or 'none')") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"--clips: {text!r} must be a finite number > 0 (or 'none')")
    return value


Runs = Annotated[list[Path], typer.Argument(help="Search-output CSVs (gtn-nas search), one proxy or budget each.")]
GroundTruth = Annotated[Path, typer.Option("--ground-truth", help="Ground-truth CSV (gtn-nas ground-truth).")]
Bootstrap = Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals.")]


@app.command("report")
def report_cmd(
    runs: Runs,
    ground_truth: GroundTruth,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for ranking.md/.csv, scatter.png and, with several budgets, frontier.csv/.png "
            "(created if missing).",
        ),
    ],
    bootstrap: Bootstrap = 1000,
    seed: Seed = 0,
    device: CheckedDevice = "auto",
) -> None:
    """A report of your search runs against a ground truth: ranking table with intervals, scatter, frontier."""
    from .. import api

    api.resolve_device(device)
    api.check_output_dir(out)
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
