"""Distances between chosen pairs of rows, for the comparisons Coverage/Density's screen leaves open.

`PairMeasure.exact` gives float64 distances from coordinate differences: the values every comparison is decided
by. `PairMeasure.bounds` brackets their squares from float32 arithmetic alone, which is twice as fast and, at a
width of a few parts in ten thousand, decides nearly every comparison that the screen's few parts in a thousand
left open: only the rest need the float64 distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

BATCH_BYTES = 1 << 20  # per buffer of gathered rows: it stays in cache


class Bracket(NamedTuple):
    """Lower and upper bounds (float64) of squared distances / scale^2, and the distances where they were taken."""

    low: torch.Tensor
    high: torch.Tensor
    exact: torch.Tensor | None


class PairMeasure:
    """Distances from rows of `a` to rows of `b` (n x dim CPU tensors), |a[rows] - b[cols]|, for pairs of indices.

    `bounds` brackets squared distances divided by `scale`^2, the screen's units. Float32 bounds need float32
    features whose largest |entry| (the caller knows it) is finite and small enough that no sum of squared
    differences overflows float32; otherwise `bounds` gives the exact squares, and leaves nothing to measure.
    Tiny features need no limit: squares that underflow are covered by the absolute term (and past about 1e-19
    it leaves the bounds too wide to decide anything, so the exact distances decide).
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, scale: float, largest: float):
        self.a, self.b, self.scale = a, b, scale
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

    def exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
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

    def bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> Bracket:
        """float64 lower and upper bounds of the squares of `exact`'s distances / scale; where float32 bounds do not
        apply, the distances themselves, and their squares as both bounds. Dividing by scale^2, a power of two,
        is exact in float64."""
        if not self.float32:
            exact = self.exact(rows, cols)
            square = (exact / self.scale).square()
            return Bracket(square, square, exact)
        norm = torch.empty(len(rows), dtype=torch.float32)
        for sl, a_rows, b_rows in self._gathered(rows, cols, torch.float32):
            torch.linalg.vector_norm(a_rows.sub_(b_rows), dim=1, out=norm[sl])
        square = norm.double().square()
        low = (square * (1 - self.relative) - self.absolute) * (1 - 2.0**-40)
        high = (square * (1 + self.relative) + self.absolute) * (1 + 2.0**-40)
        return Bracket(low.clamp_min(0) / self.scale**2, high / self.scale**2, None)
