"""A low-precision matrix product that brackets distance comparisons, for Coverage/Density's screen.

For rows a_i, b_j and per-row / per-column scalars s_i, t_j, the product of a `Side` made by `Screen.lhs` with one
made by `Screen.rhs` is, up to rounding, p_ij = |a_i|^2 + |b_j|^2 - 2 a_i.b_j - s_i - t_j: a squared distance
less the two scalars. Each side subtracts its share of the product's error bound, so the computed p_ij never
exceeds the true value, and `Screen.upper` adds that bound back to give a value never below it. Between the two
lies a band of a few parts in a thousand of the squared norms (bfloat16): only the comparisons that fall inside
a band need exact distances.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch

BLOCK_ENTRIES = 1 << 17  # entries per block of rows in a pass that keeps a block in cache: 64 rows at 2,048 features,
# 1,560 at 84 (where 64-row blocks cost x4 in per-call overhead)
TRANSPOSE_ROWS = 256  # rows per tile when transposing them into a right-hand side
TAIL = 8  # columns after the features: three 1s, three scalar pieces, two rank-one factors
PAD_TO = 64  # right-hand sides are padded to a width that the block passes over the product divide
BRACKET_MIN_DIM = 256  # feature sizes from which upper bounds spare enough exact distances to pay for themselves


def fast_screen_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies it in hardware (AMX tiles or AVX512-BF16: 3-4x float32), else float32."""
    return torch.bfloat16 if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported() \
        else torch.float32


@contextmanager
def ieee_float32_products() -> Iterator[None]:
    """Within the block, float32 matrix products on CPU are IEEE float32, as every error bound here assumes,
    whatever the process allowed them: torch.set_float32_matmul_precision("medium") (which training code often
    sets) lets oneDNN round float32 inputs to bfloat16, an error x65,000 past the bounds."""
    backend = torch.backends.mkldnn.matmul
    allowed = backend.fp32_precision
    backend.fp32_precision = "ieee"
    try:
        yield
    finally:
        backend.fp32_precision = allowed


def largest_magnitude(*arrays: torch.Tensor) -> float:
    """The largest |entry| of the arrays: NaN if any entry is, 0 when all are empty."""
    sign = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    ends = [torch.stack(a.aminmax()).double() * sign for a in arrays if a.numel()]
    return float(torch.cat(ends).max()) if ends else 0.0


def power_of_two_scale(largest: float) -> float:
    """1 where the `largest` |entry| lies within 2^-24 ... 2^24, else a power of two near it: dividing by it is
    exact and leaves every distance comparison unchanged, while bringing features of any finite scale
    (1e-30 ... 1e30) into the range where float32 squares and sums neither overflow nor underflow."""
    if not (largest > 0 and math.isfinite(largest)) or 2.0**-24 <= largest <= 2.0**24:
        return 1.0
    return 2.0 ** math.floor(math.log2(largest))


_KEY = {torch.bfloat16: torch.int16, torch.float32: torch.int32}


def order_keys(product: torch.Tensor) -> torch.Tensor:
    """Integer keys ordered as max(value, 0): the float's bits viewed as an integer (bfloat16 -> int16, float32
    -> int32) order non-negative floats as the floats, and every value <= 0 (-0 included) has a key <= 0.
    Integer passes are several times faster than bfloat16 ones on CPU."""
    return product.view(_KEY[product.dtype])


def key_value(keys: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 max(value, 0) of `order_keys` output."""
    return keys.clamp_min(0).view(dtype).double()


class Rounded(NamedTuple):
    """Features divided by a power of two and rounded to the screen's dtype, laid out as the rows of a left-hand
    side (the TAIL columns still empty), with per row |a - a^| and |a| (float64, of the scaled rows)."""

    matrix: torch.Tensor
    residual: torch.Tensor
    norm: torch.Tensor


class Side(NamedTuple):
    """One operand of the screen product, and what the upper bound needs from each of its rows: the error share
    its scalar subtracted (float64), and its two rank-one factors as the product holds them (n x 2, >= 0)."""

    matrix: torch.Tensor
    err: torch.Tensor
    rank_one: torch.Tensor


class Screen:
    """Lower and upper bounds of p_ij from one product in `dtype` (float32 accumulation).

    The rounding of the inputs: |a.b - a^.b^| <= |a - a^| |b^| + |a| |b - b^| <= |a - a^| M_b + M_a |b - b^|
    with M_x = |x| + |x - x^| (>= |x^|, |x|): a rank-one term that the product subtracts itself (two extra columns,
    rounded up), so the band is as narrow as the actual rounding. The float32 accumulation over K terms (Higham,
    Thm 3.4: gamma_K times the sum of |terms|) separates into E |a|^2 per row and E |b|^2 per column, plus
    g' |scalar| for the scalars, which enter as three `dtype` pieces (24 significant bits). Each side subtracts
    twice its share: the extra share is a margin that keeps every comparison the screen decides far from float64's
    own rounding, so the exact float64 distances would decide it the same way. A bf16 product is rounded to
    nearest bf16 on output, which moves it by at most half a unit in the last place.

    Subnormals: a product or partial sum below 2^-126 may be flushed to zero, and an input below it read as zero
    (AMX does both, and so does any CPU after torch.set_flush_denormal(True)); gradual underflow loses less.
    Each costs < 2^-126 times the other factor, or 1: over a row pair < 2^-126 ((2 sqrt(K) + 4)(|a^| + |b^|)
    + 2 K + 6) for the features, the sums, the scalar pieces and the rank-one factors, an absolute term
    each side takes half of (twice, as the margin). It only matters for rows whose squared norms are tiny next to
    the largest: without it, the float32 screen misjudged pairs of rows 1e-22 the size of the others.

    Both sides round their rank-one factors up alike (and 2 x up(v) = up(2 v)), so a product of one set of rows
    with itself subtracts the same term at (i, j) as at (j, i): either entry bounds the pair, with the same upper
    bound.
    """

    def __init__(self, dtype: torch.dtype, dim: int, bracket: bool | None = None):
        self.dtype = dtype
        self.dim = dim
        # below BRACKET_MIN_DIM features an exact distance costs less than its upper bound: `upper` gives +inf
        self.bracket = dim >= BRACKET_MIN_DIM if bracket is None else bracket
        self.u_in = torch.finfo(dtype).eps / 2
        k_terms = dim + TAIL
        u32 = 2.0**-24
        gamma = k_terms * u32 / (1 - k_terms * u32)
        margin = 2
        self.vector_err = margin * 3 * gamma * (1 + self.u_in) ** 2
        self.scalar_err = margin * (2 * gamma + 2.0**-22)
        self.flush_err = margin * 2.0**-126 * (1 + 2.0**-20)
        self.flush_per_norm = (2 * math.sqrt(k_terms) + 4) * (1 + self.u_in)
        self.flush_per_row = k_terms + 3
        # significant bits of the output (float32: the accumulator itself, nothing to add)
        self.out_bits = None if dtype == torch.float32 else 1 - round(math.log2(torch.finfo(dtype).eps))

    def err(self, sq: torch.Tensor, scalar: torch.Tensor) -> torch.Tensor:
        """One side's error share, for rows of squared norm `sq` whose scalar has magnitude `scalar`."""
        flushed = self.flush_err * (self.flush_per_norm * sq.sqrt() + self.flush_per_row)
        return self.vector_err * sq + self.scalar_err * scalar.abs() + flushed

    def _pieces(self, v: torch.Tensor) -> torch.Tensor:
        """v (float64) as three `dtype` rows whose float32 sum is v to 24 significant bits."""
        hi = v.to(self.dtype)
        mid = (v - hi.double()).to(self.dtype)
        lo = (v - hi.double() - mid.double()).to(self.dtype)
        return torch.stack([hi, mid, lo])

    def _up(self, v: torch.Tensor) -> torch.Tensor:
        """v >= 0 rounded to `dtype`, never below v."""
        return (v * (1 + 4 * self.u_in)).to(self.dtype)

    def round(self, a: torch.Tensor, scale: float, reuse: torch.Tensor | None = None) -> Rounded:
        """a / scale rounded to `dtype`, with the norms the bounds need, in one pass over blocks of rows that stay
        in cache. A block stays in a's dtype unless it must be scaled (then float64): a - a^ is exact in either,
        since a^ lies within a factor 2 of a, and the norms are taken in float64. The rows are written into the
        first rows of `reuse` (a finished `Rounded.matrix` with as many rows or more) if given: a fresh matrix
        of this size comes from the OS, and faulting its pages in costs about a third of the rounding."""
        n = len(a)
        matrix = torch.empty(n, self.dim + TAIL, dtype=self.dtype) if reuse is None else reuse[:n]
        residual, norm = (torch.empty(n, dtype=torch.float64) for _ in range(2))
        step = max(1, BLOCK_ENTRIES // max(1, self.dim))
        difference = torch.empty(min(step, n), self.dim, dtype=a.dtype if scale == 1.0 else torch.float64)
        for start in range(0, n, step):
            rows = slice(start, start + step)
            block = a[rows] if scale == 1.0 else a[rows].double() / scale
            matrix[rows, : self.dim] = block
            rounded = difference[: len(block)].copy_(matrix[rows, : self.dim])
            torch.linalg.vector_norm(block, dim=1, dtype=torch.float64, out=norm[rows])
            torch.linalg.vector_norm(rounded.sub_(block), dim=1, dtype=torch.float64, out=residual[rows])
        return Rounded(matrix, residual, norm)

    def lhs(self, a: Rounded, row: torch.Tensor) -> Side:
        """Rows [a^_i, 1, 1, 1, pieces of |a_i|^2 - row_i - e_i, |a_i - a^_i|, |a_i| + |a_i - a^_i|]; fills the
        TAIL columns of `a.matrix` in place."""
        sq = a.norm.square()
        e = self.err(sq, sq + row.abs())
        tail = a.matrix[:, self.dim :]
        tail[:, :3] = 1
        tail[:, 3:6] = self._pieces(sq - row - e).T
        rank_one = torch.stack([self._up(a.residual), self._up(a.norm + a.residual)], dim=1)
        tail[:, 6:] = rank_one
        return Side(a.matrix, e, rank_one.double())

    def rhs(self, b: Rounded, col: torch.Tensor) -> Side:
        """The transposed, contiguous features x rows matrix of rows [-2 b^_j, pieces of |b_j|^2 - col_j - e_j,
        1, 1, 1, -2 (|b_j| + |b_j - b^_j|), -|2 (b_j - b^_j)|] (-2 b^ is exactly the rounding of -2 b), padded to
        a multiple of PAD_TO rows whose product is +inf (the pieces' 1s meet +inf)."""
        n = len(b.matrix)
        width = n + (-n % PAD_TO)
        matrix = torch.zeros(self.dim + TAIL, width, dtype=self.dtype)
        for start in range(0, n, TRANSPOSE_ROWS):  # transposed tile by tile: x4 faster than in one go
            cols = slice(start, min(start + TRANSPOSE_ROWS, n))
            matrix[: self.dim, cols].copy_(b.matrix[cols, : self.dim].T)
        matrix[: self.dim].mul_(-2)
        matrix[self.dim, n:] = float("inf")
        matrix[self.dim + 3 : self.dim + 6, :n] = 1
        rank_one = torch.stack([self._up(2 * (b.norm + b.residual)), self._up(2 * b.residual)])
        matrix[self.dim + 6 :, :n] = -rank_one
        side = Side(matrix, torch.empty(0), rank_one.double().T)
        return self.with_col(side, b.norm.square(), col)

    def with_col(self, side: Side, sq: torch.Tensor, col: torch.Tensor) -> Side:
        """A right-hand side with new column scalars (in place), for rows of squared norm `sq`."""
        e = self.err(sq, sq + col.abs())
        side.matrix[self.dim : self.dim + 3, : len(sq)] = self._pieces(sq - col - e)
        return Side(side.matrix, e, side.rank_one)

    def keys_up_to(self, bound: torch.Tensor) -> torch.Tensor:
        """For each float64 `bound` >= 0, the largest key (see `order_keys`) of an output whose `lower` is <= bound.
        `lower` rises with the key, and the output nearest the bound lies within a key of it, so the answer is
        among the next few keys above two below it."""
        start = order_keys(bound.to(self.dtype)).int() - 2
        best = start
        for step in range(1, 5):
            key = start + step
            fits = self.lower(key_value(key.to(_KEY[self.dtype]), self.dtype)) <= bound
            best = torch.where(fits, key, best)
        return best.to(_KEY[self.dtype])

    def _half_ulp(self, out: torch.Tensor) -> torch.Tensor:
        """Half the output's unit in the last place (2^(e - bits) for out = m 2^e, m in [0.5, 1); at a power of
        two that is the wider unit above it), never below half the smallest subnormal step; 0 for float32."""
        if self.out_bits is None:
            return torch.zeros_like(out)
        _, exponent = torch.frexp(out)
        min_half_step = torch.finfo(self.dtype).smallest_normal * torch.finfo(self.dtype).eps / 2
        return torch.ldexp(torch.ones_like(out), exponent - self.out_bits - 1).clamp_min(min_half_step)

    def lower(self, out: torch.Tensor) -> torch.Tensor:
        """A float64 value never above the true p of a product output `out`."""
        out = out.double()
        return out - self._half_ulp(out)

    def upper(self, out: torch.Tensor, lhs: Side, rhs: Side, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """A float64 value never below the true p_ij of the product outputs `out` at (rows, cols): the computed
        product lies at most twice the rank-one term and twice both error shares (the doubled share each side
        subtracted, the accumulation, the margin) below p_ij; the sum is taken 2^-40 larger for its own float64
        rounding. Without `bracket`, +inf."""
        if not self.bracket:
            return torch.full(out.shape, math.inf, dtype=torch.float64)
        out = out.double()
        slack = 2 * (lhs.rank_one[rows] * rhs.rank_one[cols]).sum(dim=1) + 2 * (lhs.err[rows] + rhs.err[cols])
        return out + self._half_ulp(out) + slack * (1 + 2.0**-40)
