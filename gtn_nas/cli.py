"""The `gtn-nas` command line: a thin shell over the Python API.

Every gtn-nas error becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import GtnNasError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Neural architecture search on learned synthetic MNIST data.")

DataDir = typer.Option(None, "--data-dir", help="Folder with the four MNIST IDX files (default: $GTN_NAS_DATA, else a cache folder; downloaded when missing).")
Device = typer.Option("auto", "--device", help="auto, cpu or cuda.")
Storage = typer.Option(None, "--storage", help="Optuna storage URL (sqlite:///..., postgresql://..., journal://FILE) or a SQLite file path.")


@app.callback()
def _root() -> None:
    """Neural architecture search on learned synthetic MNIST data."""


def _threads() -> None:
    import os

    import torch

    if "GTN_NAS_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["GTN_NAS_THREADS"]))


@app.command("ground-truth")
def ground_truth(
    space: str = typer.Option("convnet", help="Built-in space name or path to a .toml space file."),
    n_archs: int = typer.Option(60, "--n-archs", min=1, help="Architectures drawn from the space."),
    arch_seed: int = typer.Option(0, "--arch-seed", help="Seed of the architecture draw."),
    archs_from: Optional[Path] = typer.Option(None, "--archs-from", help="Use the architectures of this CSV instead of drawing."),
    epochs: int = typer.Option(1, min=1),
    seeds: int = typer.Option(2, "--seeds", min=1, help="Training seeds per architecture (mean and spread)."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", min=100, help="Train on this many examples only (smoke tests)."),
    out: Path = typer.Option(..., "--out", help="Output CSV."),
    storage: Optional[str] = Storage,
    study_name: Optional[str] = typer.Option(None, "--study-name"),
    max_archs: Optional[int] = typer.Option(None, "--max-archs", min=1, help="Stop after this many architectures (this worker)."),
    stale_after: float = typer.Option(120.0, "--stale-after", help="Seconds without heartbeat before a RUNNING architecture is redone."),
    data_dir: Optional[Path] = DataDir,
    device: str = Device,
) -> None:
    """Fully train architectures on real MNIST: the yardstick proxies are ranked against."""
    from .data import load_mnist
    from .device import resolve_device
    from .ground_truth import GroundTruthConfig, run_ground_truth
    from .progress import progress_bar
    from .spaces import load_space, specs_from_csv
    from .training import FullTraining
    from .workqueue import WorkQueue, open_storage, storage_url

    _threads()
    dev = resolve_device(device)
    sp = load_space(space)
    specs = specs_from_csv(archs_from) if archs_from else sp.sample(n_archs, arch_seed)
    cfg = GroundTruthConfig(FullTraining(epochs=epochs), tuple(range(seeds)), train_examples)
    url = storage_url(storage, out.with_suffix(".db"))
    queue = WorkQueue(open_storage(url), study_name or cfg.study_name(sp.name), specs, stale_after)
    data = load_mnist(data_dir).to(dev)
    with progress_bar() as bar:
        task = bar.add_task("ground truth", total=len(specs), completed=len(queue.completed()), info="")

        def report(aid, result):
            bar.update(task, completed=len(queue.completed()), info=f"{aid}: val {result['val_acc']:.4f}")

        frame = run_ground_truth(queue, data, cfg, out, dev, max_archs, report)
    typer.echo(f"{len(frame)} of {len(specs)} architectures done; wrote {out} (storage {url})")


def main() -> None:
    try:
        app()
    except GtnNasError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
