"""IGN, NAIGN and NAIGN- (NAIGN without the idempotence term): ignbench's built-in methods, registered through
the same entry points as any plugin (pyproject.toml, group `ignbench.methods`)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ignbench.core.config import RunConfig
from ignbench.methods import objectives
from ignbench.methods.base import Batch, Method, Terms


def _ign_terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
    return objectives.ign_terms(f, b.x, b.z, cfg)


def _naign_terms(with_idem: bool) -> Callable[[nn.Module, Batch, RunConfig], Terms]:
    def terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
        return objectives.naign_terms(f, b.x, b.x_imle, b.z_star, b.z, cfg, with_idem=with_idem)

    return terms


IGN = Method("ign", "IGN", False, _ign_terms, objectives.ign_loss, grad_passes=3)
NAIGN = Method("naign", "NAIGN", True, _naign_terms(True), objectives.naign_loss, grad_passes=6)
NAIGN_MINUS = Method("naign-", "NAIGN-", True, _naign_terms(False), objectives.naign_loss, grad_passes=2)
