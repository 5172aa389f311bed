"""The training objectives of IGN and NAIGN, term by term, with their stop-gradients.

Distances are per sample and each term is its batch mean:
    l1  = mean |a - b| over a sample's values  (images, NAIGN §4; IGN Appendix C)
    l2  = Euclidean norm ||a - b||_2           (low-dimensional data, NAIGN §4)
    mse = mean (a - b)^2 over a sample's values (IGN Source Code 1)
A sample is the last 3 dims of a 4+-dim tensor (images, C x H x W) and the last dim otherwise (vectors). Leading
dims index samples, so the same code serves one run (batch, ...) and a stacked ensemble (runs, batch, ...): terms
are batch means per run, of shape () for one run and (runs,) for an ensemble.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.func import functional_call

from ignbench.core.config import RunConfig

TIGHT_CLAMP_EPS = 1e-8


def event_dims(t: torch.Tensor) -> int:
    """Trailing dims that make up one sample: 3 for images (C, H, W), 1 for vectors."""
    return 3 if t.dim() >= 4 else 1


def flat_samples(t: torch.Tensor) -> torch.Tensor:
    """(..., features): every sample flattened to one row, leading (run, batch) dims kept."""
    return t.flatten(-event_dims(t)) if event_dims(t) > 1 else t


def distance(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-sample distance: shape (batch,) for one run, (runs, batch) for an ensemble."""
    diff = flat_samples(a - b)
    if kind == "l1":
        return diff.abs().mean(-1)
    if kind == "l2":
        return diff.norm(dim=-1)
    return diff.pow(2).mean(-1)


LOW_DIM = 8  # points of at most this many coordinates are low-dimensional data (1-D and 2-D toy sets)


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """(..., N, M) matrix of `distance(x_i, y_j)`, or a monotone transform of it (enough for an argmin)."""
    xf, yf = flat_samples(x), flat_samples(y)
    if kind == "l1":
        return torch.cdist(xf, yf, p=1) / xf.shape[-1]
    # low-dimensional points: differences, not the matrix-product form, whose rounding depends on the batch of
    # stacked runs (the search's argmin must not depend on a run's partners)
    mode = "donot_use_mm_for_euclid_dist" if xf.shape[-1] <= LOW_DIM else "use_mm_for_euclid_dist_if_necessary"
    return torch.cdist(xf, yf, p=2, compute_mode=mode)


def frozen_copy(f: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """f_copy of the IGN listing: same weights and train/eval mode, no parameter gradients.

    Gradients still flow *through* it to its input. BatchNorm buffers are cloned so that the copy's
    running-statistics update is thrown away, exactly like updating a separate deep copy.
    """
    params = {k: v.detach() for k, v in f.named_parameters()}
    buffers = {k: v.clone() for k, v in f.named_buffers()}
    state = {**params, **buffers}
    return lambda y: functional_call(f, state, (y,))


class _OuterApplication(torch.autograd.Function):
    """The outer application f(f(z)) of IGN, evaluated once and shared by L_idem and L_tight.

    The listing evaluates it twice on equal values: f_copy(fz) (gradient to its input only) and f(fz.detach())
    (gradient to the parameters only), so both give the same output and batch statistics. Here one forward
    returns that output twice, and each copy's gradient takes its own route in backward: `for_idem` to the input,
    `for_tight` to the parameters. BatchNorm running statistics are updated once, as by the listing's f(f_z);
    the listing's second update, to its throw-away copy, is not made.
    """

    @staticmethod
    def forward(ctx, fz: torch.Tensor, f: nn.Module, *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        with torch.enable_grad():
            ctx.inner = fz.detach().requires_grad_()
            ctx.outer = f(ctx.inner)
        ctx.params = params
        return ctx.outer.detach(), ctx.outer.detach().clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_idem: torch.Tensor | None, grad_tight: torch.Tensor | None) -> tuple:
        grad_input = None
        grad_params: tuple = (None,) * len(ctx.params)
        if grad_idem is not None:
            (grad_input,) = torch.autograd.grad(ctx.outer, ctx.inner, grad_idem, retain_graph=grad_tight is not None)
        if grad_tight is not None:
            trainable = [p for p in ctx.params if p.requires_grad]
            grads = iter(torch.autograd.grad(ctx.outer, trainable, grad_tight, allow_unused=True))
            grad_params = tuple(next(grads) if p.requires_grad else None for p in ctx.params)
        return (grad_input, None, *grad_params)


def ign_terms(f: nn.Module, x: torch.Tensor, z: torch.Tensor, cfg: RunConfig) -> dict[str, torch.Tensor]:
    """IGN's three terms (IGN Eq. 8, 10, 11; Source Code 1), in the listing's order of applications.

    idem  = D(f_copy(f(z)), f(z))   -> gradient only through the inner application (fz not detached)
    tight = -D(f(f(z).detach()), f(z).detach())  -> gradient only through the outer application
    The outer application is computed once for both (`_OuterApplication`); gradients equal the listing's.
    With tight_clamp = a > 0 (IGN §2.3, Eq. 14), each sample's tight distance d is replaced by
    tanh(d / (a * L_rec)) * a * L_rec, with L_rec the batch's (detached) reconstruction loss.
    """
    fx = f(x)
    fz = f(z)
    f_z = fz.detach()
    for_idem, for_tight = _OuterApplication.apply(fz, f, *f.parameters())
    rec = distance(fx, x, cfg.distance)
    idem = distance(for_idem, fz, cfg.distance)
    tight = distance(for_tight, f_z, cfg.distance)
    if cfg.tight_clamp > 0:
        scale = cfg.tight_clamp * rec.mean(-1, keepdim=True).detach() + TIGHT_CLAMP_EPS
        tight = torch.tanh(tight / scale) * scale
    return {"rec": rec.mean(-1), "idem": idem.mean(-1), "tight": -tight.mean(-1)}


def ign_loss(terms: dict[str, torch.Tensor], cfg: RunConfig, warm: bool = False) -> torch.Tensor:
    return cfg.w_rec * terms["rec"] + cfg.w_idem * terms["idem"] + cfg.w_tight * terms["tight"]


@contextlib.contextmanager
def bn_stats_frozen(f: nn.Module) -> Iterator[None]:
    """Keep BatchNorm in its current mode but restore its running statistics (and counters) afterwards."""
    saved = [(buf, buf.clone()) for m in f.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for buf in m.buffers()]
    try:
        yield
    finally:
        for buf, value in saved:
            buf.copy_(value)


@torch.no_grad()
def imle_nearest(f: nn.Module, x: torch.Tensor, sample_z: Callable[[int], torch.Tensor], m: int,
                 chunk: int, kind: str) -> torch.Tensor:
    """For each x_i, the z_j (of M fresh samples) whose f(z_j) is nearest to x_i under `kind`.

    Searched in chunks without gradients (the model stays in its mode; BatchNorm running statistics are not
    updated by the search). `sample_z(n)` gives n candidates (per run, for an ensemble). Returns z* shaped like x.
    """
    best = torch.full(flat_samples(x).shape[:-1], float("inf"), device=x.device)
    best_z = torch.zeros_like(flat_samples(x))
    with bn_stats_frozen(f):
        for start in range(0, m, chunk):
            zc = sample_z(min(chunk, m - start))
            dmin, j = pairwise_distance(x, f(zc), kind).min(dim=-1)
            nearest = torch.take_along_dim(flat_samples(zc), j.unsqueeze(-1), dim=-2)
            better = dmin < best
            best_z = torch.where(better.unsqueeze(-1), nearest, best_z)
            best = torch.where(better, dmin, best)
    return best_z.reshape(x.shape)


def naign_terms(f: nn.Module, x: torch.Tensor, x_imle: torch.Tensor, z_star: torch.Tensor, z: torch.Tensor,
                cfg: RunConfig, with_idem: bool) -> dict[str, torch.Tensor]:
    """NAIGN's terms (NAIGN Eq. 11, Alg. 1, supplement §7).

    rec  = d(x, f(x))
    imle = d(x_imle, f(z*)), z* found by `imle_nearest`; f(z*) recomputed here with gradients
    idem = ½ [ d(f(z), f⊥(f(z))) + d(f(q), f⊥(f(q))) ],  q = f(z) taken as a sample (detached)
    NAIGN- (with_idem=False) has no idem term at all.
    """
    terms = {
        "rec": distance(f(x), x, cfg.distance).mean(-1),
        "imle": distance(f(z_star), x_imle, cfg.distance).mean(-1),
    }
    if with_idem:
        f_copy = frozen_copy(f)
        fz = f(z)
        fq = f(fz.detach())
        on_z = distance(fz, f_copy(fz), cfg.distance)
        on_q = distance(fq, f_copy(fq), cfg.distance)
        terms["idem"] = 0.5 * (on_z.mean(-1) + on_q.mean(-1))
    return terms


def naign_loss(terms: dict[str, torch.Tensor], cfg: RunConfig, warm: bool = False) -> torch.Tensor:
    """Unweighted sum (NAIGN Eq. 11); during warm-up only the reconstruction term (NAIGN §4, FFHQ-100)."""
    if warm:
        return terms["rec"]
    return sum(terms.values())


class ReplayBuffer:
    """Stores past IMLE mini-batch pairs (x, z*) (NAIGN §4).

    Each step, with probability `replay_prob` and a non-empty buffer, the IMLE term uses one stored pair drawn
    uniformly; otherwise a fresh nearest-neighbour search runs on the current batch and its pair is stored
    (oldest evicted beyond `capacity`).
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def push(self, x: torch.Tensor, z_star: torch.Tensor) -> None:
        self.pairs.append((x.detach().clone(), z_star.detach().clone()))
        if len(self.pairs) > self.capacity:
            self.pairs.pop(0)

    def draw(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[int(torch.randint(len(self.pairs), (1,), generator=g, device=g.device))]

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "pairs": self.pairs}

    def load_state_dict(self, state: dict) -> None:
        self.capacity = state["capacity"]
        self.pairs = list(state["pairs"])
