"""Measures behind the low-dimensional figures (NAIGN Figs 2, 3, 6, 7).

Modes (mixtures only): a sample is high-quality when it lies within 3σ of some mode centre; a mode is covered
when at least `mode_share` / n_modes of all samples (a quarter of its fair share) lie within 3σ of it.

Drift vs manifold distance (NAIGN §3.2, §4.4): on a regular grid of points, compare the drift
δ(z) = ||z - f(z)||_2 with the exact distance d_M(z) to the generating manifold (Pearson correlation, MAE).
"""

from __future__ import annotations

import torch

from ignbench.data.toy import ToyDistribution

ENERGY_K = 2.0  # NAIGN §4.4, Fig. 6: k = 2 in E = exp(k delta) - 1


def mode_stats(samples: torch.Tensor, dist: ToyDistribution, share: float) -> dict[str, float]:
    centers = dist.centers.double()
    d = torch.cdist(samples.double(), centers)
    nearest, which = d.min(dim=1)
    good = nearest < 3 * dist.sigma
    counts = torch.bincount(which[good], minlength=len(centers))
    threshold = share * len(samples) / len(centers)
    return {"modes_covered": float((counts >= threshold).sum()), "n_modes": float(len(centers)),
            "hq_share": float(good.double().mean())}


def coverage_at_radius(real: torch.Tensor, fake: torch.Tensor, radius: float, chunk: int = 2048) -> float:
    """Share of real points with a generated point within `radius`: recall at a fixed scale. On a noiseless
    manifold (2moons) Coverage's k-NN radii shrink to the sampling resolution, so Coverage measures how close
    samples lie to the curve rather than how much of it they cover; a fixed radius measures the latter."""
    near = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), chunk):
        near |= torch.cdist(real.double(), fake[start : start + chunk].double()).min(dim=1).values < radius
    return float(near.double().mean())


def grid_points(dist: ToyDistribution, n: int) -> torch.Tensor:
    """n points on [-b, b] (1D), or a sqrt(n) x sqrt(n) grid on [-b, b]^2 (2D), row-major with y varying slowest."""
    ticks = torch.linspace(-dist.bounds, dist.bounds, n if dist.dim == 1 else max(2, round(n ** 0.5)))
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
