"""Choosing the torch device (explicitly, never through global state)."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; `cuda` without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda; got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    return torch.device(name)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA allocator peak on GPU, resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def threads_from_env() -> None:
    """GTN_NAS_THREADS caps torch's intra-op threads (benchmarks pin it; unset: torch's default)."""
    value = os.environ.get("GTN_NAS_THREADS")
    if value is None:
        return
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"GTN_NAS_THREADS must be a positive integer; got {value!r}")
    torch.set_num_threads(int(value))
