"""Distances between chosen pairs of rows, for the comparisons Coverage/Density's screen leaves open.

`PairMeasure.exact` gives float64 distances from coordinate differences: the values every comparison is decided
by. `PairMeasure.bounds` brackets their squares from float32 arithmetic alone, which is twice as fast and, at a
width of a few parts in ten thousand, decides nearly every comparison that the screen's few parts in a thousand
left open: only the rest need the float64 distance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

BATCH_BYTES = 1 << 20  # per buffer of gathered rows: it stays in cache


class Bracket(NamedTuple):
    """Lower and upper bounds (float64) of squared distances / scale^2, and the distances where they were taken."""

    low: torch.Tensor
    high: torch.Tensor
    exact: torch.Tensor | None


def _batches(n_pairs: int, dim: int, dtype: torch.dtype) -> range:
    return range(0, n_pairs, max(1, BATCH_BYTES // (dtype.itemsize * max(1, dim))))


class PairMeasure:
    """Distances from rows of `a` to rows of `b` (n x dim CPU tensors), |a[rows] - b[cols]|, for pairs of indices.

    `bounds` brackets squared distances divided by `scale`^2, the screen's units. Float32 bounds need float32
    features that the screen does not scale, whose largest |entry| is finite (the caller knows it); otherwise
    `bounds` gives the exact squares, and leaves nothing to measure.
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, scale: float, largest: float):
        self.a, self.b, self.scale = a, b, scale
        self.float32 = a.dtype == b.dtype == torch.float32 and scale == 1.0 and math.isfinite(largest)
        # Rounding of float32 |a - b|: each difference, each square and the square root once, the sum K - 1
        # times (Higham, Thm 3.4, any order or wider accumulator), and 2 more for a norm that rescales: within
        # gamma_{K+4} of the exact square. Twice that also covers float64's own rounding of `exact`.
        k_terms = a.shape[1] + 4
        gamma = k_terms * 2.0**-24 / (1 - k_terms * 2.0**-24)
        self.relative = 2 * gamma
        # squares and differences that flush or round to subnormals: each off by < 2^-126
        self.absolute = 2 * k_terms * 2.0**-126

    def exact(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """float64 distances from coordinate differences (never |a|^2 + |b|^2 - 2 a.b, which cancels for near
        neighbours), in batches gathered into buffers that stay in cache."""
        a, b = self.a, self.b
        out = torch.empty(len(rows), dtype=torch.float64)
        batches = _batches(len(rows), a.shape[1], torch.float64)
        size = min(batches.step, len(rows))
        gathered = [torch.empty(size, x.shape[1], dtype=x.dtype) for x in (a, b)]
        diff, other = (torch.empty(size, a.shape[1], dtype=torch.float64) for _ in range(2))
        for start in batches:
            sl = slice(start, start + batches.step)
            n = len(rows[sl])
            torch.index_select(a, 0, rows[sl], out=gathered[0][:n])
            torch.index_select(b, 0, cols[sl], out=gathered[1][:n])
            # both sides in float64 before subtracting (a mixed-dtype subtraction is slower than the two copies)
            diff[:n].copy_(gathered[0][:n]).sub_(other[:n].copy_(gathered[1][:n]))
            torch.linalg.vector_norm(diff[:n], dim=1, out=out[sl])
        return out

    def bounds(self, rows: torch.Tensor, cols: torch.Tensor) -> Bracket:
        """float64 lower and upper bounds of the squares of `exact`'s distances / scale; where float32 bounds do not
        apply, the distances themselves, and their squares as both bounds. Unscaled features have |entries| <=
        2^24, so the float32 squares summed cannot overflow."""
        if not self.float32:
            exact = self.exact(rows, cols)
            square = (exact / self.scale).square()
            return Bracket(square, square, exact)
        a, b = self.a, self.b
        norm = torch.empty(len(rows), dtype=torch.float32)
        batches = _batches(len(rows), a.shape[1], torch.float32)
        size = min(batches.step, len(rows))
        diff, other = (torch.empty(size, a.shape[1], dtype=torch.float32) for _ in range(2))
        for start in batches:
            sl = slice(start, start + batches.step)
            n = len(rows[sl])
            torch.index_select(a, 0, rows[sl], out=diff[:n])
            torch.index_select(b, 0, cols[sl], out=other[:n])
            torch.linalg.vector_norm(diff[:n].sub_(other[:n]), dim=1, out=norm[sl])
        square = norm.double().square()
        low = (square * (1 - self.relative) - self.absolute) * (1 - 2.0**-40)
        high = (square * (1 + self.relative) + self.absolute) * (1 + 2.0**-40)
        return Bracket(low.clamp_min(0), high, None)
