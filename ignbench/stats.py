"""One-sided tests over seeds, with effect sizes, confidence intervals and the smallest detectable effect.

Why these tests (n = 2-6 seeds per group):
- Welch's t-test (unequal variances) for "A is better than B"; a paired t-test when A and B are the same runs
  (e.g. f(f(z)) against f(z)). A permutation test cannot reach p < 0.05 with 3 seeds per group (its smallest
  one-sided p is 1/20) nor with 2 (1/6), and a bootstrap of 2-3 values underestimates their spread; Welch's test
  keeps its level under normal seed noise and can still decide large effects at n = 2.
- Two one-sided tests (TOST) against a declared margin for "A and B are comparable".
- Spearman's rank correlation for a monotone trend over a sweep, with an exact permutation p-value for up to
  8 points (the t approximation above that).
Every interval is two-sided 90 %: it excludes 0 exactly when the one-sided 5 % test rejects.
When all values of a side are equal (no spread), the sign of the difference decides and p is 0 or 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np
from scipy import stats as st

ALPHA = 0.05
POWER = 0.80
EXACT_SPEARMAN_MAX_N = 8

REPRODUCED, CONTRADICTED, INCONCLUSIVE, INSUFFICIENT = "reproduced", "contradicted", "inconclusive", "insufficient"


@dataclass
class Test:
    """The outcome of one claim's test. `estimate` is oriented so that > 0 is the claim's direction."""

    verdict: str
    estimate: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    p: float = math.nan  # one-sided, in the claim's direction
    p_against: float = math.nan  # one-sided, in the other direction
    effect: float = math.nan  # standardised effect (Hedges' g, or Spearman's rho)
    mde: float = math.nan  # smallest true effect these n would detect with 80 % power (metric units, or |rho|)
    test: str = ""
    notes: list[str] = field(default_factory=list)


def _decide(p: float, p_against: float, alpha: float) -> str:
    if p < alpha:
        return REPRODUCED
    if p_against < alpha:
        return CONTRADICTED
    return INCONCLUSIVE


def _t_outcome(estimate: float, se: float, df: float, alpha: float, scale: float, test: str) -> Test:
    """A t statistic's one-sided p-values, 90 % interval, effect (estimate / scale) and detectable effect."""
    if se == 0:
        p, p_against = (0.0, 1.0) if estimate > 0 else (1.0, 0.0) if estimate < 0 else (0.5, 0.5)
        effect = math.copysign(math.inf, estimate) if estimate else 0.0
        return Test(_decide(p, p_against, alpha), estimate, (estimate, estimate), p, p_against, effect, 0.0, test,
                    ["no spread over seeds: decided by the sign of the difference"])
    t = estimate / se
    p, p_against = float(st.t.sf(t, df)), float(st.t.cdf(t, df))
    half = float(st.t.ppf(1 - alpha, df)) * se
    mde = (float(st.t.ppf(1 - alpha, df)) + float(st.t.ppf(POWER, df))) * se
    effect = estimate / scale if scale > 0 else math.copysign(math.inf, estimate)
    return Test(_decide(p, p_against, alpha), estimate, (estimate - half, estimate + half), p, p_against,
                effect, mde, test)


@dataclass(frozen=True)
class Difference:
    """A difference of means with its standard error, degrees of freedom and standardising scale."""

    estimate: float
    se: float
    df: float
    scale: float
    test: str

    def shifted(self, by: float) -> Difference:
        return Difference(self.estimate + by, self.se, self.df, self.scale, self.test)

    def outcome(self, alpha: float = ALPHA) -> Test:
        return _t_outcome(self.estimate, self.se, self.df, alpha, self.scale, self.test)


def welch(a: np.ndarray, b: np.ndarray) -> Difference:
    """mean(a) - mean(b) with Welch's standard error and Welch-Satterthwaite df; scale: pooled sd (Hedges)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    qa, qb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(qa + qb)
    df = (qa + qb) ** 2 / (qa**2 / (len(a) - 1) + qb**2 / (len(b) - 1)) if se > 0 else math.inf
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    correction = 1 - 3 / (4 * (len(a) + len(b)) - 9)  # Hedges' small-sample correction
    return Difference(float(a.mean() - b.mean()), se, df, pooled / correction, "Welch t")


def paired(a: np.ndarray, b: np.ndarray) -> Difference:
    """mean(a - b) over the same runs measured twice."""
    d = np.asarray(a, float) - np.asarray(b, float)
    sd = float(d.std(ddof=1))
    return Difference(float(d.mean()), sd / math.sqrt(len(d)), len(d) - 1, sd, "paired t")


def one_sample(a: np.ndarray, threshold: float) -> Difference:
    a = np.asarray(a, float)
    sd = float(a.std(ddof=1))
    return Difference(float(a.mean() - threshold), sd / math.sqrt(len(a)), len(a) - 1, sd, "one-sample t")


def equivalent(diff: Difference, margin: float, alpha: float = ALPHA) -> Test:
    """TOST: the difference lies within +-margin. Reproduced when both one-sided tests reject; contradicted when
    it is significantly outside the margin in either direction."""
    above_lower = diff.shifted(+margin).outcome(alpha)  # H1: diff > -margin
    above_upper = diff.shifted(-margin).outcome(alpha)  # H1: diff > +margin
    p_equivalent = max(above_lower.p, above_upper.p_against)
    p_outside = min(above_upper.p, above_lower.p_against)
    verdict = REPRODUCED if p_equivalent < alpha else CONTRADICTED if p_outside < alpha else INCONCLUSIVE
    base = diff.outcome(alpha)
    return Test(verdict, base.estimate, base.ci, p_equivalent, p_outside, base.effect, base.mde,
                f"TOST ({diff.test}), margin {margin:g}", base.notes)


def trend(x: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> Test:
    """Spearman's rho between a swept value x and a metric y oriented so that > 0 is the claim's direction;
    exact permutation p-values for n <= 8, else the t approximation. CI: Fisher z with Fieller's variance."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    rho = float(st.spearmanr(x, y).statistic)
    if not math.isfinite(rho):
        return Test(INCONCLUSIVE, 0.0, notes=["no variation in the metric"], test="Spearman")
    if n <= EXACT_SPEARMAN_MAX_N:
        rx = st.rankdata(x)
        ranks = st.rankdata(y)
        null = np.array([np.corrcoef(rx, np.array(perm))[0, 1] for perm in permutations(ranks)])
        p = float((null >= rho - 1e-12).mean())
        p_against = float((null <= rho + 1e-12).mean())
        critical = float(np.quantile(np.abs(null), 1 - 2 * alpha))
    else:
        t = rho * math.sqrt((n - 2) / max(1e-12, 1 - rho**2))
        p, p_against = float(st.t.sf(t, n - 2)), float(st.t.cdf(t, n - 2))
        tc = float(st.t.ppf(1 - alpha, n - 2))
        critical = tc / math.sqrt(n - 2 + tc**2)
    if n > 3:
        z, se = math.atanh(max(-0.999999, min(0.999999, rho))), math.sqrt(1.06 / (n - 3))
        zc = float(st.norm.ppf(1 - alpha))
        ci = (math.tanh(z - zc * se), math.tanh(z + zc * se))
    else:
        ci = (math.nan, math.nan)
    return Test(_decide(p, p_against, alpha), rho, ci, p, p_against, rho, critical,
                "Spearman (exact)" if n <= EXACT_SPEARMAN_MAX_N else "Spearman (t approx.)")
