"""Distances between chosen pairs of rows, for the comparisons Coverage/Density's screen leaves open.

`PairMeasure.exact` gives float64 distances from coordinate differences: the values every comparison is decided
by. `PairMeasure.bounds` brackets their squares from float32 arithmetic alone, a few parts in ten thousand wide,
which decides nearly every comparison that the screen's few parts in a thousand left open: only the rest need the
float64 distance.

Each pair takes one of three brackets, each rigorous:
- from float32 coordinate differences, gathered: its error scales with |a - b|^2. Taken by every pair below
  SAMPLED_MIN_DIM features, where gathering rows is cheap.
- from d^2 = |a|^2 + |b|^2 - 2 a.b with float64 norms and a float32 a.b, whose error scales with |a| |b|, the dot
  products sampled where the rows lie (a sparse product, with no gathered copies: x3 faster at 2,048 features).
  Pairs far closer than their norms (near duplicates) also take the bracket from differences, and keep the
  overlap.
- the same from one float32 product of whole rows, for a row with pairs to a large share of the other side's
  rows. Such a row dominates every distance it is in, as a Cauchy row with one huge coordinate does, and ties with
  thousands of others within the screen's band: the product is x20 less work than measuring the pairs one by
  one, and its bracket is narrower than from differences by |b| / |a|.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from functools import cached_property
from typing import NamedTuple

import torch

from ignbench.evaluate.metrics.screen import BLOCK_ENTRIES, ieee_float32_products

BATCH_BYTES = 1 << 20  # per buffer of gathered rows: it stays in cache
DENSE_SHARE = 1 / 16  # a row with pairs to this share of the other side's rows or more gets them from a product
DENSE_ROWS = 64  # such rows per product
SAMPLED_MIN_DIM = 256  # feature sizes from which the other pairs take sampled dot products: below, gathering their
# rows for differences costs less than the dot products' float64 arithmetic (x2.5 less at 84 features)
DIFFERENCE_GAIN = 4  # pairs whose bracket from differences would be this many times narrower also take it


class Bracket(NamedTuple):
    """Lower and upper bounds (float64) of squared distances / scale^2, and the distances where they were taken."""

    low: torch.Tensor
    high: torch.Tensor
    exact: torch.Tensor | None


class PairMeasure:
    """Distances from rows of `a` to rows of `b` (n x dim CPU tensors), |a[rows] - b[cols]|, for pairs of indices.

    `bounds` brackets squared distances divided by `scale`^2, the screen's units. Float32 bounds need float32
    features whose largest |entry| (the caller knows it) is finite and small enough that no sum of squared
    differences or products overflows float32; otherwise `bounds` gives the exact squares, and leaves nothing to
    measure. Tiny features need no limit: squares that underflow are covered by the absolute terms (and past
    about 1e-19 they leave the bounds too wide to decide anything, so the exact distances decide). `scaled_norms`,
    the float64 row norms of a / scale and b / scale that the screen's rounding took, spares taking them again.
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, scale: float, largest: float,
                 scaled_norms: tuple[torch.Tensor, torch.Tensor] | None = None,
                 copies: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)):
        self.a, self.b, self.scale = a, b, scale
        self.copies = copies  # per side, each row's first equal row (`prdc.first_copies`), or None: no copies
        if scaled_norms is not None:  # float64 |a_i| / scale and |b_j| / scale, as the screen's rounding took them
            self.a_squares, self.b_squares = ((norm * scale).square() for norm in scaled_norms)
        k_terms = a.shape[1] + 4
        no_overflow = largest < math.sqrt(2.0**127 / (4 * k_terms))  # |a - b|^2 summed over the features
        self.float32 = a.dtype == b.dtype == torch.float32 and math.isfinite(largest) and no_overflow
        # Rounding of float32 |a - b|: each difference, each square and the square root once, the sum K - 1
        # times (Higham, Thm 3.4, any order or wider accumulator), and 2 more for a norm that rescales: within
        # gamma_{K+4} of the exact square. Twice that also covers float64's own rounding of `exact`.
        gamma = k_terms * 2.0**-24 / (1 - k_terms * 2.0**-24)
        self.relative = 2 * gamma
        # squares and differences that flush or round to subnormals: each off by < 2^-126
        self.absolute = 2 * k_terms * 2.0**-126
        # Bounds from dot products (`_dot_bounds`): twice a float32 dot product's error, gamma_K sum |a_i b_i| <=
        # gamma_K |a| |b|, plus what flushing subnormals can lose (< 2^-126 (|a_i| + |b_i| + 2) a term, with
        # inputs and results flushed to zero: sum |a_i| <= sqrt(K) |a|), and a float64 share of (|a| + |b|)^2
        # for the float64 norms, the sum that combines them, and the float64 rounding of `exact` that the bounds
        # must also hold (and 2^-40 of room on top, as the other bounds have).
        dim = a.shape[1]
        self.dot_relative = 2 * dim * 2.0**-24 / (1 - dim * 2.0**-24) * (1 + 2.0**-30)
        self.dot_flushed = 2 * 2.0**-126 * (1 + 2.0**-30)
        self.dot_flushed_per_norm, self.dot_flushed_per_pair = math.sqrt(dim), 2 * dim
        self.float64_relative = 8 * (dim + 8) * 2.0**-53 + 2.0**-40

    def _gathered(self, rows: torch.Tensor, cols: torch.Tensor,
                  work: torch.dtype) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
        """Batches of (slice of the pairs, a[rows], b[cols]), gathered into two reused buffers, as many rows a
        batch as fill BATCH_BYTES in the `work` dtype."""
        step = max(1, BATCH_BYTES // (work.itemsize * max(1, self.a.shape[1])))
        buffers = [torch.empty(min(step, len(rows)), x.shape[1], dtype=x.dtype) for x in (self.a, self.b)]
        for start in range(0, len(rows), step):
            sl = slice(start, start + step)
            n = len(rows[sl])
            torch.index_select(self.a, 0, rows[sl], out=buffers[0][:n])
            torch.index_select(self.b, 0, cols[sl], out=buffers[1][:n])
            yield sl, buffers[0][:n], buffers[1][:n]

    @cached_property
    def a_squares(self) -> torch.Tensor:
        """float64 |a_i|^2 of every row of `a` (given, or taken when first needed)."""
        return _squared_norms(self.a)

    @cached_property
    def b_squares(self) -> torch.Tensor:
        """float64 |b_j|^2 of every row of `b`."""
        return self.a_squares if self.b is self.a else _squared_norms(self.b)

    def _distinct(self, rows: torch.Tensor,
                  cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The pairs with each row replaced by its first copy, each pair once (in row order), and where each of
        the given pairs is among them (None, and the pairs as given, if neither side has copies)."""
        copies_a, copies_b = self.copies
        if copies_a is None and copies_b is None:
            return rows, cols, None
        rows = rows if copies_a is None else copies_a[rows]
        cols = cols if copies_b is None else copies_b[cols]
        distinct, where = torch.unique(rows * len(self.b) + cols, return_inverse=True)
        return distinct // len(self.b), distinct % len(self.b), where

    def exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """`_exact` of the pairs, each distinct pair of rows measured once."""
        rows, cols, where = self._distinct(rows, cols)
        out = self._exact(rows, cols)
        return out if where is None else out[where]

    def bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> Bracket:
        """`_bounds` of the pairs, each distinct pair of rows bracketed once."""
        rows, cols, where = self._distinct(rows, cols)
        bracket = self._bounds(rows, cols)
        if where is None:
            return bracket
        return Bracket(bracket.low[where], bracket.high[where], None if bracket.exact is None else bracket.exact[where])

    def _exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """float64 distances from coordinate differences (never |a|^2 + |b|^2 - 2 a.b, which cancels for near
        neighbours), summed in units of `scale` so that features near float64's limits (1e200, 1e-200) neither
        overflow nor underflow: dividing and multiplying by a power of two is exact."""
        out = torch.empty(len(rows), dtype=torch.float64)
        diff, other = (torch.empty(0, dtype=torch.float64) for _ in range(2))
        for sl, a_rows, b_rows in self._gathered(rows, cols, torch.float64):
            # both sides in float64 before subtracting (a mixed-dtype subtraction is slower than the two copies)
            diff, other = diff.resize_(a_rows.shape), other.resize_(b_rows.shape)
            diff.copy_(a_rows).sub_(other.copy_(b_rows))
            if self.scale != 1.0:
                diff.div_(self.scale)
            torch.linalg.vector_norm(diff, dim=1, out=out[sl])
        return out if self.scale == 1.0 else out.mul_(self.scale)

    def _bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> Bracket:
        """float64 lower and upper bounds of the squares of `exact`'s distances / scale; where float32 bounds do not
        apply, the distances themselves, and their squares as both bounds. Dividing by scale^2, a power of two,
        is exact in float64."""
        if not self.float32:
            exact = self._exact(rows, cols)
            square = (exact / self.scale).square()
            return Bracket(square, square, exact)
        low, high = (torch.empty(len(rows), dtype=torch.float64) for _ in range(2))
        dense = self._from_products(rows, cols, low, high)
        rest = slice(None) if dense is None else (~dense).nonzero()[:, 0]
        rest_rows, rest_cols = rows[rest], cols[rest]
        if self.a.shape[1] < SAMPLED_MIN_DIM:
            low[rest], high[rest] = self._difference_bounds(rest_rows, rest_cols)
        else:
            low[rest], high[rest] = self._sampled_bounds(rest_rows, rest_cols)
        return Bracket(low.clamp_min_(0).div_(self.scale**2), high.div_(self.scale**2), None)

    def _difference_bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled float64 bounds of |a[rows] - b[cols]|^2 from float32 coordinate differences, gathered."""
        norm = torch.empty(len(rows), dtype=torch.float32)
        for sl, a_rows, b_rows in self._gathered(rows, cols, torch.float32):
            torch.linalg.vector_norm(a_rows.sub_(b_rows), dim=1, out=norm[sl])
        square = norm.double().square()
        return ((square * (1 - self.relative) - self.absolute) * (1 - 2.0**-40),
                (square * (1 + self.relative) + self.absolute) * (1 + 2.0**-40))

    def _dot_bounds(self, dots: torch.Tensor, own_squares: torch.Tensor,
                    other_squares: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled float64 bounds of |a - b|^2 from a float32 a.b and float64 |a|^2 and |b|^2 (see `__init__`)."""
        estimate = own_squares + other_squares - 2 * dots.double()
        cross, norm_sum = (own_squares * other_squares).sqrt(), own_squares.sqrt() + other_squares.sqrt()
        flushed = self.dot_flushed * (self.dot_flushed_per_norm * norm_sum + self.dot_flushed_per_pair)
        width = self.dot_relative * cross + flushed + self.float64_relative * norm_sum.square()
        return estimate - width, estimate + width

    def _sampled_bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`_dot_bounds` from `_sampled_dots`, narrowed by `_difference_bounds` for the pairs where those would be
        DIFFERENCE_GAIN times narrower (rows far closer than their norms, as near duplicates are)."""
        dots = _sampled_dots(self.a, self.b, rows, cols)
        low, high = self._dot_bounds(dots, self.a_squares[rows], self.b_squares[cols])
        by_differences = 2 * self.relative * high.clamp_min(0) + 2 * self.absolute
        close = (DIFFERENCE_GAIN * by_differences < high - low).nonzero()[:, 0]
        if len(close):
            close_low, close_high = self._difference_bounds(rows[close], cols[close])
            low[close], high[close] = low[close].maximum(close_low), high[close].minimum(close_high)
        return low, high

    def _from_products(self, rows: torch.Tensor, cols: torch.Tensor, low: torch.Tensor,
                       high: torch.Tensor) -> torch.Tensor | None:
        """Sets low and high (unscaled) at the pairs whose row of `a`, or else row of `b`, has pairs to at least
        DENSE_SHARE of the other side's rows, by `_dot_bounds` from float32 products of those rows with all of
        the other side's, and returns which pairs those are (None if none). For a row far larger than the rest,
        these bounds are a fraction |b| / |a| as wide as the ones from differences."""
        if len(rows) < DENSE_SHARE * min(len(self.a), len(self.b)):
            return None
        dense_a = (torch.bincount(rows, minlength=len(self.a)) >= DENSE_SHARE * len(self.b))[rows]
        dense_b = (torch.bincount(cols, minlength=len(self.b)) >= DENSE_SHARE * len(self.a))[cols] & ~dense_a
        if not (dense_a.any() or dense_b.any()):
            return None
        sides = ((dense_a, self.a, self.a_squares, rows, self.b, self.b_squares, cols),
                 (dense_b, self.b, self.b_squares, cols, self.a, self.a_squares, rows))
        for dense, own, own_squares, own_idx, other, other_squares, other_idx in sides:
            at = dense.nonzero()[:, 0]
            if len(at):
                dots = _dots(own, other, own_idx[at], other_idx[at])
                low[at], high[at] = self._dot_bounds(dots, own_squares[own_idx[at]], other_squares[other_idx[at]])
        return dense_a | dense_b


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    """float64 squared norms of the rows of a float32 matrix, a block of rows at a time."""
    out = torch.empty(len(x), dtype=torch.float64)
    step = max(1, BLOCK_ENTRIES // max(1, x.shape[1]))  # a whole float64 copy is x4 slower
    for start in range(0, len(x), step):
        torch.linalg.vector_norm(x[start : start + step], dim=1, dtype=torch.float64, out=out[start : start + step])
    return out.square_()


def _dots(own: torch.Tensor, other: torch.Tensor, own_idx: torch.Tensor, other_idx: torch.Tensor) -> torch.Tensor:
    """float32 dot products own[own_idx] . other[other_idx], from the products of DENSE_ROWS distinct rows of
    `own` at a time with all of `other`, in IEEE float32."""
    order = own_idx.argsort()
    distinct, counts = torch.unique_consecutive(own_idx[order], return_counts=True)
    which = torch.repeat_interleave(torch.arange(len(distinct)), counts)  # of each pair in `order`
    first = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]).tolist()  # each row's first pair
    out = torch.empty(len(own_idx), dtype=torch.float32)
    with ieee_float32_products():
        for start in range(0, len(distinct), DENSE_ROWS):
            pairs = slice(first[start], first[min(start + DENSE_ROWS, len(distinct))])
            at = order[pairs]
            product = own[distinct[start : start + DENSE_ROWS]] @ other.T
            out[at] = product[which[pairs] - start, other_idx[at]]
    return out


def _sampled_dots(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """float32 dot products a[rows] . b[cols], each from the two rows where they lie (no gathered copies): the
    values of a sparse product sampled at the pairs (torch.sparse.sampled_addmm, a plain float32 dot product per
    pair), whose pattern lists the pairs by row."""
    if len(rows) > 1 and not bool((rows[1:] >= rows[:-1]).all()):
        order = rows.argsort(stable=True)
        out = torch.empty(len(rows), dtype=a.dtype)
        out[order] = _sampled_dots(a, b, rows[order], cols[order])
        return out
    row_starts = torch.zeros(len(a) + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=len(a)), 0, out=row_starts[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Sparse CSR tensor support is in beta state"
        pattern = torch.sparse_csr_tensor(row_starts, cols, torch.zeros(len(rows), dtype=a.dtype), (len(a), len(b)),
                                          check_invariants=False)
        return torch.sparse.sampled_addmm(pattern, a, b.T, beta=0.0).values()
