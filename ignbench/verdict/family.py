"""Multiplicity: adjusted p-values over a family of claims, per row (vectorised over repetitions).

A scorecard's family is the claims of one report under one BatchNorm mode (REPRODUCE.md, "The family"). Each
direction is adjusted on its own: the claims' p-values for "reproduced" form one family and their p-values for
"contradicted" another, so that the family keeps, for each kind of verdict, the promise a single verdict makes.

- holm (default): Holm's step-down, the family-wise error rate (no false verdict at all, with probability 1 - alpha)
  under any dependence between claims (they share runs);
- bh: Benjamini-Hochberg, the false-discovery rate (the expected share of false verdicts), valid for independent or
  positively dependent tests;
- none: the raw p-values.
Claims that were not tested (NaN) are not members of the family.
"""

from __future__ import annotations

import numpy as np

ADJUSTMENTS = ("holm", "bh", "none")


def adjust(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of each row of p (R x K, or K); NaN stays NaN and does not count."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {method!r}")
    p = np.asarray(p, dtype=float)
    flat = p.ndim == 1
    rows = np.atleast_2d(p)
    if method == "none":
        return p.copy()
    out = np.full_like(rows, np.nan)
    for i, row in enumerate(rows):
        tested = np.flatnonzero(~np.isnan(row))
        if len(tested):
            out[i, tested] = (_holm if method == "holm" else _bh)(row[tested])
    return out[0] if flat else out


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = stepped
    return out


def level_alone(alpha: float, members: int, method: str = "holm") -> float:
    """The raw p at which a claim stays decided after the adjustment whatever its family's other p-values are: Holm's
    and Benjamini-Hochberg's adjusted p are at most members x p, so alpha / members (alpha without adjustment)."""
    return alpha if method == "none" else alpha / max(1, members)
