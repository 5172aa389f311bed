"""Coverage and Density (Naeem et al., 2020), matching the `prdc` package's definitions exactly.

- real radius r_i: Euclidean distance from real i to its k-th nearest real, excluding itself;
- density  = (1/k) * mean over fakes of #{ i : d(real_i, fake) < r_i }   (strict <);
- coverage = fraction of reals i whose nearest fake lies at distance < r_i.

Fast and exact: screen, then decide. One low-precision matrix product per chunk (bfloat16 on CPUs with AMX or
AVX512-BF16 units, float32 elsewhere) yields a rigorous lower bound of every squared-distance comparison; the few
comparisons that bound cannot settle are decided with float64 distances from coordinate differences. Nothing
depends on the screen's precision but the speed.

- Radii: the k+1+CANDIDATE_MARGIN smallest lower bounds of each row name the candidates; their exact distances
  give the radius, unless an excluded entry's bound reaches it, in which case every entry that bound does not
  exclude is checked.
- Coverage and density: the product is augmented so that it yields, per (fake, real) pair, a lower bound of
  d(fake, real)^2 - r^2. Only the pairs where it is <= 0 can lie inside a ball (about k per fake); those are
  decided exactly and give both metrics. The fake-fake distance matrix that `prdc` also builds is never needed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

DEFAULT_K = 5
CANDIDATE_MARGIN = 12  # extra screened neighbours re-ranked exactly when finding each real's k-th neighbour
RADII_CHUNK = 512
GROUP = 32  # column groups for the neighbour pre-selection in `_smallest_per_row`
BLOCK = 64  # columns per block when collecting the sparse screened pairs
PAD_TO = 64  # screen products are padded to a width that GROUP and BLOCK divide
EXACT_BATCH = 1 << 17  # coordinates per batch of exact pair distances (1 MiB of float64: stays in cache)
ROUND_ROWS = 64  # rows per block when rounding features for the screen


def fast_screen_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies it in hardware (AMX tiles or AVX512-BF16: 3-4x float32), else float32."""
    return torch.bfloat16 if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported() \
        else torch.float32


class Rounded(NamedTuple):
    """Rows of float64 features rounded to a screen's dtype, and per row |a - a^|, |a| and |a^|."""

    values: torch.Tensor
    residual: torch.Tensor
    norm: torch.Tensor
    rounded_norm: torch.Tensor


class Screen:
    """A low-precision matrix product that yields rigorous lower bounds, for screening distance comparisons.

    For rows a_i, b_j (float64) and per-row / per-column scalars, the product of `lhs(a, row)` and
    `rhs(b, col)` is p_ij = -2 a_i.b_j + row_i + col_j minus a bound of its own rounding error, so it never
    exceeds the true p_ij once each side has subtracted its `err` share:
    - input rounding to `dtype`: |a.b' - a^.b^| <= |a - a^| |b^| + |a| |b' - b^|, a rank-one term that the
      product subtracts itself (two extra columns, rounded up), so the bound is as tight as the actual rounding;
    - float32 accumulation over K terms (Higham, Thm 3.4: gamma_K times the sum of |terms|), separable into
      E |a|^2 per row and E |b|^2 per column, plus g' |scalar| for the scalars;
    - the scalars enter as three `dtype` pieces (24 significant bits), below float32's own rounding.
    A bf16 product is rounded to nearest bf16 on output: that keeps signs, and moves a value by at most half a
    unit in the last place of the output (`lower`).
    """

    def __init__(self, dtype: torch.dtype, dim: int):
        self.dtype = dtype
        self.u_in = torch.finfo(dtype).eps / 2
        k_terms = dim + 8
        u32 = 2.0**-24
        gamma = k_terms * u32 / (1 - k_terms * u32)
        self.vector_err = 3 * gamma * (1 + self.u_in) ** 2
        self.scalar_err = 2 * gamma + 2.0**-22
        # significant bits of the output (float32: the accumulator itself, nothing to add)
        self.out_bits = None if dtype == torch.float32 else 1 - round(math.log2(torch.finfo(dtype).eps))

    def pieces(self, v: torch.Tensor) -> torch.Tensor:
        """v (float64) as three `dtype` columns whose float32 sum is v to 24 significant bits."""
        hi = v.to(self.dtype)
        mid = (v - hi.double()).to(self.dtype)
        lo = (v - hi.double() - mid.double()).to(self.dtype)
        return torch.stack([hi, mid, lo], dim=1)

    def up(self, v: torch.Tensor) -> torch.Tensor:
        """v >= 0 rounded to `dtype`, never below v."""
        return (v * (1 + 4 * self.u_in)).to(self.dtype)[:, None]

    def round(self, a: torch.Tensor) -> Rounded:
        """a rounded to `dtype`, with the norms the bound needs, in one pass over blocks of rows that stay in
        cache."""
        values = torch.empty(a.shape, dtype=self.dtype)
        norms = torch.empty(3, len(a), dtype=torch.float64)
        for start in range(0, len(a), ROUND_ROWS):
            rows = slice(start, start + ROUND_ROWS)
            values[rows] = a[rows]
            exact = values[rows].double()
            norms[:, rows] = torch.linalg.vector_norm(torch.stack([a[rows] - exact, a[rows], exact]), dim=2)
        return Rounded(values, *norms)

    def lhs(self, a: Rounded, row: torch.Tensor) -> torch.Tensor:
        """Rows [a^_i, 1, 1, 1, row_i pieces, |a_i - a^_i|, |a_i|]."""
        ones = torch.ones(len(a.values), 3, dtype=self.dtype)
        return torch.cat([a.values, ones, self.pieces(row), self.up(a.residual), self.up(a.norm)], dim=1)

    def rhs(self, b: Rounded, col: torch.Tensor) -> torch.Tensor:
        """Rows [b^'_j, col_j pieces, 1, 1, 1, -|b^'_j|, -|b'_j - b^'_j|] for b' = -2 b, whose rounding is -2 b^
        exactly (a power of two): the product is `lhs @ rhs.T`, with rhs.T made contiguous (features x rows),
        the layout that multiplied faster than the transposed view (REPRODUCE.md, "Speed of Coverage/Density")."""
        ones = torch.ones(len(b.values), 3, dtype=self.dtype)
        return torch.cat([-2 * b.values, self.pieces(col), ones, -self.up(2 * b.rounded_norm),
                          -self.up(2 * b.residual)], dim=1)

    def lower(self, out: torch.Tensor) -> torch.Tensor:
        """A lower bound (float64) of the product's float32 value from its output `out`: round to nearest moves
        it by at most half the output's unit in the last place (2^(e - bits) for out = m 2^e, m in [0.5, 1); at
        a power of two that is the wider unit above it), and never below half the smallest subnormal step."""
        out = out.double()
        if self.out_bits is None:
            return out
        _, exponent = torch.frexp(out)
        min_half_step = torch.finfo(self.dtype).smallest_normal * torch.finfo(self.dtype).eps / 2
        return out - torch.ldexp(torch.ones_like(out), exponent - self.out_bits - 1).clamp_min(min_half_step)

    def err(self, sq: torch.Tensor, scalar: torch.Tensor) -> torch.Tensor:
        """One side's share of the accumulation bound, for a row of squared norm `sq` and its scalar."""
        return self.vector_err * sq + self.scalar_err * scalar.abs()


def _power_of_two_scale(*arrays: torch.Tensor) -> float:
    """A power of two near the largest |entry|: dividing by it is exact in float64 and leaves every distance
    comparison unchanged, while bringing features of any finite scale (1e-30 ... 1e30) into float32's range."""
    largest = max(float(torch.linalg.vector_norm(a, ord=math.inf)) if a.numel() else 0.0 for a in arrays)
    return 2.0 ** math.floor(math.log2(largest)) if largest > 0 and math.isfinite(largest) else 1.0


def pair_distances(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """float64 distances |a[rows] - b[cols]| from coordinate differences (never |a|^2 + |b|^2 - 2 a.b, which
    cancels for near neighbours), in batches gathered into two buffers that stay in cache; the radii and the
    pair decisions share it, so ties stay ties."""
    out = torch.empty(len(rows), dtype=torch.float64)
    step = max(1, EXACT_BATCH // max(1, a.shape[1]))
    diff, other = (torch.empty(min(step, len(rows)), a.shape[1], dtype=torch.float64) for _ in range(2))
    for start in range(0, len(rows), step):
        sl = slice(start, start + step)
        n = len(rows[sl])
        torch.index_select(a, 0, rows[sl], out=diff[:n])
        torch.index_select(b, 0, cols[sl], out=other[:n])
        out[sl] = torch.linalg.vector_norm(diff[:n].sub_(other[:n]), dim=1)
    return out


def order_keys(product: torch.Tensor) -> torch.Tensor:
    """Integer keys ordered as max(value, 0): the float's bits viewed as an integer (bfloat16 -> int16, float32
    -> int32) order non-negative floats as the floats, and every value <= 0 (-0 included) has a key <= 0.
    Integer passes are several times faster than bfloat16 ones on CPU."""
    return product.view(torch.int16 if product.dtype == torch.bfloat16 else torch.int32)


def key_value(keys: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 max(value, 0) of `order_keys` output."""
    return keys.clamp_min(0).view(dtype).double()


def _smallest_per_row(keys: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns of n entries per row that include its n smallest (as max(value, 0)), and the smallest key left out.

    Wide rows are pre-screened: view the row as GROUP stacked blocks and take, at each offset within a block, the
    minimum over the blocks. The n smallest entries of the row lie in the columns of the n offsets with the
    smallest minima (each such entry either sits at a chosen offset, or n chosen minima are already no larger),
    so a top-k over n * GROUP gathered entries replaces a top-k over the whole row.
    """
    n_rows, width = keys.shape
    if width <= n:
        return torch.arange(width).expand(n_rows, width), torch.full((n_rows,), torch.iinfo(keys.dtype).max)
    if width < GROUP * (n + 1):
        values, order = keys.int().clamp_min(0).topk(n + 1, dim=1, largest=False)
        return order[:, :n], values[:, n].to(keys.dtype)
    block = width // GROUP
    # clamping commutes with the minimum, so it is applied to the minima only
    block_min = keys.view(n_rows, GROUP, block).amin(dim=1).int().clamp_min(0)
    ranked = block_min.topk(n + 1, dim=1, largest=False).indices
    cols = (ranked[:, None, :n] + block * torch.arange(GROUP)[None, :, None]).reshape(n_rows, -1)
    values, pick = keys.gather(1, cols).int().clamp_min(0).topk(n + 1, dim=1, largest=False)
    # Left out: the other gathered entries, and every entry at an offset whose block minimum ranks past n.
    left_out = torch.minimum(values[:, n], block_min.gather(1, ranked[:, n:])[:, 0])
    return cols.gather(1, pick[:, :n]), left_out.to(keys.dtype)


def _padded(rhs: torch.Tensor, dim: int) -> torch.Tensor:
    """rhs with rows appended up to a multiple of PAD_TO whose product is +inf: zeros, but +inf in the first
    piece of the column scalar (where the lhs has a 1)."""
    pad_rows = torch.zeros(-len(rhs) % PAD_TO, rhs.shape[1], dtype=rhs.dtype)
    pad_rows[:, dim] = float("inf")
    return torch.cat([rhs, pad_rows])


def real_radii(real: torch.Tensor, rounded: Rounded, k: int, screen: Screen) -> torch.Tensor:
    """Exact distance from each real to its k-th nearest other real (the (k+1)-th including itself); `rounded`
    is `screen.round(real)`.

    The screen yields, up to its output rounding, lower bounds of every d_ij^2 (the row scalar is |x_i|^2 minus
    the row's error share); clamped at 0 they still are.
    """
    n_real, dim = real.shape
    sq = rounded.norm.square()  # within a few units of rounding of |x|^2: far inside the slack of `err`
    scalar = sq - screen.err(sq, sq)  # each side's |x|^2 less its share of the bound
    lhs = screen.lhs(rounded, scalar)
    rhs_t = _padded(screen.rhs(rounded, scalar), dim).T.contiguous()
    n_cand = min(k + 1 + CANDIDATE_MARGIN, n_real)
    radii = torch.empty(n_real, dtype=torch.float64)
    for start in range(0, n_real, RADII_CHUNK):
        rows = torch.arange(start, min(start + RADII_CHUNK, n_real))
        keys = order_keys(lhs[rows] @ rhs_t)
        cand, left_out = _smallest_per_row(keys, n_cand)
        exact = pair_distances(real, real, rows.repeat_interleave(cand.shape[1]), cand.reshape(-1))
        radii[rows] = exact.view(len(rows), -1).sort(dim=1).values[:, k]
        # Every excluded true d^2 is at least the smallest excluded screened value less its output rounding.
        threshold = radii[rows].pow(2)
        doubtful = screen.lower(key_value(left_out, screen.dtype)) <= threshold
        if doubtful.any():
            lower = screen.lower(key_value(keys[doubtful, :n_real], screen.dtype))
            radii[rows[doubtful]] = _kth_within(real, rows[doubtful], lower <= threshold[doubtful, None], k)
    return radii


def _kth_within(real: torch.Tensor, rows: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Exact k-th smallest distance (0-based) from each real in `rows` to the reals its mask row selects.

    Used for rows whose first candidates may have missed a neighbour: the k-th exact distance among them bounds
    the true radius from above, so only the entries whose lower bound reaches it can matter, and the mask holds
    exactly those.
    """
    row_idx, cols = mask.nonzero(as_tuple=True)
    counts = mask.sum(dim=1)
    position = torch.arange(len(cols)) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    table = torch.full((len(rows), int(counts.max())), float("inf"), dtype=torch.float64)
    table[row_idx, position] = pair_distances(real, real, rows[row_idx], cols)
    return table.sort(dim=1).values[:, k]


def nonpositive(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the keys <= 0 of a matrix whose width is a multiple of BLOCK, when they are sparse: the
    minimum of each BLOCK-wide block first, then only the blocks that hold one."""
    n_rows, width = keys.shape
    blocks = keys.view(n_rows, width // BLOCK, BLOCK)
    hit_rows, hit_blocks = (blocks.amin(dim=2) <= 0).nonzero(as_tuple=True)
    within, offset = (blocks[hit_rows, hit_blocks] <= 0).nonzero(as_tuple=True)
    return hit_rows[within], hit_blocks[within] * BLOCK + offset


def coverage_density(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = DEFAULT_K,
                     chunk: int = 1024, screen_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Coverage and density of `fake` against `real` (rows are feature vectors), with k nearest neighbours.

    `screen_dtype` picks the screening product's precision (default: `fast_screen_dtype()`); the values do not
    depend on it.
    """
    real64 = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    fake64 = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    scale = _power_of_two_scale(real64, fake64)
    real64, fake64 = real64 / scale, fake64 / scale
    screen = Screen(screen_dtype or fast_screen_dtype(), real64.shape[1])
    rounded_real = screen.round(real64)
    radii = real_radii(real64, rounded_real, k, screen)
    r2 = radii.pow(2)
    rounded_fake = screen.round(fake64)
    real_sq, fake_sq = rounded_real.norm.square(), rounded_fake.norm.square()
    # s_ij = |f_i|^2 + |r_j|^2 - r_j^2 - 2 f_i.r_j; the product yields s_ij minus its error bound, a lower bound
    # of s, so every pair with s < 0 (f_i inside real j's ball) is among those with a product <= 0.
    row = fake_sq - screen.err(fake_sq, fake_sq)
    col = real_sq - r2 - screen.err(real_sq, real_sq + r2)
    lhs = screen.lhs(rounded_fake, row)
    rhs_t = _padded(screen.rhs(rounded_real, col), real64.shape[1]).T.contiguous()
    fake_parts, real_parts = [], []
    for start in range(0, len(fake64), chunk):
        rows, cols = nonpositive(order_keys(lhs[start : start + chunk] @ rhs_t))
        fake_parts.append(rows + start)
        real_parts.append(cols)
    fake_idx, real_idx = torch.cat(fake_parts), torch.cat(real_parts)
    inside = pair_distances(fake64, real64, fake_idx, real_idx) < radii[real_idx]
    covered = torch.zeros(len(real64), dtype=torch.bool)
    covered[real_idx[inside]] = True
    return {"coverage": float(covered.double().mean()), "density": float(inside.sum()) / (k * len(fake64))}
