"""Coverage and Density (Naeem et al., 2020), matching the `prdc` package's definitions exactly.

- real radius r_i: Euclidean distance from real i to its k-th nearest real, excluding itself;
- density  = (1/k) * mean over fakes of #{ i : d(real_i, fake) < r_i }   (strict <);
- coverage = fraction of reals i whose nearest fake lies at distance < r_i.

Fast and exact: squared distances come from one float32 matrix product per chunk; every decision that float32
rounding could flip (a pair within a small tolerance of a radius, the k nearest candidates of each real) is
re-decided with exact float64 distances. The fake-fake matrix that `prdc` also builds is never needed.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_K = 5
CANDIDATE_MARGIN = 8  # extra float32 neighbours re-ranked exactly when finding each real's k-th neighbour
TOLERANCE_ULPS = 64.0


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """float32 ||a_i - b_j||^2 via one matrix product (may dip a rounding error below 0; only compared)."""
    return torch.addmm(b_sq[None, :], a, b.T, alpha=-2.0).add_(a.pow(2).sum(1, keepdim=True))


def _exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """float64 Euclidean distances between matching rows of a and b."""
    return (a - b).pow(2).sum(-1).sqrt()


def real_radii(real: torch.Tensor, real32: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Exact distance from each real to its k-th nearest other real (the (k+1)-th including itself)."""
    sq = real32.pow(2).sum(1)
    n_cand = min(k + 1 + CANDIDATE_MARGIN, len(real))
    radii = torch.empty(len(real), dtype=torch.float64)
    for start in range(0, len(real), chunk):
        rows = slice(start, start + chunk)
        cand = _sq_dists(real32[rows], real32, sq).topk(n_cand, dim=1, largest=False).indices
        exact = _exact(real[rows, None, :], real[cand])
        radii[rows] = exact.sort(dim=1).values[:, k]
    return radii


def coverage_density(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = DEFAULT_K,
                     chunk: int = 256) -> dict[str, float]:
    real64 = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    fake64 = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    real32, fake32 = real64.float(), fake64.float()
    radii = real_radii(real64, real32, k, chunk)
    r2 = radii.pow(2).float()
    scale = float(real64.pow(2).sum(1).max() + fake64.pow(2).sum(1).max())
    tol = TOLERANCE_ULPS * float(np.finfo(np.float32).eps) * scale
    real_sq = real32.pow(2).sum(1)
    lo, hi = r2 - tol, r2 + tol
    inside = torch.zeros(len(fake64), dtype=torch.float64)
    nearest2 = torch.full((len(real64),), float("inf"))
    for start in range(0, len(fake64), chunk):
        d2 = _sq_dists(fake32[start : start + chunk], real32, real_sq)  # fakes x reals
        sure = (d2 < lo).sum(dim=1, dtype=torch.int32)
        maybe = (d2 < hi).sum(dim=1, dtype=torch.int32)
        inside[start : start + chunk] = sure.double()
        for row in (maybe != sure).nonzero(as_tuple=True)[0].tolist():  # rare: pairs within tol of a radius
            near = ((d2[row] >= lo) & (d2[row] < hi)).nonzero(as_tuple=True)[0]
            inside[start + row] += float((_exact(fake64[start + row], real64[near]) < radii[near]).sum())
        nearest2 = torch.minimum(nearest2, d2.amin(dim=0))
    covered = nearest2 < r2
    unsure = ((nearest2 - r2).abs() <= tol).nonzero(as_tuple=True)[0]
    for i in unsure.tolist():
        covered[i] = bool(_exact(real64[i][None, :], fake64).min() < radii[i])
    return {"coverage": float(covered.double().mean()), "density": float(inside.mean() / k)}
