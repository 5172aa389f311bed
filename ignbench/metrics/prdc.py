"""Coverage and Density (Naeem et al., 2020), matching the `prdc` package's definitions exactly.

- real radius r_i: Euclidean distance from real i to its k-th nearest real, excluding itself;
- density  = (1/k) * mean over fakes of #{ i : d(real_i, fake) < r_i }   (strict <);
- coverage = fraction of reals i whose nearest fake lies at distance < r_i.

Fast and exact. Every comparison is first made in float32 from one matrix product per chunk; the only ones
float32 rounding could flip are those within a rigorous rounding-error bound of the threshold, and those are
re-decided with exact float64 distances. For the fake/real comparisons the product is augmented so that it yields
s_ij = d(fake_i, real_j)^2 - r_j^2 directly, and the sign of s decides both metrics. The fake-fake distance
matrix that `prdc` also builds is never needed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

DEFAULT_K = 5
CANDIDATE_MARGIN = 8  # extra float32 neighbours re-ranked exactly when finding each real's k-th neighbour
RADII_CHUNK = 512
GROUP = 8  # column groups for the neighbour pre-selection in `_smallest_per_row`


def _gamma(dim: int) -> float:
    """Relative error bound of a float32 dot product with `dim` + 4 terms, against the sum of its absolute terms.

    gamma_n = n u / (1 - n u) with u the float32 unit roundoff (Higham, Accuracy and Stability, Thm 3.4), n = dim + 4
    for the appended columns; tripled for the rounding of the inputs to float32 and of the subtraction of the bound.
    """
    u = float(np.finfo(np.float32).eps) / 2
    n = dim + 4
    return 3.0 * n * u / (1.0 - n * u)


def _power_of_two_scale(*arrays: torch.Tensor) -> float:
    """A power of two near the largest |entry|: dividing by it is exact in float64 and leaves every distance
    comparison unchanged, while bringing features of any finite scale (1e-30 ... 1e30) into float32's range."""
    largest = max(float(a.abs().max()) if a.numel() else 0.0 for a in arrays)
    return 2.0 ** math.floor(math.log2(largest)) if largest > 0 and math.isfinite(largest) else 1.0


def _exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """float64 Euclidean distances from the rows of a (m, d) to those of b (n, d), or per batch (m, 1, d) against
    (m, n, d), from coordinate differences (never |a|^2 + |b|^2 - 2 a.b, which cancels for near neighbours)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _smallest_per_row(d: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Values and columns of n entries per row that include its n smallest, and a bound below every other entry.

    Wide rows are pre-screened: view the row as GROUP stacked blocks and take, at each offset within a block, the
    minimum over the blocks. The n smallest entries of the row lie in the columns of the n offsets with the
    smallest minima (each such entry either sits at a chosen offset, or n chosen minima are already no larger),
    so a top-k over n * GROUP gathered entries replaces a top-k over the whole row.
    """
    n_rows, width = d.shape
    if width < GROUP * n:
        values, cols = d.topk(n, dim=1, largest=False, sorted=False)
        bound = values.amax(dim=1) if n < width else torch.full((n_rows,), float("inf"))
        return values, cols, bound
    block = width // GROUP
    block_min, blocks = d.view(n_rows, GROUP, block).amin(dim=1).topk(n, dim=1, largest=False, sorted=False)
    cols = (blocks[:, None, :] + block * torch.arange(GROUP)[None, :, None]).reshape(n_rows, -1)
    values, pick = d.gather(1, cols).topk(n, dim=1, largest=False, sorted=False)
    return values, cols.gather(1, pick), torch.minimum(block_min.amax(dim=1), values.amax(dim=1))


def real_radii(real: torch.Tensor, k: int) -> torch.Tensor:
    """Exact distance from each real to its k-th nearest other real (the (k+1)-th including itself)."""
    n_real, dim = real.shape
    sq = real.pow(2).sum(1)
    gamma = _gamma(dim)
    # Within a row, d(x_i, y_j)^2 - |x_i|^2 = |y_j|^2 - 2 x_i.y_j ranks like the distance: one augmented product.
    # Its float32 error is at most gamma (|y_j|^2 + 2 |x_i||y_j|) <= gamma |x_i|^2 + 2 gamma |y_j|^2 per entry, so
    # subtracting the column part gives lower bounds whose order within a row is that of the true values' bounds,
    # and an outlier only widens its own row and column. Columns are padded with +inf to a multiple of GROUP.
    lhs = torch.cat([real, torch.ones(n_real, 1, dtype=real.dtype)], dim=1).float()
    rhs = torch.cat([-2 * real, sq[:, None]], dim=1).float()
    pad = torch.zeros(-n_real % GROUP, dim + 1)
    pad[:, -1] = float("inf")
    rhs_t = torch.cat([rhs, pad]).T.contiguous()
    column_err = torch.cat([2 * gamma * sq.float(), torch.zeros(len(pad))])
    row_err = gamma * sq
    n_cand = min(k + 1 + CANDIDATE_MARGIN, n_real)
    radii = torch.empty(n_real, dtype=torch.float64)
    for start in range(0, n_real, RADII_CHUNK):
        rows = slice(start, start + RADII_CHUNK)
        _, cand, bound = _smallest_per_row((lhs[rows] @ rhs_t).sub_(column_err), n_cand)
        radii[rows] = _exact(real[rows, None, :], real[cand])[:, 0].sort(dim=1).values[:, k]
        # The candidates hold the true k+1 nearest unless an excluded entry's lower bound reaches the k-th.
        doubtful = (bound.double() - row_err[rows] <= radii[rows].pow(2) - sq[rows]).nonzero(as_tuple=True)[0]
        for row in (start + doubtful).tolist():
            radii[row] = _exact(real[row, None], real)[0].sort().values[k]
    return radii


def coverage_density(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = DEFAULT_K,
                     chunk: int = 256) -> dict[str, float]:
    """Coverage and density of `fake` against `real` (rows are feature vectors), with k nearest neighbours."""
    real64 = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    fake64 = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    scale = _power_of_two_scale(real64, fake64)
    real64, fake64 = real64 / scale, fake64 / scale
    radii = real_radii(real64, k)
    r2 = radii.pow(2)
    real_sq, fake_sq = real64.pow(2).sum(1), fake64.pow(2).sum(1)
    # s_ij = |f_i|^2 + (|r_j|^2 - r_j^2) - 2 f_i.r_j, as one float32 product of augmented rows; its error is at most
    # gamma (2 |f_i|^2 + 2 |r_j|^2 + r_j^2) = row_err_i + col_err_j.
    fake_aug = torch.cat([fake64, torch.ones(len(fake64), 1), fake_sq[:, None]], dim=1).float()
    real_aug = torch.cat([-2 * real64, (real_sq - r2)[:, None], torch.ones(len(real64), 1)], dim=1).float()
    gamma = _gamma(real64.shape[1])
    row_err, col_err = (2 * gamma * fake_sq).float(), (gamma * (2 * real_sq + r2)).float()

    inside = torch.zeros(len(fake64), dtype=torch.float64)
    upper = torch.full((len(real64),), float("inf"))  # per real j, bounds of min over fakes of the true s_ij
    lower = torch.full((len(real64),), float("inf"))
    for start in range(0, len(fake64), chunk):
        s = fake_aug[start : start + chunk] @ real_aug.T
        err = row_err[start : start + chunk, None] + col_err[None, :]
        sure, maybe = s < -err, s < err
        n_sure = sure.sum(dim=1, dtype=torch.int32)
        inside[start : start + chunk] = n_sure.double()
        unsure_rows = (maybe.sum(dim=1, dtype=torch.int32) != n_sure).nonzero(as_tuple=True)[0]
        if len(unsure_rows):  # rare: pairs within the error bound of a radius
            rows, cols = (maybe[unsure_rows] ^ sure[unsure_rows]).nonzero(as_tuple=True)
            rows = start + unsure_rows[rows]
            pairs = _exact(fake64[rows, None], real64[cols, None])[:, 0, 0]  # as the radii: ties stay ties
            inside.index_add_(0, rows, (pairs < radii[cols]).double())
        upper = torch.minimum(upper, (s + err).amin(dim=0))
        lower = torch.minimum(lower, (s - err).amin(dim=0))
    covered = upper < 0
    for j in ((lower < 0) & ~covered).nonzero(as_tuple=True)[0].tolist():
        covered[j] = bool(_exact(real64[j, None], fake64).min() < radii[j])
    return {"coverage": float(covered.double().mean()), "density": float(inside.mean() / k)}
