"""The work queue under races and crashes, on a real SQLite storage (PostgreSQL: test_postgres.py)."""

import multiprocessing as mp
import time

import pytest
from optuna.trial import TrialState
from workers import SPECS, completions_race

from gtn_nas.core.errors import ConfigError
from gtn_nas.nas.storage import open_storage, storage_url
from gtn_nas.nas.workqueue import WorkQueue


def _open(path, stale_after=120.0, specs=SPECS):
    return WorkQueue(open_storage(storage_url(None, path)), "q", specs, stale_after)


def _states(queue, aid):
    return [t.state for t in queue.study.get_trials() if t.user_attrs.get("arch_id") == aid]


# Tests that make a claim stale by backdating its heartbeat 1000 s use a long stale_after, so that on a
# loaded machine the claims they make themselves, seconds apart, never turn stale too.
BACKDATED = 60


def _backdate(queue, trial):
    queue.storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time() - 1000)


def test_a_result_for_a_reclaimed_trial_goes_to_its_retry_once(tmp_path):
    a = _open(tmp_path / "q.db", stale_after=BACKDATED)
    mine = a.claim()
    _backdate(a, mine)
    b = _open(tmp_path / "q.db", stale_after=BACKDATED)
    b.reclaim_stale()  # another worker thinks the first is dead: FAIL + a WAITING retry
    aid = mine.user_attrs["arch_id"]
    assert sorted(_states(b, aid), key=str) == sorted([TrialState.FAIL, TrialState.WAITING], key=str)
    assert a.complete(mine, 0.5, {"score": 0.5})  # the first worker finishes after all: recorded, no error
    assert _states(b, aid).count(TrialState.COMPLETE) == 1 and TrialState.WAITING not in _states(b, aid)
    # ... so nobody trains it again.
    claimed = {b.claim().user_attrs["arch_id"] for _ in range(len(SPECS) - 1)}
    assert aid not in claimed and b.claim() is None


def test_a_late_result_for_a_finished_architecture_is_dropped_without_error(tmp_path):
    a = _open(tmp_path / "q.db", stale_after=BACKDATED)
    mine = a.claim()
    _backdate(a, mine)
    b = _open(tmp_path / "q.db", stale_after=BACKDATED)
    b.reclaim_stale()
    retry = next(t for t in iter(b.claim, None) if t.user_attrs["arch_id"] == mine.user_attrs["arch_id"])
    assert b.complete(retry, 0.7, {"score": 0.7})
    assert not a.complete(mine, 0.1, {"score": 0.1})
    done = [
        t
        for t in b.study.get_trials(states=(TrialState.COMPLETE,))
        if t.user_attrs["arch_id"] == mine.user_attrs["arch_id"]
    ]
    assert len(done) == 1 and done[0].value == 0.7


def test_a_crash_between_fail_and_enqueue_loses_nothing(tmp_path):
    a = _open(tmp_path / "q.db")
    lost = a.claim()
    a.storage.set_trial_state_values(lost._trial_id, TrialState.FAIL)  # ... and died before re-enqueueing
    b = _open(tmp_path / "q.db")  # opening repairs the queue
    scored = []
    b.run(lambda spec: (scored.append(spec) or 1.0, {}))
    assert len(scored) == len(SPECS) and b.remaining() == 0
    complete = [t.user_attrs["arch_id"] for t in b.study.get_trials(states=(TrialState.COMPLETE,))]
    assert sorted(complete) == sorted(_aid(s) for s in SPECS)  # each exactly once


def test_an_empty_looking_queue_repairs_itself_before_giving_up(tmp_path):
    q = _open(tmp_path / "q.db")
    t = q.claim()
    q.storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    q.run(lambda spec: (1.0, {}))  # same process, no reopen
    assert len(q.completed()) == len(SPECS)


def test_heartbeats_keep_a_slow_architecture_claimed(tmp_path):
    q = _open(tmp_path / "q.db", stale_after=2, specs=SPECS[:1])
    other = _open(tmp_path / "q.db", stale_after=2, specs=SPECS[:1])
    seen = []

    def slow(spec):
        time.sleep(3)  # longer than stale_after: only the background heartbeat keeps the claim
        other.reclaim_stale()
        seen.append(_states(other, _aid(spec)))
        return 1.0, {}

    assert q.run(slow) == 1
    assert seen == [[TrialState.RUNNING]]
    assert [t.state for t in q.study.get_trials()] == [TrialState.COMPLETE]


def _aid(spec):
    from gtn_nas.core.spaces import arch_id

    return arch_id(spec)


def _claim_all(path, out):
    q = WorkQueue(open_storage(storage_url(None, path)), "race", [], 120)
    out.put([t.number for t in iter(q.claim, None)])


def test_claims_are_exclusive_on_sqlite(tmp_path):
    specs = [{"family": "mlp", "depth": 1, "width": w, "activation": "relu", "norm": "none"} for w in range(1, 41)]
    WorkQueue(open_storage(storage_url(None, tmp_path / "race.db")), "race", specs, 120)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(tmp_path / "race.db", out)) for _ in range(3)]
    for p in procs:
        p.start()
    claimed = [n for _ in procs for n in out.get(timeout=120)]
    for p in procs:
        p.join()
    assert sorted(claimed) == list(range(40))  # every trial claimed, none twice


@pytest.mark.parametrize("bad", [0, 1.9, -5, float("nan"), float("inf")])
def test_stale_after_is_validated(tmp_path, bad):
    with pytest.raises(ConfigError, match="--stale-after"):
        _open(tmp_path / "q.db", stale_after=bad)


def test_two_live_copies_of_an_architecture_record_one_result(tmp_path):
    q = _open(tmp_path / "q.db", specs=SPECS[:1])
    q._enqueue(SPECS[0], repaired=True)  # two workers repaired the same loss at once
    first, second = q.claim(), q.claim()
    assert first.user_attrs["arch_id"] == second.user_attrs["arch_id"]
    assert q.complete(first, 0.9, {"score": 0.9}) and not q.complete(second, 0.1, {"score": 0.1})
    states = sorted(t.state.name for t in q.study.get_trials())
    assert states == ["COMPLETE", "PRUNED"] and q.completed()[0].value == 0.9


def test_two_live_copies_completing_at_once_record_one_result(tmp_path, monkeypatch):
    states = completions_race(lambda: _open(tmp_path / "q.db", specs=SPECS[:1]), monkeypatch)
    assert states == [TrialState.COMPLETE, TrialState.PRUNED]


# -- deterministic fault injection at the named points ------------------------------------------


class Killed(BaseException):
    """A worker stopped dead at an injection point (nothing of it runs afterwards)."""


def _kill_after(storage, method, when):
    """Make `storage.method` raise Killed right after a call for which `when(*args, **kwargs)` holds."""
    real = getattr(storage, method)

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        if when(*args, **kwargs):
            raise Killed(method)
        return out

    setattr(storage, method, wrapped)


def _score(spec):
    return 1.0, {"score": 1.0}


def _finish_after_the_dead_worker(path, stale_after=2):
    """A second worker: runs at once (the dead worker's claim is not stale yet), then waits for it."""
    from gtn_nas.nas.workqueue import wait_for_queue

    b = _open(path, stale_after=stale_after)
    b.run(_score)
    left = b.pending()
    assert not left.done and left.claimed == 1 and 0 <= left.reclaimable_in <= stale_after, left
    assert "1 claimed by other workers" in left.describe() and left.describe().startswith(
        f"{len(SPECS) - 1} of {len(SPECS)} architectures done"
    )
    done = wait_for_queue(lambda: (b.run(_score), b.pending())[1], wait=True)
    assert done.done and b.pending().done
    complete = [t.user_attrs["arch_id"] for t in b.study.get_trials(states=(TrialState.COMPLETE,))]
    assert sorted(complete) == sorted(_aid(s) for s in SPECS)  # each exactly once
    return b


def test_killed_after_the_running_write_the_end_is_truthful_and_wait_redoes_it(tmp_path):
    a = _open(tmp_path / "q.db", stale_after=2)
    _kill_after(a.storage, "set_trial_state_values", lambda tid, state, values=None: state == TrialState.RUNNING)
    with pytest.raises(Killed):
        a.claim()
    _finish_after_the_dead_worker(tmp_path / "q.db")


def test_killed_inside_finish_the_end_is_truthful_and_wait_redoes_it(tmp_path):
    a = _open(tmp_path / "q.db", stale_after=2)
    _kill_after(a.storage, "set_trial_user_attr", lambda tid, key, value: key == "score")  # before the state write
    with pytest.raises(Killed):
        a.run(_score)
    [half] = a.study.get_trials(states=(TrialState.RUNNING,))
    assert "score" in half.user_attrs  # attributes written, state not: the partial write the point names
    b = _finish_after_the_dead_worker(tmp_path / "q.db")
    assert all(t.user_attrs.get("score") == 1.0 for t in b.completed())


def test_a_repair_between_fail_and_enqueue_cannot_add_a_second_copy(tmp_path):
    """Worker A fails a stale trial; before it re-enqueues, worker B repairs the queue. Without one
    lock around both, B sees no live copy and enqueues one, and so does A: trained twice."""
    import threading

    a = _open(tmp_path / "q.db", stale_after=BACKDATED)
    mine = a.claim()
    _backdate(a, mine)
    b = _open(tmp_path / "q.db", stale_after=BACKDATED)
    racer = threading.Thread(target=b.repair, daemon=True)
    real = a.storage.set_trial_state_values

    def fail_then_let_b_repair(tid, state, values=None):
        out = real(tid, state, values)
        if state == TrialState.FAIL and not racer.is_alive():
            racer.start()
            racer.join(timeout=2.0)  # B repairs now (or blocks on the lock until A is done)
        return out

    a.storage.set_trial_state_values = fail_then_let_b_repair
    a.reclaim_stale()
    racer.join(timeout=30)
    assert not racer.is_alive()
    aid = mine.user_attrs["arch_id"]
    assert sorted(s.name for s in _states(b, aid)) == ["FAIL", "WAITING"]


def test_killed_between_fail_and_enqueue_loses_nothing(tmp_path):
    a = _open(tmp_path / "q.db", stale_after=BACKDATED)
    mine = a.claim()
    _backdate(a, mine)
    _kill_after(a.storage, "set_trial_state_values", lambda tid, state, values=None: state == TrialState.FAIL)
    with pytest.raises(Killed):
        a.reclaim_stale()
    assert _states(a, mine.user_attrs["arch_id"]) == [TrialState.FAIL]  # no copy left: the loss the point names
    b = _open(tmp_path / "q.db", stale_after=BACKDATED)
    b.run(_score)
    assert b.pending().done and len(b.study.get_trials(states=(TrialState.COMPLETE,))) == len(SPECS)


def test_a_creator_killed_while_filling_is_finished_by_the_next_worker_at_once(tmp_path, monkeypatch):
    import threading

    real, calls = WorkQueue._enqueue, []

    def dies_on_the_second(self, spec, **extra):
        calls.append(spec)
        if len(calls) == 2:
            raise Killed("filling")
        return real(self, spec, **extra)

    monkeypatch.setattr(WorkQueue, "_enqueue", dies_on_the_second)
    with pytest.raises(Killed):
        _open(tmp_path / "q.db")
    monkeypatch.setattr(WorkQueue, "_enqueue", real)
    joined = []
    joiner = threading.Thread(target=lambda: joined.append(_open(tmp_path / "q.db")), daemon=True)
    joiner.start()
    joiner.join(timeout=20)  # not after a 60 s timeout, which let a slow (live) creator fill twice
    assert joined, "the joining worker waited for a dead creator"
    ids = [t.user_attrs["arch_id"] for t in joined[0].study.get_trials()]
    assert sorted(ids) == sorted(_aid(s) for s in SPECS)  # every architecture queued exactly once


def test_a_slow_creator_and_a_joiner_queue_each_architecture_once(tmp_path, monkeypatch):
    import threading

    real, started = WorkQueue._enqueue, threading.Event()

    def slow(self, spec, **extra):
        started.set()
        time.sleep(0.3)
        return real(self, spec, **extra)

    monkeypatch.setattr(WorkQueue, "_enqueue", slow)
    creator = threading.Thread(target=_open, args=(tmp_path / "q.db",))
    creator.start()
    started.wait(10)
    joiner = _open(tmp_path / "q.db")  # joins while the creator is still filling
    creator.join()
    ids = [t.user_attrs["arch_id"] for t in joiner.study.get_trials()]
    assert sorted(ids) == sorted(_aid(s) for s in SPECS)


def test_a_worker_with_a_skewed_clock_neither_reclaims_live_work_nor_looks_dead(tmp_path, monkeypatch):
    """Heartbeats and staleness by the storage's clock: a worker 1000 s behind beats, one 1000 s ahead
    judges, and the live claim stands (with each worker's own clock, it was reclaimed at once)."""
    real = time.time
    a = _open(tmp_path / "q.db", stale_after=60)
    b = _open(tmp_path / "q.db", stale_after=60)
    monkeypatch.setattr(time, "time", lambda: real() - 1000)
    mine = a.claim()
    a.heartbeat(mine)
    monkeypatch.setattr(time, "time", lambda: real() + 1000)
    b.reclaim_stale()
    assert _states(b, mine.user_attrs["arch_id"]) == [TrialState.RUNNING]
    assert 55 < b.pending().reclaimable_in <= 60


def test_storages_without_the_queue_lock_are_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="needs a SQLite file or PostgreSQL storage") as err:
        WorkQueue(open_storage(f"journal://{tmp_path / 'q.log'}"), "q", SPECS, 120)
    assert "\n" not in str(err.value)


def test_waiting_stops_only_when_every_architecture_is_done():
    from gtn_nas.nas.storage import heartbeat_every
    from gtn_nas.nas.workqueue import Pending, wait_for_queue

    runs = iter([Pending(3, 2, 0, 1, 0, 4.0), Pending(3, 2, 0, 1, 0, 0.0), Pending(3, 3, 0, 0, 0, None)])
    slept = []
    assert wait_for_queue(lambda: next(runs), wait=True, sleep=slept.append).done
    assert slept == [4.5, 1.0]
    # a live claim (stale in 100 s) is polled at the heartbeat interval, not slept on until then
    runs = iter([Pending(3, 2, 0, 1, 0, 100.0), Pending(3, 3, 0, 0, 0, None)])
    slept = []
    assert wait_for_queue(lambda: next(runs), wait=True, poll=heartbeat_every(120), sleep=slept.append).done
    assert slept == [10.0]
    once = iter([Pending(3, 2, 0, 1, 0, 4.0)])
    assert not wait_for_queue(lambda: next(once), wait=False).done
