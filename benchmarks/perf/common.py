"""Timing helper shared by the perf benchmarks (run them as `python benchmarks/perf/<name>.py`)."""

from __future__ import annotations

import contextlib
import copy
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from ignbench.core.config import RunConfig
from ignbench.methods import objectives
from ignbench.methods.models import DenseConv2d, DenseConvTranspose2d


def best_of(*fns: Callable[[], object], repeat: int = 3) -> list[float]:
    """Best wall time in seconds of each function over `repeat` rounds, after one warm-up call each.

    The functions take turns within every round, so a slow phase of a shared machine hits them alike.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, series in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            series.append(time.perf_counter() - start)
    return [min(series) for series in times]


def ign_listing_grads(model: torch.nn.Module, x: torch.Tensor, z: torch.Tensor) -> Callable[[], list[torch.Tensor]]:
    """A literal transcription of IGN Source Code 1 (MSE, weights 1/1/0.1, f_copy refreshed by deepcopy +
    load_state_dict every step): a function that runs one step's backward and returns the gradients."""
    f_copy = copy.deepcopy(model)

    def step() -> list[torch.Tensor]:
        f_copy.load_state_dict(model.state_dict())
        fx, fz = model(x), model(z)
        f_z = fz.detach()
        ff_z, f_fz = model(f_z), f_copy(fz)
        loss = (fx - x).pow(2).mean() + (f_fz - fz).pow(2).mean() - 0.1 * (ff_z - f_z).pow(2).mean()
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]
    return step


def paper_layers(model: nn.Module) -> nn.Module:
    """A copy of `model` as the IGN code builds it: ignbench's matrix-product forms of the dense layers
    (`DenseConv2d`, `DenseConvTranspose2d`) back to plain nn.Conv2d / nn.ConvTranspose2d, same weights."""
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if isinstance(module, DenseConv2d):
            module.__class__ = nn.Conv2d
        elif isinstance(module, DenseConvTranspose2d):
            module.__class__ = nn.ConvTranspose2d
    return plain


def gradient_error(grads: list[torch.Tensor], exact: list[torch.Tensor]) -> float:
    """|g - g_exact| / |g_exact| over all parameters together (Euclidean norms): the relative error of a step's
    gradient. (A per-entry maximum is dominated by a few ill-conditioned entries, and ranks the same float32
    computation differently from batch to batch.)"""
    diff = sum(float((g.double() - e).square().sum()) for g, e in zip(grads, exact, strict=True))
    return (diff / sum(float(e.square().sum()) for e in exact)) ** 0.5


def exact_listing_grads(model: nn.Module, x: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
    """The listing's gradients in float64 on the paper's layers: the reference that float32 steps are held to.
    A float32 step's summation order alone moves its gradient by ~2e-4 of its size here, and single entries by
    up to a few % (BatchNorm's backward cancels), so "equal to the listing's" means: as close to these as the
    float32 listing itself."""
    return ign_listing_grads(paper_layers(model).double(), x.double(), z.double())()


def ign_grads(model: torch.nn.Module, cfg: RunConfig, x: torch.Tensor,
              z: torch.Tensor) -> Callable[[], list[torch.Tensor]]:
    """ignbench's IGN objective (`objectives.ign_terms`): one step's backward, returning the gradients."""
    def step() -> list[torch.Tensor]:
        loss = objectives.ign_loss(objectives.ign_terms(model, x, z, cfg), cfg)
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]
    return step


@contextlib.contextmanager
def worktrees(before: str | None, repo: Path) -> Iterator[dict[str, Path | None]]:
    """{"now": None} (this tree), and {before: a temporary git worktree of that commit} when asked: the trees a
    benchmark times side by side in one run. The worktree is removed afterwards."""
    trees: dict[str, Path | None] = {"now": None}
    with tempfile.TemporaryDirectory() as scratch:
        if before:
            trees[before] = Path(scratch) / "before"
            subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(trees[before]), before],
                           check=True, capture_output=True)
        try:
            yield trees
        finally:
            if before:
                subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(trees[before])],
                               capture_output=True)
