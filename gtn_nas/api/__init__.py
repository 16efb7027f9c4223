"""The Python API: what a notebook (or a benchmark) calls. Dataclass configs in, data out; nothing
is printed. The CLI parses options, calls these functions and prints what they return.

    import gtn_nas

    run = gtn_nas.distill(gtn_nas.DistillConfig(method="gm", meta_steps=50), out="gm.pt")
    specs = gtn_nas.load_space("convnet").sample(20, seed=0)
    scores = gtn_nas.evaluate(specs, gtn_nas.ProxySettings(teacher="gm.pt"), out="gm.csv")
    truth = gtn_nas.ground_truth(specs, gtn_nas.GroundTruthConfig(), out="gt.csv")
    print(gtn_nas.rank("gt.csv", ["gm.csv"])[["proxy", "spearman", "kendall"]])

Every function that trains takes `data` (an already loaded `MNIST`, e.g. to reuse it across calls)
or `data_dir`, and `device` ("auto", "cpu", "cuda" or a torch.device). Work queues and studies
live in an Optuna storage (`storage`: any Optuna URL or a file path; default: SQLite beside `out`),
so every call resumes where an interrupted one stopped and several processes can share the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import torch

# The names below the first block are re-exported for the CLI, which imports nothing else of the
# package (its types, errors, path checks and readers come from here).
from ..core.atomic import write_csv, write_text  # noqa: F401
from ..core.data import MNIST, load_mnist
from ..core.device import resolve_device, threads_from_env  # noqa: F401
from ..core.distributed import device_for, process_group, world_from_env
from ..core.errors import ConfigError, GtnNasError  # noqa: F401
from ..core.paths import check_output_dir, check_output_file, check_storage_file  # noqa: F401
from ..core.spaces import Space, arch_id, load_space, specs_from_csv  # noqa: F401
from ..core.training import FullTraining  # noqa: F401
from ..nas.fused_proxy import check_fused, make_fused
from ..nas.ground_truth import GroundTruthConfig, run_ground_truth
from ..nas.heartbeat import validate_stale_after
from ..nas.proxies import ProxySettings, make_proxy
from ..nas.ranking import load_ground_truth, rank_all  # noqa: F401
from ..nas.search import (
    bind_settings,
    evaluate_queue,
    make_sampler,
    open_search_study,
    record_setup,
    run_search,
    search_summary,  # noqa: F401
    stored_recipe,
)
from ..nas.shared_trials import open_search_storage, search_pending
from ..nas.storage import heartbeat_every, open_storage, storage_url
from ..nas.studies import default_study_name, list_stem, quiet_optuna
from ..nas.workqueue import Pending, WorkQueue, wait_for_queue
from ..report.rank_markdown import to_markdown  # noqa: F401
from ..teachers.calibration import CalibrationConfig
from ..teachers.checkpoints import load_teacher as _load_teacher
from ..teachers.checkpoints import metrics_path  # noqa: F401
from ..teachers.config import DistillConfig
from ..teachers.config_file import distill_config  # noqa: F401
from ..teachers.distillation import Distiller
from ..teachers.generator import Teacher, TeacherConfig  # noqa: F401

# Seconds without a heartbeat before a worker's claimed architecture or trial is redone (>= 2).
STALE_AFTER = 120.0
N_TRIALS = 100  # COMPLETE trials a search runs to, over all workers
SAMPLER = "tpe"


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)


def _data(data: MNIST | None, data_dir, device: torch.device) -> MNIST:
    return (data if data is not None else load_mnist(data_dir)).to(device)


# -- teachers ------------------------------------------------------------------------------------


@dataclass
class Distilled:
    teacher: Teacher
    metrics: pd.DataFrame  # one row per meta-step (the CSV written beside the checkpoint)
    calibration: dict  # chosen inner lr scale / momentum ({} when not calibrated; else the last calibration)
    path: Path
    world_size: int = 1
    is_main: bool = True  # False on the torchrun ranks that do not write
    validation: dict | None = None  # with score=True: fresh students' validation accuracy
    elapsed_s: float = 0.0  # wall clock of the fit, the meta-steps (monitoring included) and the calibrations


def distill(
    config: DistillConfig,
    out: str | Path,
    *,
    resume: bool = False,
    score: bool = False,
    data: MNIST | None = None,
    data_dir=None,
    device: str | torch.device = "auto",
    on_step: Callable[[dict], None] | None = None,
) -> Distilled:
    """Train a teacher (continue it with `resume`) and save it at `out`; under torchrun the students
    of each meta-step are spread over the processes (see `distributed`)."""
    out = Path(out)
    config = config.validate()
    check_distill_output(out, resume)
    world = world_from_env()
    dev = device_for(world, _device(device))
    with process_group(world, dev):
        d = Distiller(config, _data(data, data_dir, dev), dev, world)
        if resume and out.exists():
            from ..core.checkpoint import load_checkpoint

            d.restore(load_checkpoint(out, map_location=dev), out)
        d.run(out, on_step)
    return Distilled(
        d.teacher,
        pd.DataFrame(d.metrics),
        d.calibration or d.start_calibration or {},
        out,
        world.size,
        world.is_main,
        d.final_summary() if score and world.is_main else None,
        d.elapsed,
    )


def check_distill_output(out: str | Path, resume: bool) -> None:
    """A new run never overwrites a checkpoint; `resume` continues it."""
    if Path(out).exists() and not resume:
        raise ConfigError(f"{out} exists; pass --resume to continue it or choose another --out")


def export(teacher: str | Path, out: str | Path, noise_seed: int = 0, device: str | torch.device = "cpu") -> int:
    """Write the teacher's synthetic dataset (images, labels, per-step lr and momentum) as a .npz;
    the number of images. Generated on the CPU by default: one teacher, the same bytes everywhere."""
    from ..teachers.export import export_npz

    if Path(out).suffix != ".npz":
        raise ConfigError(f"--out must end in .npz; got {out}")
    return export_npz(teacher, out, noise_seed, _device(device))


def calibrate(
    teacher: str | Path,
    out: str | Path,
    config: CalibrationConfig | None = None,
    *,
    data: MNIST | None = None,
    data_dir=None,
    device: str | torch.device = "auto",
) -> dict:
    """Calibrate a trained teacher afresh (its earlier calibration undone) and save it at `out`
    (which may be `teacher`); the chosen setting and the whole grid."""
    from ..teachers.recalibration import recalibrate

    dev = _device(device)
    return recalibrate(teacher, out, _data(data, data_dir, dev), config or CalibrationConfig(), dev)


def load_teacher(path: str | Path, device: str | torch.device = "auto") -> Teacher:
    """A frozen teacher from a checkpoint (loaded with weights_only=True)."""
    return _load_teacher(path, _device(device))[0]


# -- the yardstick -------------------------------------------------------------------------------


@dataclass
class GroundTruthRun:
    frame: pd.DataFrame  # one row per architecture finished so far, by any worker (the output CSV)
    storage: str
    study_name: str
    pending: Pending  # what the queue still lacks after this call (`pending.done`: every row is in)


@quiet_optuna()
def ground_truth(
    specs: list[dict],
    config: GroundTruthConfig = GroundTruthConfig(),
    out: str | Path = "ground_truth.csv",
    *,
    storage: str | None = None,
    study_name: str | None = None,
    max_archs: int | None = None,
    stale_after: float = STALE_AFTER,
    wait: bool = False,
    data: MNIST | None = None,
    data_dir=None,
    device: str | torch.device = "auto",
    on_arch: Callable[[str, dict], None] | None = None,
) -> GroundTruthRun:
    """Fully train `specs` (each for every seed of `config`) through a shared, resumable work queue,
    written to `out`. With `wait`, architectures other workers hold are waited for, and redone if
    those workers die, until every one has its row."""
    validate_stale_after(stale_after)
    _check_wait(wait, max_archs)
    dev = _device(device)
    data = _data(data, data_dir, dev)
    if config.train_examples is not None and config.train_examples > len(data.train):  # before any study file exists
        raise ConfigError(
            f"--train-examples {config.train_examples} exceeds the {len(data.train)} training examples loaded"
        )
    url = storage_url(storage, Path(out).with_suffix(".db"))
    name, frames = study_name or ground_truth_study(specs, config), []

    def once() -> Pending:
        queue = WorkQueue(open_storage(url), name, specs, stale_after)
        frames.append(run_ground_truth(queue, data, config, Path(out), dev, max_archs, on_arch))
        return queue.pending()

    left = wait_for_queue(once, wait, heartbeat_every(stale_after))
    return GroundTruthRun(frames[-1], url, name, left)


def ground_truth_study(specs: list[dict], config: GroundTruthConfig = GroundTruthConfig()) -> str:
    """The default study of `ground_truth(specs, config)`, the CLI's too, so either resumes the
    other's work: the settings plus a digest of the architectures (a grown list is a new study)."""
    return config.study_name(list_stem("specs", specs))


# -- proxies: evaluate given architectures, or search a space ------------------------------------


@dataclass
class SearchRun:
    frame: pd.DataFrame  # one row per architecture scored (the output CSV)
    study: optuna.Study
    storage: str
    study_name: str
    proxy_name: str
    pending: Pending | None = None  # what the study still lacks after this call (`pending.done`: complete)


@quiet_optuna()
def evaluate(
    specs: list[dict],
    proxy: ProxySettings,
    out: str | Path,
    *,
    space: str | Space = "convnet",
    source: str = "archs",
    storage: str | None = None,
    study_name: str | None = None,
    max_archs: int | None = None,
    stale_after: float = STALE_AFTER,
    wait: bool = False,
    data: MNIST | None = None,
    data_dir=None,
    device: str | torch.device = "auto",
    on_arch: Callable[[str, dict], None] | None = None,
) -> SearchRun:
    """Score exactly `specs` with a proxy through a shared, resumable work queue (each architecture
    once over all workers; `wait` as in `ground_truth`). `space` draws the lr-tuning architectures
    of real/subset; `source` names the list in the default study name."""
    validate_stale_after(stale_after)
    _check_wait(wait, max_archs)
    settings, dev, sp = proxy.validate(), _device(device), _space(space)
    loaded = _loaded(settings, dev)
    url = storage_url(storage, Path(out).with_suffix(".db"))
    name = study_name or default_study_name(settings, "evaluate", list_stem(source, specs), "")
    queue = WorkQueue(open_search_storage(url, stale_after=None), name, specs, stale_after)
    extra = {"mode": "evaluate", "space": sp.name}
    scorer = _bound_proxy(queue.study, settings, extra, data, data_dir, dev, sp, {arch_id(s) for s in specs}, loaded)
    frames = []

    def once() -> Pending:
        frames.append(evaluate_queue(queue, scorer, Path(out), max_archs, on_arch))
        return queue.pending()

    left = wait_for_queue(once, wait, heartbeat_every(stale_after))
    return SearchRun(frames[-1], queue.study, url, name, scorer.name, left)


@quiet_optuna()
def search(
    space: str | Space,
    proxy: ProxySettings,
    out: str | Path,
    *,
    n_trials: int = N_TRIALS,
    sampler: str = SAMPLER,
    storage: str | None = None,
    study_name: str | None = None,
    stale_after: float = STALE_AFTER,
    wait: bool = False,
    data: MNIST | None = None,
    data_dir=None,
    device: str | torch.device = "auto",
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> SearchRun:
    """An Optuna search (TPE or random) over `space`, scoring each proposal with the proxy, until the
    study holds `n_trials` COMPLETE trials over all workers (`wait`: also those other workers hold,
    redone if they die)."""
    validate_stale_after(stale_after)
    if n_trials < 1:
        raise ConfigError(f"--n-trials must be >= 1; got {n_trials}")
    make_sampler(sampler, proxy.seed)  # an unknown sampler is refused before any study exists
    settings, dev, sp = proxy.validate(), _device(device), _space(space)
    loaded = _loaded(settings, dev)
    url = storage_url(storage, Path(out).with_suffix(".db"))
    name = study_name or default_study_name(settings, "search", sp.name, f"-{sampler}")
    study = open_search_study(open_search_storage(url, stale_after), name, sampler, settings.seed)
    scorer = _bound_proxy(study, settings, {"mode": "search", "space": sp.name}, data, data_dir, dev, sp, set(), loaded)
    frames = []

    def once() -> Pending:
        frames.append(run_search(study, scorer, sp, n_trials, Path(out), on_trial, stale_after))
        return search_pending(study, n_trials, stale_after)

    left = wait_for_queue(once, wait, heartbeat_every(stale_after))
    return SearchRun(frames[-1], study, url, name, scorer.name, left)


def rank(
    ground_truth: str | Path,
    runs: list[str | Path],
    n_boot: int = 1000,
    seed: int = 0,
    combine: list[str] | tuple[str, ...] = (),
    paired: list[str] | tuple[str, ...] = (),
    detect: float | None = None,
) -> pd.DataFrame:
    """Each proxy's rank correlations, top-k overlap, regret and cost against the ground truth;
    `combine` adds rank-averaged proxies ("teacher:gm+naswot"), `paired` a row per pair "a,b":
    rho(a) - rho(b) with a paired bootstrap interval and the design's minimal detectable difference
    (`mdd`); `detect` d adds the architectures needed to detect a difference of d (`n_needed`)."""
    return rank_all(ground_truth, runs, n_boot, seed, combine, paired, detect)


def report_runs(
    runs: list[str | Path], ground_truth: str | Path, out: str | Path, n_boot: int = 1000, seed: int = 0
) -> list[Path]:
    """Write a report of search runs against a ground truth into folder `out` (ranking table with
    intervals, score-vs-truth scatter, the cost frontier when a proxy ran at several budgets)."""
    from ..report.runs import report_runs as write

    return write(runs, ground_truth, out, n_boot, seed)


# -- helpers -----------------------------------------------------------------------------------------


def _check_wait(wait: bool, max_archs: int | None) -> None:
    if wait and max_archs is not None:
        raise ConfigError("--wait works until every architecture is done; it cannot be combined with --max-archs")


def _space(space: str | Space) -> Space:
    return space if isinstance(space, Space) else load_space(space)


def _loaded(settings: ProxySettings, dev):
    """The teacher the settings name, loaded; a fused model checked against it (before any study)."""
    loaded = _load_teacher(settings.teacher, dev) if settings.teacher else None
    if settings.kind == "fused":
        check_fused(settings, loaded)
    return loaded


def _bound_proxy(study, settings, extra, data, data_dir, dev, sp, exclude, loaded):
    """The proxy, after the study has checked this worker's settings against its record."""
    bind_settings(study, settings, extra)
    settings = stored_recipe(study, settings)
    build = make_fused if settings.kind == "fused" else make_proxy
    scorer = build(settings, _data(data, data_dir, dev), dev, sp, exclude, loaded)
    record_setup(study, scorer)
    return scorer


def fuse(
    scores: list[str | Path],
    ground_truth: str | Path | list[str | Path],
    out: str | Path,
    folds: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
    target: str | None = None,
):
    """Fit the fused proxy (`gtn_nas.nas.fused`) on the ground truth's architectures from search-output
    CSVs of any proxies (scores after several step counts become separate features), judge it by
    k-fold cross-validation over architectures, refit it on all of them and write it to `out` (JSON),
    with the out-of-fold predictions beside it (`out` with suffix .csv). Several ground-truth files
    (e.g. ConvNets and MLPs) are one training set. `target`: what the trees fit (`fused.TARGETS`;
    None: `fused.DEFAULT_TARGET`). Returns the `FusedFit`."""
    from ..nas.fused import DEFAULT_TARGET, fit_to_file

    return fit_to_file(scores, ground_truth, out, folds, seed, n_boot, target or DEFAULT_TARGET)
