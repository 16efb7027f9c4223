"""Architecture search with Optuna, and evaluation of given architectures through the work queue.

Two modes share one output format (one row per architecture):

- search (`run_search`): an Optuna study proposes architectures (TPE or random sampler) and the
  proxy scores them. Several workers may share a study: the budget counts COMPLETE trials plus
  RUNNING ones ahead in trial order, so workers stop at exactly `n_trials` complete trials (a
  worker that loses a race records its extra trial as PRUNED with `over_budget`, never as a
  result). A trial of a worker that died is failed and re-enqueued by the next worker once its
  heartbeat is `stale_after` seconds old, instead of holding a slot forever (Optuna's heartbeat on
  RDB storages; a user-attribute heartbeat and `fail_stale` on journal storages, and on RDB ones
  for a trial whose worker died before Optuna recorded its first heartbeat).
- evaluate (`evaluate_queue`): the architectures of a CSV, enqueued in a `WorkQueue`, each scored
  exactly once by whichever worker claims it.

When the sampler proposes an architecture the study has already scored, the stored score is
reused: the trial completes with that value, `reused_from` names the trial that paid for it and
its own cost is 0. Studies record the proxy's settings; a resumed run or an extra worker with
different settings is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from ..core.atomic import write_csv
from ..core.errors import ConfigError
from ..core.spaces import Space, arch_id, spec_to_json, validate_spec
from .optuna_compat import study_storage, trial_id
from .proxies import Proxy, ProxySettings
from .shared_trials import ask, reclaim_stale, slots_taken, tell, trial_heartbeat
from .workqueue import WorkQueue

COLUMNS = [
    "arch_id",
    "spec",
    "proxy",
    "score",
    "seconds",
    "flops",
    "params",
    "trial",
    "proposals",
    "steps",
    "batch_size",
    "lr",
    "seed",
    "setup_seconds",
    "setup_flops",
    "distill_seconds",
]
RESULT_KEYS = ("score", "seconds", "flops", "params")
SAMPLERS = ("tpe", "random")
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # recorded on every trial this process runs


# -- storage and studies ---------------------------------------------------------------------


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # constant_liar: concurrent workers see each other's RUNNING trials and avoid duplicating them.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}; got {name!r}")


def open_search_study(storage, name: str, sampler: str, seed: int) -> optuna.Study:
    """Create the study, or join/resume it. The creator samples with `seed`; a joining worker with
    a seed derived from (seed, trials so far), so that concurrent workers do not propose in lockstep
    and a resumed single worker stays deterministic."""
    make_sampler(sampler, seed)  # validate the name before touching the storage
    try:
        return optuna.create_study(
            storage=storage, study_name=name, direction="maximize", sampler=make_sampler(sampler, seed)
        )
    except optuna.exceptions.DuplicatedStudyError:
        n = len(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
        return optuna.load_study(
            study_name=name, storage=storage, sampler=make_sampler(sampler, seed * 1_000_003 + 1 + n)
        )


def bind_settings(study: optuna.Study, settings: ProxySettings, extra: dict) -> None:
    """Record what the study measures, or refuse a worker whose settings differ from the record."""
    key = json.dumps({**settings.key(), **extra}, sort_keys=True)
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", key)
    elif stored != key:
        diff = {k for k, v in json.loads(key).items() if json.loads(stored).get(k) != v}
        raise ConfigError(
            f"study '{study.study_name}' was made with other settings ({', '.join(sorted(diff))}); "
            "choose another --study-name or --out"
        )


def record_setup(study: optuna.Study, proxy: Proxy) -> None:
    """Store the proxy's one-off choices (the tuned lr, ...) once, for every later worker to reuse."""
    if "setup" not in study.user_attrs:
        study.set_user_attr("setup", {"proxy": proxy.name, **proxy.setup})


def score_and_account(study: optuna.Study, proxy: Proxy, spec: dict) -> dict:
    """proxy.score(spec); the first time this worker scores anything, its one-off cost (data
    generation, lr tuning) is added to the study's. A rerun with nothing left to do adds nothing."""
    result = proxy.score(spec)
    if proxy.scored == 1:
        study.set_user_attr(
            f"worker-{uuid.uuid4().hex[:12]}", {k: proxy.setup.get(k, 0.0) for k in ("setup_seconds", "setup_flops")}
        )
    return result


def stored_recipe(study: optuna.Study, settings: ProxySettings) -> ProxySettings:
    """`settings` with the recipe a previous worker tuned for this study (lr, and momentum and clip
    where they were tuned too), so that later workers do not tune again."""
    setup = study.user_attrs.get("setup", {})
    if "lr" not in setup:
        return settings
    tuned = {"lr": settings.lr or setup["lr"]}
    if settings.momentum_grid is not None:
        tuned.update(momentum=setup["momentum"], momentum_grid=None)
    if settings.clip_grid is not None:
        tuned.update(max_grad_norm=setup.get("max_grad_norm"), clip_grid=None)
    return dataclasses.replace(settings, **tuned)


def setup_costs(study: optuna.Study) -> dict:
    workers = [v for k, v in study.user_attrs.items() if k.startswith("worker-")]
    setup = study.user_attrs.get("setup", {})
    return {
        "setup_seconds": sum(w["setup_seconds"] for w in workers),
        "setup_flops": sum(w["setup_flops"] for w in workers),
        "distill_seconds": setup.get("distill_seconds", 0.0),
        "lr": setup.get("lr", float("nan")),
        "batch_size": setup.get("batch_size"),
    }


# -- architectures as Optuna parameters -------------------------------------------------------


class ArchEncoding:
    """Architectures as Optuna parameters.

    When every family of the space is a full grid, each key is its own categorical parameter
    (`depth`, `width`, ...; `family` first and `conv.depth`... when there are several families),
    so TPE can learn which choices are good. Otherwise (explicit [[arch]] lists, ragged unions)
    one categorical `arch` over the architecture ids.
    """

    def __init__(self, space: Space):
        self.ids = space.ids()
        self.by_id = dict(zip(self.ids, space.archs))
        self.families: dict[str, dict[str, list]] = {}
        for a in space.archs:
            keys = self.families.setdefault(a["family"], {k: [] for k in a if k != "family"})
            for k, choices in keys.items():
                if a[k] not in choices:
                    choices.append(a[k])
        sizes = {f: math.prod(len(c) for c in keys.values()) for f, keys in self.families.items()}
        counts = {f: sum(a["family"] == f for a in space.archs) for f in self.families}
        self.structured = sizes == counts

    def suggest(self, trial: optuna.Trial) -> dict:
        if not self.structured:
            return self.by_id[trial.suggest_categorical("arch", self.ids)]
        fams = list(self.families)
        family = trial.suggest_categorical("family", fams) if len(fams) > 1 else fams[0]
        prefix = f"{family}." if len(fams) > 1 else ""
        spec = {k: trial.suggest_categorical(prefix + k, choices) for k, choices in self.families[family].items()}
        return validate_spec({"family": family, **spec})


# -- results ------------------------------------------------------------------------------------


def first_scored(trials: list[FrozenTrial]) -> dict[str, FrozenTrial]:
    """arch_id -> the first COMPLETE trial that trained it (reused trials point back to it)."""
    out: dict[str, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and "reused_from" not in t.user_attrs and "score" in t.user_attrs:
            out.setdefault(t.user_attrs["arch_id"], t)
    return out


def scores_frame(study: optuna.Study, settings: ProxySettings) -> pd.DataFrame:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    proposals = pd.Series([t.user_attrs.get("arch_id") for t in trials]).value_counts().to_dict()
    setup, name = setup_costs(study), study.user_attrs.get("setup", {}).get("proxy", settings.kind)
    rows = [
        {
            "arch_id": aid,
            "spec": t.user_attrs["spec"],
            "proxy": name,
            **{k: t.user_attrs[k] for k in RESULT_KEYS},
            "trial": t.number,
            "proposals": proposals.get(aid, 1),
            "steps": settings.steps,
            "seed": settings.seed,
            **setup,
        }
        for aid, t in first_scored(trials).items()
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


# -- search ------------------------------------------------------------------------------------


def run_search(
    study: optuna.Study,
    proxy: Proxy,
    space: Space,
    n_trials: int,
    out: Path,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    stale_after: float = 120.0,
) -> pd.DataFrame:
    """Run trials until the study holds `n_trials` COMPLETE trials (shared with other workers).

    An ask/tell loop rather than `study.optimize`, whose tell raises on a trial that another worker
    failed meanwhile (taking this one for dead): here that late result is dropped without an error,
    since the other worker enqueued the architecture again and its retry records it once.
    """
    enc = ArchEncoding(space)
    space_ids = set(enc.ids)

    def objective(trial: optuna.Trial) -> float:
        spec = enc.suggest(trial)
        aid = arch_id(spec)
        if aid not in space_ids:
            raise ConfigError(f"study '{study.study_name}' proposed {aid}, which is not in space '{space.name}'")
        trial.set_user_attr("arch_id", aid)
        trial.set_user_attr("spec", spec_to_json(spec))
        trial.set_user_attr("worker", WORKER)
        if slots_taken(study, trial.number) >= n_trials:  # another worker filled the budget meanwhile
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned("trial budget reached by other workers")
        prior = first_scored(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))).get(aid)
        if prior is None:
            result = score_and_account(study, proxy, spec)
        else:  # already scored in this study: reuse, at no cost, and say so
            result = {**{k: prior.user_attrs[k] for k in RESULT_KEYS}, "seconds": 0.0, "flops": 0}
            trial.set_user_attr("reused_from", prior.number)
        for k in RESULT_KEYS:
            trial.set_user_attr(k, result[k])
        return result["score"]

    while True:
        # Before every trial, not only at start: a dead worker's RUNNING trial would otherwise hold
        # the last budget slot.
        reclaim_stale(study, stale_after)
        if slots_taken(study) >= n_trials:
            break
        trial = ask(study)
        try:
            with trial_heartbeat(study, trial, stale_after):
                value, state = objective(trial), TrialState.COMPLETE
        except optuna.TrialPruned:
            value, state = None, TrialState.PRUNED
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # reclaimed while scoring (writing its result failed): the retry records it
        except BaseException:  # Ctrl-C or a real error: free the slot, then stop
            tell(study, trial, None, TrialState.FAIL)
            raise
        try:
            if not tell(study, trial, value, state):
                continue
            if state == TrialState.COMPLETE:
                write_csv(scores_frame(study, proxy.settings), out)
        except BaseException:  # Ctrl-C inside tell: free the slot now, not when the grace period ends
            tell(study, trial, None, TrialState.FAIL)  # a no-op if tell had finished the trial
            raise
        if on_trial is not None:
            on_trial(study, study_storage(study).get_trial(trial_id(trial)))
        if state == TrialState.PRUNED:
            break  # over budget
    frame = scores_frame(study, proxy.settings)
    write_csv(frame, out)
    return frame


# -- evaluation of given architectures -----------------------------------------------------------


def evaluate_queue(
    queue: WorkQueue,
    proxy: Proxy,
    out: Path,
    max_archs: int | None = None,
    on_arch: Callable[[str, dict], None] | None = None,
) -> pd.DataFrame:
    """Score queued architectures until none is left (or `max_archs` by this worker)."""

    def score(spec):
        result = score_and_account(queue.study, proxy, spec)
        return result["score"], {**result, "worker": WORKER}

    def done(aid, result):
        write_csv(scores_frame(queue.study, proxy.settings), out)
        if on_arch is not None:
            on_arch(aid, result)

    queue.run(score, max_archs, done)
    frame = scores_frame(queue.study, proxy.settings)
    write_csv(frame, out)
    return frame


# -- reporting ----------------------------------------------------------------------------------


def search_summary(frame: pd.DataFrame, study: optuna.Study, ground_truth: pd.DataFrame | None) -> list[str]:
    """Best architecture found, its ground truth when known, and what the search cost."""
    if frame.empty:
        return ["no architecture was scored"]
    best = frame.loc[frame["score"].idxmax()]
    lines = [f"best architecture: {best['arch_id']} ({best['proxy']} score {best['score']:.4f}, trial {best['trial']})"]
    if ground_truth is not None:
        gt = ground_truth.set_index("arch_id")["val_acc"]
        if best["arch_id"] in gt.index:
            rank = int((gt > gt[best["arch_id"]]).sum()) + 1
            lines.append(
                f"ground truth: val_acc {gt[best['arch_id']]:.4f} (rank {rank} of {len(gt)}; best there "
                f"{gt.idxmax()} {gt.max():.4f})"
            )
        else:
            lines.append(
                f"ground truth: {best['arch_id']} is not among the {len(gt)} architectures of the ground-truth file"
            )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    setup = setup_costs(study)
    distill = setup["distill_seconds"]
    lines.append(
        f"cost: {len(complete)} trials, {len(frame)} distinct architectures scored in {frame['seconds'].sum():.1f}s "
        f"and {frame['flops'].sum():.3g} FLOPs, plus one-off {setup['setup_seconds']:.1f}s / "
        f"{setup['setup_flops']:.3g} FLOPs "
        f"(data generation or lr tuning)" + (f" and {distill:.0f}s of teacher distillation" if distill else "")
    )
    return lines
