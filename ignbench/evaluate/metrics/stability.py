"""Stability of repeated application, IGN Fig. 16: how far f^k(z) moves from f(z) as k grows.

For each k in `ks`: mae_to_fz = mean |f^k(z) - f(z)|, and drift = mean |f^{k+1}(z) - f^k(z)|, the L1 drift
delta(f^k(z)) that idempotence drives to zero. An exactly idempotent f scores 0 for both at every k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def fk_stability(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                 ks: Iterable[int]) -> tuple[dict[int, dict[str, float]], dict[int, torch.Tensor]]:
    """Per k: {"mae_to_fz", "drift"}; also the images f^k(z) for every k (for figures and further metrics)."""
    wanted = sorted(set(ks))
    if not wanted or wanted[0] < 1:
        raise ValueError(f"k must be >= 1, got {wanted}")
    stats, images = {}, {}
    current = f(z)
    first = current
    for k in range(1, wanted[-1] + 1):
        following = f(current)
        if k in wanted:
            stats[k] = {"mae_to_fz": float((current - first).abs().mean()),
                        "drift": float((following - current).abs().mean())}
            images[k] = current
        current = following
    return stats, images
