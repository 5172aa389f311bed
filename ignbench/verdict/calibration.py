"""Monte Carlo calibration of the verdicts: under the null of each claim kind, how often is a claim falsely
reproduced, and how often falsely contradicted? Through the decision path the report uses (`ClaimKind.test`, then
`verdicts`), vectorised over repetitions.

Null families (seed values that look like ours), each at the boundary of the null, where a false verdict is most
likely:
- normal: both sides N(0, 1);
- unequal: side a's spread 4 times side b's;
- unbalanced: 3 times as many seeds on side b (at most 12) with a's spread 4 times b's, and the reverse;
- discrete: small integers with ties (mode counts out of 8);
- zero: no spread at all;
- stalls: a mixture where 30 % of the seeds stall far from the others (one-sided kinds: symmetrically, 15 % on
  each side, so that the mean and the median both sit at the threshold).
For `similar` the "reproduced" null is a true difference at the margin, the "contradicted" null a true difference of
0 and at the margin; margins of 0.5 and 2 standard deviations. Proportions and rates are tested at the boundary
share (0.5, and 0.9 for a claim about 90 % of seeds). The sequential design and the family's adjustment are
calibrated the same way (`sequential_rates`, `family_rates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ignbench.verdict.decide import CONTRADICTED, REPRODUCED, verdicts
from ignbench.verdict.family import adjust
from ignbench.verdict.kinds import KINDS, Sample, two_sided
from ignbench.verdict.sequential import alpha_shares, looks
from ignbench.verdict.stats import ALPHA

STALL_SHIFT, STALL_SHARE = 10.0, 0.3


@dataclass
class Cell:
    kind: str
    family: str
    n: int
    false_reproduced: float  # nan where the family is not a null for "reproduced"
    false_contradicted: float
    reps: int

    @property
    def worst(self) -> float:
        return np.nanmax([self.false_reproduced, self.false_contradicted])


def _normal(rng, reps, n, sd=1.0):
    return rng.normal(0.0, sd, (reps, n))


def _discrete(rng, reps, n):
    return rng.binomial(8, 0.85, (reps, n)).astype(float)


def _stalls(rng, reps, n):
    stalled = rng.random((reps, n)) < STALL_SHARE
    return rng.normal(0.0, 1.0, (reps, n)) + STALL_SHIFT * stalled


def _symmetric_stalls(rng, reps, n):
    sign = np.where(rng.random((reps, n)) < 0.5, 1.0, -1.0)
    stalled = rng.random((reps, n)) < STALL_SHARE
    return rng.normal(0.0, 1.0, (reps, n)) + STALL_SHIFT * stalled * sign


def _symmetric_discrete(rng, reps, n):
    return rng.choice([-1.0, 0.0, 1.0], p=[0.3, 0.4, 0.3], size=(reps, n))


def two_sample_null(family: str, rng, reps: int, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, b) with equal means (and equal distributions wherever the family allows)."""
    big = min(3 * n, 12)
    makers: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
        "normal": lambda: (_normal(rng, reps, n), _normal(rng, reps, n)),
        "unequal": lambda: (_normal(rng, reps, n, 4.0), _normal(rng, reps, n)),
        "unbalanced": lambda: (_normal(rng, reps, n, 4.0), _normal(rng, reps, big)),
        "unbalanced-reverse": lambda: (_normal(rng, reps, n), _normal(rng, reps, big, 4.0)),
        "discrete": lambda: (_discrete(rng, reps, n), _discrete(rng, reps, n)),
        "zero": lambda: (np.full((reps, n), 8.0), np.full((reps, n), 8.0)),
        "stalls": lambda: (_stalls(rng, reps, n), _stalls(rng, reps, n)),
    }
    return makers[family]() if family in makers else None


def one_sample_null(family: str, rng, reps: int, n: int) -> np.ndarray | None:
    """Values whose mean and median sit at the threshold 0."""
    makers = {"normal": lambda: _normal(rng, reps, n), "discrete": lambda: _symmetric_discrete(rng, reps, n),
              "zero": lambda: np.zeros((reps, n)), "stalls": lambda: _symmetric_stalls(rng, reps, n)}
    return makers[family]() if family in makers else None


def trend_null(family: str, rng, reps: int, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """4 swept values x n seeds, the metric unrelated to them."""
    x = np.repeat(np.arange(4.0), n)
    makers = {"normal": lambda: _normal(rng, reps, 4 * n), "discrete": lambda: _discrete(rng, reps, 4 * n),
              "zero": lambda: np.full((reps, 4 * n), 1.0), "stalls": lambda: _stalls(rng, reps, 4 * n)}
    return (x, makers[family]()) if family in makers else None


FAMILIES = ("normal", "unequal", "unbalanced", "unbalanced-reverse", "discrete", "zero", "stalls")
MARGINS = (0.5, 2.0)


def _rates(sample: Sample, kind: str, alpha: float) -> tuple[float, float]:
    v = verdicts(*_tails(KINDS[kind].test(sample)), alpha)
    return float((v == REPRODUCED).mean()), float((v == CONTRADICTED).mean())


def _tails(result) -> tuple[np.ndarray, np.ndarray]:
    return result.p, result.p_against


def _two_sample_cells(kind: str, n: int, reps: int, rng, alpha: float) -> Iterator[Cell]:
    for family in FAMILIES:
        a, b = two_sample_null(family, rng, reps, n)
        if kind in ("greater", "curve"):
            yield Cell(kind, family, n, *_rates(Sample(a, b), kind, alpha), reps)
            if a.shape == b.shape:  # the same runs measured twice: the paired test
                yield Cell(f"{kind} (paired)", family, n, *_rates(Sample(a, b, paired=True), kind, alpha), reps)
        elif kind == "similar":
            for margin in MARGINS:
                scale = margin * (np.std(b) if family != "zero" else 1.0)
                at_margin = max(_rates(Sample(a + side * scale, b, margin=scale), kind, alpha)[0] for side in (1, -1))
                inside = max(_rates(Sample(a + shift, b, margin=scale), kind, alpha)[1] for shift in (0.0, scale))
                yield Cell(f"similar (margin {margin:g} sd)", family, n, at_margin, inside, reps)


def _proportion_cells(kind: str, n: int, reps: int, rng, alpha: float) -> Iterator[Cell]:
    for share in (0.5, 0.9):
        hits = (rng.random((reps, n)) < share).astype(float)
        yield Cell(kind, f"boundary share {share:g}", n, *_rates(Sample(hits, share=share), kind, alpha), reps)
    none, every = np.zeros((reps, n)), np.ones((reps, n))
    yield Cell(kind, "zero", n, _rates(Sample(none), kind, alpha)[0], _rates(Sample(every), kind, alpha)[1], reps)


def _other_cells(kind: str, n: int, reps: int, rng, alpha: float) -> Iterator[Cell]:
    if kind == "at_least":
        for family in FAMILIES:
            x = one_sample_null(family, rng, reps, n)
            if x is not None:
                yield Cell(kind, family, n, *_rates(Sample(x, threshold=0.0), kind, alpha), reps)
    elif kind == "trend":
        for family in FAMILIES:
            made = trend_null(family, rng, reps, n)
            if made is not None:
                yield Cell(kind, family, n, *_rates(Sample(made[1], x=made[0]), kind, alpha), reps)
    elif kind == "stalls_more":
        for rate in (0.3, 0.5):
            a, b = ((rng.random((reps, n)) < rate).astype(float) for _ in range(2))
            yield Cell(kind, f"equal rates {rate:g}", n, *_rates(Sample(a, b), kind, alpha), reps)
        zero = np.zeros((reps, n))
        yield Cell(kind, "zero", n, *_rates(Sample(zero, zero), kind, alpha), reps)


def calibrate(ns: tuple[int, ...] = (2, 3, 6), reps: int = 2000, seed: int = 0,
              alpha: float = ALPHA) -> list[Cell]:
    """False-verdict rates of every claim kind x null family x seeds per side."""
    rng = np.random.default_rng(seed)
    cells: list[Cell] = []
    for n in ns:
        for kind, spec in KINDS.items():
            if spec.shape == "two_sample":
                cells += _two_sample_cells(kind, n, reps, rng, alpha)
            elif spec.shape == "proportion":
                cells += _proportion_cells(kind, n, reps, rng, alpha)
            else:
                cells += _other_cells(kind, n, reps, rng, alpha)
        cells += interaction_cells(n, reps, rng, alpha)
    return cells


def interaction_cells(n: int, reps: int, rng, alpha: float = ALPHA) -> list[Cell]:
    """Mode sensitivity: the same true effect under both BatchNorm modes (per run, train = eval + a common shift +
    noise); the flag fires when the two-sided test of the per-run changes rejects."""
    out = []
    for family in ("normal", "unequal", "stalls"):
        a_eval, b_eval = two_sample_null(family, rng, reps, n)
        a_eval = a_eval + 1.0  # a true effect, the same in both modes
        a_train, b_train = a_eval + 0.7 + _normal(rng, reps, n), b_eval + 0.7 + _normal(rng, reps, n)
        result = KINDS["greater"].test(Sample(a_eval - a_train, b_eval - b_train))
        out.append(Cell("mode interaction", family, n, float((two_sided(result) <= alpha).mean()), math.nan, reps))
    return out


def sequential_cells(max_seeds: int = 12, reps: int = 2000, seed: int = 1, alpha: float = ALPHA) -> list[Cell]:
    """`greater` decided at looks of 3, 6, ... max_seeds seeds per side with alpha split over the looks, taking the
    strongest look: a false verdict in a direction counts whenever any look's p reaches its share (every look run)."""
    rng = np.random.default_rng(seed)
    schedule = looks(max_seeds)
    out = []
    for family in ("normal", "unequal", "discrete", "zero", "stalls"):
        a, b = two_sample_null(family, rng, reps, max_seeds)
        min_ps = [KINDS["greater"].test(Sample(a[:1, :s], b[:1, :s])).min_p for s in schedule]
        shares = alpha_shares(min_ps, alpha)
        up = np.zeros(reps, bool)  # the strongest look decides: any look's p within its share
        down = np.zeros(reps, bool)
        for s, share in zip(schedule, shares, strict=True):
            if not share:
                continue
            result = KINDS["greater"].test(Sample(a[:, :s], b[:, :s]))
            up |= result.p <= share
            down |= result.p_against <= share
        out.append(Cell(f"greater, sequential to {max_seeds}", family, max_seeds, float(up.mean()),
                        float(down.mean()), reps))
    return out


def family_rates(claims: int = 12, n: int = 6, reps: int = 2000, seed: int = 2,
                 alpha: float = ALPHA) -> dict[str, float]:
    """Chance of at least one false verdict (per direction) among `claims` null `greater` claims, raw and adjusted."""
    rng = np.random.default_rng(seed)
    p = np.empty((reps, claims))
    p_against = np.empty((reps, claims))
    for k in range(claims):
        result = KINDS["greater"].test(Sample(_normal(rng, reps, n), _normal(rng, reps, n)))
        p[:, k], p_against[:, k] = result.p, result.p_against
    out = {}
    for method in ("none", "holm", "bh"):
        out[method] = float(max(((adjust(p, method) <= alpha).any(axis=1)).mean(),
                                ((adjust(p_against, method) <= alpha).any(axis=1)).mean()))
    return out


def power_cells(n: int = 6, effect: float = 3.0, reps: int = 2000, seed: int = 3, alpha: float = ALPHA) \
        -> dict[str, float]:
    """Share of planted effects found: a better than b by `effect` sd (reproduced), and the reverse (contradicted)."""
    rng = np.random.default_rng(seed)
    a, b = _normal(rng, reps, n) + effect, _normal(rng, reps, n)
    forward = verdicts(*_tails(KINDS["greater"].test(Sample(a, b))), alpha)
    reverse = verdicts(*_tails(KINDS["greater"].test(Sample(b, a))), alpha)
    return {"reproduced": float((forward == REPRODUCED).mean()),
            "contradicted": float((reverse == CONTRADICTED).mean())}


def bound(reps: int, alpha: float = ALPHA) -> float:
    """alpha plus three Monte Carlo standard errors."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)
