"""Measures behind the low-dimensional figures (NAIGN Figs 2, 3, 6, 7).

Modes (mixtures only): a sample is high-quality when it lies within 3σ of some mode centre; a mode is covered
when at least MODE_SHARE / n_modes of all samples (a quarter of its fair share) lie within 3σ of it.

Drift vs manifold distance (NAIGN §3.2, §4.4): on a regular grid of points, compare the drift
δ(z) = ||z - f(z)||_2 with the exact distance d_M(z) to the generating manifold (Pearson correlation, MAE).
"""

from __future__ import annotations

import torch

from ignbench.data.toy import ToyDistribution

MODE_SHARE = 0.25
ENERGY_K = 2.0


def mode_stats(samples: torch.Tensor, dist: ToyDistribution) -> dict[str, float]:
    centers = dist.centers.double()
    d = torch.cdist(samples.double(), centers)
    nearest, which = d.min(dim=1)
    good = nearest < 3 * dist.sigma
    counts = torch.bincount(which[good], minlength=len(centers))
    threshold = MODE_SHARE * len(samples) / len(centers)
    return {"modes_covered": float((counts >= threshold).sum()), "n_modes": float(len(centers)),
            "hq_share": float(good.double().mean())}


def grid_points(dist: ToyDistribution, n: int) -> torch.Tensor:
    """n points on [-b, b] (1D), or an n x n grid on [-b, b]^2 (2D), row-major with y varying slowest."""
    ticks = torch.linspace(-dist.bounds, dist.bounds, n)
    if dist.dim == 1:
        return ticks[:, None]
    yy, xx = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def drift_stats(drift: torch.Tensor, true_distance: torch.Tensor) -> dict[str, float]:
    a, b = drift.double(), true_distance.double()
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
    return {"corr": float(corr), "mae": float((a - b).abs().mean())}


def energy_density(drift: torch.Tensor, k: float = ENERGY_K) -> torch.Tensor:
    """Unnormalised density exp(-E), E = exp(k δ) - 1 (NAIGN Eq. 13-14)."""
    return torch.exp(-(torch.exp(k * drift) - 1))
