"""The methods, in one registry: adding a method means adding one entry here.

Each entry says how to turn a batch into its loss terms, how to weigh them, whether its step needs an IMLE
nearest-neighbour search, how it is labelled in reports, and what one step costs (for --dry-run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.methods import objectives

Terms = dict[str, torch.Tensor]


@dataclass
class Batch:
    """What one step of one run (or of a stacked ensemble) consumes: data x, fresh noise z, and for IMLE
    methods the pair (x_imle, z*) found by the search or drawn from the replay buffer."""

    x: torch.Tensor
    z: torch.Tensor
    x_imle: torch.Tensor | None = None
    z_star: torch.Tensor | None = None


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    imle: bool
    terms: Callable[[nn.Module, Batch, RunConfig], Terms]
    loss: Callable[[Terms, RunConfig, bool], torch.Tensor]
    grad_passes: int  # forward applications with gradients per sample and step (cost model)


def _ign_terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
    return objectives.ign_terms(f, b.x, b.z, cfg)


def _naign_terms(with_idem: bool) -> Callable[[nn.Module, Batch, RunConfig], Terms]:
    def terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
        return objectives.naign_terms(f, b.x, b.x_imle, b.z_star, b.z, cfg, with_idem=with_idem)

    return terms


METHODS: dict[str, Method] = {
    "ign": Method("ign", "IGN", False, _ign_terms, objectives.ign_loss, grad_passes=3),
    "naign": Method("naign", "NAIGN", True, _naign_terms(True), objectives.naign_loss, grad_passes=6),
    "naign-": Method("naign-", "NAIGN-", True, _naign_terms(False), objectives.naign_loss, grad_passes=2),
}
LABELS = {name: m.label for name, m in METHODS.items()}


def check_method(cfg: RunConfig, source: str) -> None:
    """The method-specific rules of a run's config (a one-line UserError naming the field)."""
    if cfg.method not in METHODS:
        raise UserError(f"{source}: method = {cfg.method!r} is not one of {', '.join(METHODS)}")
    if METHODS[cfg.method].imle and cfg.resolved_imle_m <= 0:
        raise UserError(f"{source}: IMLE needs M > 0 (imle_m or imle_m_factor)")


def method_order(name: str) -> int:
    """Position in the papers' order (IGN, NAIGN, NAIGN-), for tables and legends."""
    return list(METHODS).index(name)
