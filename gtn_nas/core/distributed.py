"""Distillation over several processes, launched by torchrun.

The K students of a meta-step are dealt to the ranks (student k to rank k mod N); each rank
accumulates its students' meta-gradients, one all-reduce sums them, and every rank then takes the
same clipped Adam step, so the teachers stay identical without ever being broadcast. A run on N
ranks therefore equals the one-process run with the same K up to the order of the floating-point
sums. Rank 0 alone writes checkpoints and metrics; any rank count can resume any checkpoint.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the world is one process and
torch.distributed is never touched. gloo on CPU, nccl on CUDA (one GPU per local rank).
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError, GtnNasError


class RankFailure(GtnNasError):
    """Another process of a distributed run died or stopped this one."""


def _failure(message: str) -> RankFailure:
    """A RankFailure, with torchrun's SIGTERM ignored from now on.

    Once a rank knows the run is over it must still save its checkpoint and say why; a SIGTERM
    landing in that save (torchrun sends one whether or not gloo noticed first) would replace the
    message and cut the save short.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return RankFailure(message)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def students(self, k: int) -> range:
        """The indices (of 0..k-1) of the meta-step's students this rank trains."""
        return range(self.rank, k, self.size)

    def share_from_main(self, tensors: list[torch.Tensor]) -> None:
        """Overwrite `tensors` on every rank with rank 0's, in place (a start that the ranks make
        each on their own, such as a fit on a GPU, need not come out bit-identical)."""
        if self.size == 1:
            return
        with torch.no_grad():
            for t in tensors:
                try:
                    dist.broadcast(t.data, src=0)
                except RuntimeError as exc:
                    raise _failure(f"another process of this run failed ({str(exc).splitlines()[0]})") from None

    def gather(self, k: int, mine: dict[int, float], device: torch.device | str = "cpu") -> list[float]:
        """The values of all k students of a meta-step on every rank, given this rank's (by index);
        `device`: where the exchange happens (NCCL needs CUDA tensors)."""
        values = torch.zeros(k, dtype=torch.float64, device=device)
        for i, v in mine.items():
            values[i] = v
        if self.size > 1:
            try:
                dist.all_reduce(values)  # each index is filled by exactly one rank
            except RuntimeError as exc:
                raise _failure(f"another process of this run failed ({str(exc).splitlines()[0]})") from None
        return values.tolist()

    def sum_gradients(self, params: list[torch.Tensor], loss: float) -> float:
        """Sum `.grad` and the meta-loss over ranks, in place; returns the summed loss.

        A parameter no rank produced a gradient for keeps `.grad = None`, as in one process (Adam
        skips it, rather than decaying its moments with a zero gradient).
        """
        if self.size == 1:
            return loss
        ref = params[0]
        parts = [
            p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=ref.dtype, device=ref.device)
            for p in params
        ]
        has = torch.tensor([float(p.grad is not None) for p in params] + [loss], dtype=ref.dtype, device=ref.device)
        flat = torch.cat(parts + [has])
        try:
            dist.all_reduce(flat)
        except RuntimeError as exc:  # gloo/nccl: a peer closed the connection or timed out
            reason = re.sub(r"^\[.*?\] ", "", str(exc).splitlines()[0]).split(". ")[
                0
            ]  # gloo: "[file:line] Connection ..."
            raise _failure(f"another process of this run failed ({reason})") from None
        offset = 0
        for p, n in zip(params, flat[-len(params) - 1 : -1].tolist()):
            g = flat[offset : offset + p.numel()].view_as(p)
            p.grad = g.clone() if n > 0 else None
            offset += p.numel()
        return float(flat[-1])


def world_from_env() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def device_for(world: World, device: torch.device) -> torch.device:
    """One GPU per local rank; CPU ranks share the CPU."""
    if device.type == "cuda" and world.size > 1:
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {world.local_rank} has no GPU ({torch.cuda.device_count()} visible)")
        return torch.device("cuda", world.local_rank)
    return device


@contextmanager
def process_group(world: World, device: torch.device):
    """Join torchrun's process group for the duration (no-op for one process).

    torchrun stops the surviving ranks with SIGTERM when one fails; that becomes a RankFailure, so
    rank 0 says why, after its checkpoint logic has run, instead of dying silently.
    """
    if world.size == 1:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)

    def stopped(signum, frame):
        raise _failure("stopped by torchrun (another process of this run failed)")

    previous = signal.signal(signal.SIGTERM, stopped)
    failed = False
    try:
        yield
    except RankFailure:
        failed = True  # SIGTERM stays ignored: the process is ending and must get its message out
        raise
    finally:
        if not failed:
            signal.signal(signal.SIGTERM, previous)
        dist.destroy_process_group()
