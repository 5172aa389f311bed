"""How many seeds a claim needs: the smallest n per side whose exact test can reach alpha at all, and whose
parametric part detects a given difference with 80 % power (noncentral t; exact binomial and hypergeometric sums
for proportions). Every search stops at MAX_SEEDS: a claim beyond it says so."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

from ignbench.verdict.stats import ALPHA, POWER

MAX_SEEDS = 50


def exact_minimum(shape: str, alpha: float = ALPHA, share: float = 0.5) -> int | None:
    """The fewest seeds per side at which the exact part of a test of this shape can reach alpha in the claim's
    direction."""
    for n in range(2, MAX_SEEDS + 1):
        smallest = {"two_sample": 1 / math.comb(2 * n, n), "paired": 0.5**n, "one_sample": 0.5**n,
                    "proportion": share**n, "rates": 1 / math.comb(2 * n, n),
                    "trend": 1 / math.factorial(n)}[shape]
        if smallest <= alpha:
            return n
    return None


def t_power(delta: float, sd_a: float, sd_b: float | None, n: int, alpha: float = ALPHA) -> float:
    """Power of the one-sided t part (Hsu's df = n - 1) to find a true difference delta > 0 with n seeds per side;
    sd_b None: one side against a threshold (or paired differences with sd sd_a)."""
    se = math.sqrt(sd_a**2 / n + (sd_b**2 / n if sd_b is not None else 0.0))
    if se == 0:
        return 1.0 if delta > 0 else 0.0
    df = n - 1
    return float(st.nct.sf(st.t.ppf(1 - alpha, df), df, delta / se))


def tost_power(delta: float, margin: float, sd_a: float, sd_b: float | None, n: int, alpha: float = ALPHA) -> float:
    """Power of TOST to show |difference| < margin when the true difference is delta (both one-sided t parts)."""
    lower = t_power(delta + margin, sd_a, sd_b, n, alpha)
    upper = t_power(margin - delta, sd_a, sd_b, n, alpha)
    return max(0.0, lower + upper - 1.0)


def seeds_for_t(delta: float, sd_a: float, sd_b: float | None, shape: str, margin: float = math.nan,
                alpha: float = ALPHA) -> int | None:
    """Fewest seeds per side for 80 % power on a difference delta (> 0: the claim's direction; similar claims use
    the margin), never fewer than the exact part needs; None beyond MAX_SEEDS."""
    start = exact_minimum(shape, alpha)
    if start is None or not all(math.isfinite(v) for v in (delta, sd_a)):
        return None
    for n in range(start, MAX_SEEDS + 1):
        power = (tost_power(delta, margin, sd_a, sd_b, n, alpha) if math.isfinite(margin)
                 else t_power(delta, sd_a, sd_b, n, alpha))
        if power >= POWER:
            return n
    return None


def seeds_for_proportion(true_share: float, share: float, alpha: float = ALPHA) -> int | None:
    """Fewest seeds for the exact binomial test of `share` to reject with 80 % power at a true share."""
    for n in range(2, MAX_SEEDS + 1):
        k = np.arange(n + 1)
        rejects = st.binom.sf(k - 1, n, share) <= alpha
        if st.binom.pmf(k, n, true_share)[rejects].sum() >= POWER:
            return n
    return None


def fisher_power(rate_a: float, rate_b: float, n: int, alpha: float = ALPHA) -> float:
    """Power of Fisher's one-sided exact test (a's rate above b's) with n runs per side, summed over every table."""
    k_a, k_b = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    p = st.hypergeom.sf(k_a - 1, 2 * n, k_a + k_b, n)
    weight = st.binom.pmf(k_a, n, rate_a) * st.binom.pmf(k_b, n, rate_b)
    return float(weight[p <= alpha].sum())


def seeds_for_rates(rate_a: float, rate_b: float, alpha: float = ALPHA) -> int | None:
    """Fewest runs per side from which Fisher's test keeps at least 80 % power for every larger n (its power is not
    monotone in n)."""
    powers = [fisher_power(rate_a, rate_b, n, alpha) for n in range(2, MAX_SEEDS + 1)]
    for i in range(len(powers)):
        if min(powers[i:]) >= POWER:
            return i + 2
    return None
