"""The claim kinds, in one registry: what each reads from the runs, which keys it needs and which test decides it.

A kind is one `ClaimKind` object, registered as an entry point of group `ignbench.claim_kinds` (ignbench's own
below, declared in its pyproject.toml; a researcher's in theirs). A kind's test takes a `Sample` (values oriented
so that larger is the claim's direction, one row per repetition) and returns one-sided p-values for the claim and
against it. The report and the Monte Carlo calibration call the same `ClaimKind.test`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ignbench.core import plugins

if TYPE_CHECKING:  # the registry is read when specs load; scipy is loaded when a claim is tested
    from ignbench.verdict.stats import Result

# What a kind reads from the runs: a metric's final value, the rebound of its training curve, whether a run covers
# every mode of a mixture (all_modes) or misses one (mode_dropping), or whether a run stalled (run health).
METRIC, REBOUND, COVERS_ALL, DROPS_MODE, STALLS = "metric", "rebound", "covers_all", "drops_mode", "stalls"


@dataclass
class Sample:
    """Per-run values of a claim's sides, oriented so that larger is the claim's direction."""

    a: np.ndarray  # (R, n_a)
    b: np.ndarray | None = None  # (R, n_b)
    paired: bool = False  # a and b are the same runs measured twice (column i of a and b: run i)
    x: np.ndarray | None = None  # trend: the swept value of each of a's runs
    threshold: float = 0.0  # at_least, oriented
    margin: float = math.nan  # similar
    share: float = 0.5  # proportion kinds: the share of seeds the claim is about


def _location(s: Sample, shift: float = 0.0) -> Result:
    from ignbench.verdict import stats

    return stats.paired(s.a - s.b, shift) if s.paired else stats.two_sample(s.a, s.b, shift)


def _greater(s: Sample) -> Result:
    return _location(s)


def _similar(s: Sample) -> Result:
    """TOST: equivalent when the difference is significantly above -margin and below +margin (each at alpha);
    outside when it is significantly beyond either margin, the two sides Bonferroni-corrected (2 x the smaller p)."""
    above_lower, above_upper = _location(s, +s.margin), _location(s, -s.margin)
    p_equivalent = np.maximum(above_lower.p, above_upper.p_against)
    p_outside = np.minimum(1.0, 2 * np.minimum(above_upper.p, above_lower.p_against))
    base = _location(s)
    return type(base)(p_equivalent, p_outside, base.estimate, base.se, base.df, base.scale, base.min_p,
                  f"TOST ({base.test}), margin {s.margin:g}")


def _at_least(s: Sample) -> Result:
    from ignbench.verdict import stats

    return stats.one_sample(s.a, s.threshold)


def _trend(s: Sample) -> Result:
    from ignbench.verdict import stats

    return stats.spearman(s.x, s.a)


def _proportion(s: Sample) -> Result:
    from ignbench.verdict import stats

    return stats.binomial(s.a.sum(axis=1), s.a.shape[1], s.share)


def _rates(s: Sample) -> Result:
    from ignbench.verdict import stats

    return stats.fisher(s.a.sum(axis=1), s.a.shape[1], s.b.sum(axis=1), s.b.shape[1])


@dataclass(frozen=True)
class ClaimKind:
    name: str
    reads: str  # METRIC, REBOUND, COVERS_ALL, DROPS_MODE or STALLS
    shape: str  # two_sample, one_sample, trend, proportion, rates: which exact test, and how seeds are counted
    required: frozenset[str]
    test: Callable[[Sample], Result]
    meaning: str  # for docs and `ignbench list --kinds`

    @property
    def sides(self) -> int:
        return 2 if "b" in self.required else 1


def _kind(name: str, reads: str, shape: str, required: set[str], test: Callable[[Sample], Result],
          meaning: str) -> ClaimKind:
    return ClaimKind(name, reads, shape, frozenset(required), test, meaning)


# The built-ins, registered through the entry points of group ignbench.claim_kinds (pyproject.toml) like a plugin's.
GREATER = _kind("greater", METRIC, "two_sample", {"metric", "a", "b"}, _greater, "a is better than b on the metric")
SIMILAR = _kind("similar", METRIC, "two_sample", {"metric", "a", "b", "margin"}, _similar,
                "a and b differ by less than the margin (TOST)")
AT_LEAST = _kind("at_least", METRIC, "one_sample", {"metric", "a", "threshold"}, _at_least,
                 "a is better than the threshold (on average and for the typical seed)")
TREND = _kind("trend", METRIC, "trend", {"metric", "a", "sweep"}, _trend,
              "the metric improves monotonically as the swept field grows")
CURVE = _kind("curve", REBOUND, "two_sample", {"metric", "a", "b"}, _greater,
              "a's training curve rebounds more after its best point than b's")
ALL_MODES = _kind("all_modes", COVERS_ALL, "proportion", {"a"}, _proportion,
                  "more than `share` of a's seeds cover every mode")
MODE_DROPPING = _kind("mode_dropping", DROPS_MODE, "proportion", {"a"}, _proportion,
                      "more than `share` of a's seeds miss a mode")
STALLS_MORE = _kind("stalls_more", STALLS, "rates", {"a", "b"}, _rates, "a's runs stall more often than b's (Fisher)")
READS = (METRIC, REBOUND, COVERS_ALL, DROPS_MODE, STALLS)
SHAPES = ("two_sample", "one_sample", "trend", "proportion", "rates")


def _check(obj: Any) -> str:
    """What is wrong with a registered claim kind, or ""."""
    if not isinstance(obj, ClaimKind):
        return f"not an ignbench.verdict.kinds.ClaimKind but a {type(obj).__name__}"
    if not callable(obj.test):
        return "a claim kind needs a test: test(sample) -> Result"
    if obj.reads not in READS or obj.shape not in SHAPES:
        return f"reads must be one of {', '.join(READS)} and shape one of {', '.join(SHAPES)}"
    return ""


KINDS: dict[str, ClaimKind] = plugins.load("claim_kinds", _check)


def two_sided(result: Result) -> np.ndarray:
    """The two-sided p of a one-sided pair: twice the smaller tail."""
    return np.minimum(1.0, 2 * np.minimum(result.p, result.p_against))
