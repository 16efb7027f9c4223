"""How the API names its Optuna studies, and keeps Optuna quiet while it works.

A study's default name is built from the proxy settings and what is scored (a space, or a list of
architectures named by a digest), so that the same call resumes the same study and a changed one
opens another.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import optuna

from ..core.spaces import arch_id
from .proxies import ProxySettings


@contextlib.contextmanager
def quiet_optuna():
    """Optuna logs INFO lines to stderr ("A new study created ...", "Trial N finished ..."); an API
    call prints nothing. Raised to WARNING for the call only: importing gtn_nas changes nothing, and
    a caller who asked for Optuna's INFO logs gets their level back."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def list_stem(stem: str, specs: list[dict]) -> str:
    """A list's name plus a digest of its architectures, so that a grown list gets a new study."""
    digest = hashlib.sha1("\n".join(sorted(arch_id(s) for s in specs)).encode()).hexdigest()[:8]
    return f"{stem}-n{len(specs)}-{digest}"


def default_study_name(settings: ProxySettings, mode: str, source: str, tail: str) -> str:
    label = Path(settings.teacher).stem if settings.kind == "teacher" else settings.kind
    extra = (f"-v{settings.val_examples}" if settings.val_examples else "") + (
        f"-k{settings.seeds}" if settings.seeds > 1 else ""
    )
    return f"{mode}-{label}-{source}-T{settings.steps}-seed{settings.seed}{extra}{tail}"
