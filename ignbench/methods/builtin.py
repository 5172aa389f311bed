"""IGN, NAIGN and NAIGN- (NAIGN without the idempotence term): ignbench's built-in methods, registered through
the same entry points as any plugin (pyproject.toml, group `ignbench.methods`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ignbench.core.config import RunConfig
from ignbench.methods.base import Batch, Method, Terms

if TYPE_CHECKING:  # the registry is read when specs load; the objectives (torch) when a step runs
    from torch import nn


def _ign_terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
    from ignbench.methods import objectives

    return objectives.ign_terms(f, b.x, b.z, cfg)


def _naign_terms(with_idem: bool) -> Callable[[nn.Module, Batch, RunConfig], Terms]:
    def terms(f: nn.Module, b: Batch, cfg: RunConfig) -> Terms:
        from ignbench.methods import objectives

        return objectives.naign_terms(f, b.x, b.x_imle, b.z_star, b.z, cfg, with_idem=with_idem)

    return terms


def _ign_loss(terms: Terms, cfg: RunConfig, warm: bool = False):
    from ignbench.methods import objectives

    return objectives.ign_loss(terms, cfg, warm)


def _naign_loss(terms: Terms, cfg: RunConfig, warm: bool = False):
    from ignbench.methods import objectives

    return objectives.naign_loss(terms, cfg, warm)


IGN = Method("ign", "IGN", False, _ign_terms, _ign_loss, grad_passes=3)
NAIGN = Method("naign", "NAIGN", True, _naign_terms(True), _naign_loss, grad_passes=6)
NAIGN_MINUS = Method("naign-", "NAIGN-", True, _naign_terms(False), _naign_loss, grad_passes=2)
