"""Liveness of a claimed trial: a heartbeat thread stamps it, and a trial whose last beat is older
than `stale_after` seconds (on the storage's clock) belonged to a worker that died."""

from __future__ import annotations

import threading
from collections.abc import Callable

from optuna.trial import FrozenTrial

from ..core.errors import ConfigError
from .storage import HEARTBEAT_S


def validate_stale_after(seconds: float) -> float:
    if not seconds >= 2 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(
            f"--stale-after must be a finite number of seconds >= 2 (heartbeats come every "
            f"min({HEARTBEAT_S}, stale_after/4) s); got {seconds}"
        )
    return seconds


def last_beat(trial: FrozenTrial, now: float) -> float:
    """When a RUNNING trial last showed life: its `heartbeat` attribute (storage clock), else its
    start (an older trial's; the claiming worker's clock), else `now`."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else now
    return trial.user_attrs.get("heartbeat", start)


def is_stale(trial: FrozenTrial, now: float, stale_after: float) -> bool:
    """Whether a RUNNING trial's last beat is older than `stale_after` at `now` (storage clock)."""
    return now - last_beat(trial, now) > stale_after


class Heartbeat:
    """Beat for one trial from a daemon thread until stopped (a context manager)."""

    def __init__(self, beat: Callable[[], None], every: float):
        self.beat, self.every, self.stop = beat, every, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # a storage hiccup; the next beat retries, and a lost claim is handled at complete
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
