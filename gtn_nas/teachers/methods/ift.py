"""IFT: implicit-function-theorem meta-gradient with a Neumann-series (or CG) inverse Hessian.

The student is trained on the teacher's data without building any graph (all T steps, or the
next N of them with `warm_steps`, below); its weights w are then treated as a minimiser of the
*IFT inner objective*

    L_syn(w, λ) = mean over J synthetic batches j (drawn at random among the steps it has run) of
                  CE(student(w, x_j(λ)), y_j),

and the meta-gradient of L_real(w) (cross-entropy on a real training batch) is

    dL_real/dλ = − (∂²L_syn/∂λ∂w) · H⁻¹ ∂L_real/∂w,   H = ∂²L_syn/∂w² (+ δI with `damping`),

with H⁻¹v from `linalg.neumann_inverse` (K terms, step α; Lorraine et al. 2019) or
`linalg.conjugate_gradient` (K iterations). Memory is that of J batches, whatever T is; the inner
learning rate and momentum get no meta-gradient (w does not depend on them under the IFT
assumption), so they stay at their initial values until `calibrate` sets them.

The assumption ∂L_syn/∂w = 0 does not hold after 32 SGD steps. `settle_steps` s takes s more
full-batch gradient steps on L_syn (no graph, lr = the teacher's last inner lr) so that the
implicit step is taken nearer a stationary point; `benchmarks/ift_alignment.py` measures how far
each setting brings the IFT meta-gradient towards BPTT's.

`warm_steps` N > 0 is Lorraine et al.'s Algorithm 1, where the weights are warm-started: a student
is kept from one meta-step to the next and advanced N inner steps per meta-step (steps t..t+N-1 of
its T-step run, on the teacher as it is then), the implicit step taken after each advance (J
batches among the steps it has run). After its T-th step the next meta-step starts a fresh student.
Every meta-step then runs N inner steps instead of T, under the floor that `results/ift_floor.md`
measured for a cold student; the kept students go into the checkpoint (`state_dict`), so a resumed
run continues exactly.

`warm_mode="replay"` keeps the same student for the same ⌈T/N⌉ meta-steps, but as its state after
step T−N: every meta-step replays steps T−N..T−1 from there on the teacher as it is then, so the
implicit step is always taken at step T, where students are judged (in "advance" mode three in four
implicit steps of N = 8 are taken at a partly trained student). It costs N + (T−N)/⌈T/N⌉ inner steps
per meta-step on average. Neither mode made better teachers than the cold student at the 15-minute
budget (`results/teachers/warm15/`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ...core.errors import ConfigError
from ...core.inner import InnerState, loss, train_steps
from ...core.linalg import conjugate_gradient, dot, neumann_inverse
from ...core.students import Functional, build_student
from .base import MetaContext, MetaResult, Pending

SOLVERS = ("neumann", "cg")
WARM_MODES = ("advance", "replay")


def ift_backward(
    train_loss,
    hvp_loss,
    w: list[torch.Tensor],
    v,
    terms: int,
    alpha: float,
    solver: str = "neumann",
    damping: float = 0.0,
    scale: float = 1.0,
) -> None:
    """Accumulate `scale` times the implicit meta-gradient −(∂²L/∂λ∂w)·H⁻¹v into the hyper-parameters λ.

    Args:
        train_loss: w ↦ L(w, λ), differentiable w.r.t. the λ tensors it closes over (their .grad
            receives the result).
        hvp_loss: w ↦ L(w, λ) with λ held constant (used for Hessian-vector products).
        w: the inner solution, leaf tensors with requires_grad.
        v: ∂L_outer/∂w at w.
        terms, alpha: Neumann terms K and step α (`linalg.neumann_inverse`), or CG iterations.
        solver: "neumann" or "cg".
        damping: δ in H + δI.
        scale: c in c·dL/dλ (the rank objective's weight), applied after the solve so that it is
            exact (CG's rounding is not linear in v).
    """
    with torch.enable_grad():
        # One first-order graph serves every Hessian-vector product (double backward through it).
        g_fixed = torch.autograd.grad(hvp_loss(w), w, create_graph=True)

    def hvp(u):
        with torch.enable_grad():
            hu = torch.autograd.grad(g_fixed, w, grad_outputs=u, retain_graph=True)
        return tuple(h + damping * x for h, x in zip(hu, u)) if damping else hu

    p = neumann_inverse(hvp, v, terms, alpha) if solver == "neumann" else conjugate_gradient(hvp, v, terms)
    g_fixed = None  # frees the first-order graph before the mixed second derivative is built
    with torch.enable_grad():
        g = torch.autograd.grad(train_loss(w), w, create_graph=True)
        (-scale * dot(g, p)).backward()


@dataclass(frozen=True)
class IftConfig:
    # Defaults from results/teachers/ablation.md: CG with damping 1 measured better than Neumann.
    # The warm start (warm_steps 8, CG 5, J=1: ~4x the meta-steps per minute) beat this at 180 s on
    # three seed pairs but lost at the 15-minute default budget in both modes (results/teachers/warm15/):
    # an option.
    neumann_terms: int = 20  # K: Neumann terms or CG iterations
    neumann_alpha: float = 0.01  # Neumann only; small: Hessians of conv students reach eigenvalues > 40
    batches: int = 2  # J: synthetic batches in the IFT inner objective
    settle_steps: int = 0  # extra gradient steps on L_syn before the implicit step
    solver: str = "cg"
    damping: float = 1.0
    # N > 0: keep each student across meta-steps, N inner steps per meta-step; 0: cold. Measured no
    # better than cold at the 15-minute budget (results/teachers/warm15/), in either mode.
    warm_steps: int = 0
    warm_mode: str = "advance"  # advance: steps t..t+N-1, then on; replay: steps T-N..T-1 again each meta-step

    def __post_init__(self):
        if self.neumann_terms < 0:
            raise ConfigError(f"ift neumann-terms must be >= 0; got {self.neumann_terms}")
        # math.isfinite: NaN fails no `< 0` test, and would surface meta-steps later as a "diverged" meta-loss
        if not (math.isfinite(self.neumann_alpha) and self.neumann_alpha > 0):
            raise ConfigError(f"ift neumann-alpha must be a finite number > 0; got {self.neumann_alpha}")
        if self.batches < 1:
            raise ConfigError(f"ift batches must be >= 1; got {self.batches}")
        if self.settle_steps < 0:
            raise ConfigError(f"ift settle-steps must be >= 0; got {self.settle_steps}")
        if not (math.isfinite(self.damping) and self.damping >= 0):
            raise ConfigError(f"ift damping must be a finite number >= 0; got {self.damping}")
        if self.warm_steps < 0:
            raise ConfigError(f"ift warm-steps must be >= 0; got {self.warm_steps}")
        if self.warm_mode not in WARM_MODES:
            raise ConfigError(f"ift warm-mode must be one of {', '.join(WARM_MODES)}; got {self.warm_mode!r}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"ift solver must be one of {', '.join(SOLVERS)}; got {self.solver!r}")
        if self.solver == "cg" and self.neumann_terms < 1:  # x0 = 0 would be the answer: no meta-gradient
            raise ConfigError(
                "ift: conjugate gradient needs neumann-terms >= 1 iterations (the Neumann solver's 0 is the identity)"
            )


@dataclass
class WarmStudent:
    """A student kept across meta-steps: how to rebuild it, its state, the inner steps it has run
    and the meta-steps it has served."""

    spec: dict
    seed: int
    done: int
    state: InnerState
    f: Functional
    uses: int = 0

    def to_dict(self) -> dict:
        return {
            "spec": self.spec,
            "seed": self.seed,
            "done": self.done,
            "uses": self.uses,
            "params": self.state.params,
            "bufs": self.state.bufs,
        }

    @staticmethod
    def from_dict(d: dict) -> WarmStudent:
        device = next(iter(d["params"].values())).device
        f = Functional(build_student(d["spec"], d["seed"], device))
        # "uses" came with warm_mode; a kept student of an earlier checkpoint (advance mode) has none
        return WarmStudent(
            d["spec"], d["seed"], d["done"], InnerState(dict(d["params"]), dict(d["bufs"])), f, d.get("uses", 0)
        )


class Ift:
    name = "ift"
    learns_hyper = False

    def __init__(self, cfg: IftConfig = IftConfig()):
        self.cfg = cfg
        self.warm: dict[int, WarmStudent] = {}  # by the student's index in its meta-step (warm_steps > 0)

    def __call__(self, ctx: MetaContext) -> MetaResult:
        pending = self.forward(ctx)
        pending.backward(1.0)
        return pending.result()

    @torch.enable_grad()
    def forward(self, ctx: MetaContext) -> Pending:
        """The trained student, its meta-loss and v = ∂L_real/∂w; `Pending.backward(c)` takes the
        implicit meta-gradient, times c."""
        f, start, steps = self._begin(ctx)
        state = train_steps(f, start, ctx.teacher, ctx.noise, steps, create_graph=False)
        if self.cfg.warm_steps:
            kept = self.warm[ctx.student]
            if self.cfg.warm_mode == "advance":
                kept = dataclasses.replace(kept, done=steps.stop, state=state)
            self.warm[ctx.student] = dataclasses.replace(kept, uses=kept.uses + 1)
        chosen = torch.randperm(steps.stop, generator=ctx.gen)[: min(self.cfg.batches, steps.stop)].tolist()
        with torch.no_grad():
            fixed = [ctx.teacher.batch(t, ctx.noise) for t in chosen]
        keys = list(state.params)

        def as_dict(ws):
            return dict(zip(keys, ws))

        def hvp_loss(ws):
            return sum(loss(f, as_dict(ws), x, y) for x, y in fixed) / len(fixed)

        def train_loss(ws):
            # Rebuilt batch by batch inside one graph; J is small, so memory stays that of J batches.
            return sum(loss(f, as_dict(ws), *ctx.teacher.batch(t, ctx.noise)) for t in chosen) / len(chosen)

        w = self._settle(list(state.params.values()), hvp_loss, float(ctx.teacher.lr()[-1].detach()))
        with torch.enable_grad():
            meta = loss(f, as_dict(w), ctx.meta_x, ctx.meta_y)
            v = torch.autograd.grad(meta, w)

        def backward(c: float) -> None:
            ift_backward(
                train_loss,
                hvp_loss,
                w,
                v,
                self.cfg.neumann_terms,
                self.cfg.neumann_alpha,
                self.cfg.solver,
                self.cfg.damping,
                scale=c,
            )

        return Pending(meta.item(), {k: x.detach() for k, x in zip(keys, w)}, backward)

    def _begin(self, ctx: MetaContext) -> tuple[Functional, InnerState, range]:
        """The student to train, its state, and the inner steps to run this meta-step."""
        T = ctx.teacher.cfg.inner_steps
        if not self.cfg.warm_steps:
            return ctx.f, InnerState.start(ctx.params0), range(T)
        # min: validate() refuses N > T from the CLI; an IftConfig used directly still gets all T steps
        N, replay = min(self.cfg.warm_steps, T), self.cfg.warm_mode == "replay"
        kept = self.warm.get(ctx.student)
        if kept is None or (kept.uses >= -(-T // N) if replay else kept.done >= T):  # none yet, or its run is over
            kept = self.warm[ctx.student] = self._fresh(ctx, T - N if replay else 0)
        if replay:
            return kept.f, kept.state, range(T - N, T)
        return kept.f, kept.state, range(kept.done, min(kept.done + N, T))

    @staticmethod
    def _fresh(ctx: MetaContext, prefix: int) -> WarmStudent:
        """This meta-step's student, kept from now on, after its first `prefix` inner steps on the teacher as it
        is now."""
        if ctx.spec is None:
            raise ConfigError("ift warm-steps needs the student's architecture in the meta-step context")
        state = train_steps(
            ctx.f, InnerState.start(ctx.params0), ctx.teacher, ctx.noise, range(prefix), create_graph=False
        )
        return WarmStudent(ctx.spec, ctx.seed, prefix, state, ctx.f)

    def state_dict(self) -> dict:
        """The kept students (tensors and plain values: a weights-only checkpoint holds them)."""
        return {str(k): w.to_dict() for k, w in self.warm.items()}

    def load_state_dict(self, state: dict) -> None:
        self.warm = {int(k): WarmStudent.from_dict(d) for k, d in state.items()}

    def _settle(self, w: list[torch.Tensor], objective, lr: float) -> list[torch.Tensor]:
        """`settle_steps` plain gradient steps on the IFT objective; leaves that require grad."""
        w = [x.detach() for x in w]
        for _ in range(self.cfg.settle_steps):
            leaves = [x.requires_grad_() for x in w]
            with torch.enable_grad():
                g = torch.autograd.grad(objective(leaves), leaves)
            w = [x.detach() - lr * gx for x, gx in zip(leaves, g)]
        return [x.detach().requires_grad_() for x in w]
