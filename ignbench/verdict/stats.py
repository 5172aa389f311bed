"""The tests behind every verdict, vectorised over repetitions: values come as (R, n) arrays, one row per
repetition (R = 1 for a claim, thousands for the Monte Carlo calibration, which runs this same code).

Each test is the intersection of a parametric test and an exact one: its p is the larger of the two, so it rejects
only when both do, and it keeps its level wherever either of them does.

- two samples: Welch's statistic with Hsu's conservative df = min(n_a, n_b) - 1 (keeps its level for every
  ratio of variances under normal noise, where Welch-Satterthwaite's df does not at 2 against 6 seeds), and an
  exact permutation test of the mean difference (exact whenever the two sides are exchangeable: ties, discrete
  values, no spread, stalled seeds in both groups);
- paired values: the paired t-test and the exact sign-flip test of the mean difference;
- one side against a threshold: the one-sample t-test and the exact sign test (the typical seed);
- proportions: the exact binomial test (one side) and Fisher's exact test (two sides);
- a trend over a sweep: Spearman's rho with its exact permutation distribution.

No rule turns zero spread into p = 0: with no spread the t part says nothing more, and the exact part decides, down
to its smallest p (1/C(n_a + n_b, n_a), 2^-n, ...). Permutations are enumerated up to EXACT_LIMIT, beyond that drawn
(MC_DRAWS, a fixed seed, p = (1 + count) / (1 + draws), still a valid p-value). A p-value at most alpha rejects.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

ALPHA = 0.05
POWER = 0.80
EXACT_LIMIT = 20000
MC_DRAWS = 9999
SEED = 20261207
CHUNK = 4_000_000  # entries of one (repetitions x permutations) block


@dataclass
class Result:
    """One-sided p-values of a test, per repetition, oriented so that `p` is the claim's direction."""

    p: np.ndarray
    p_against: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: float
    scale: np.ndarray  # standardising spread (pooled sd), for the effect size
    min_p: float  # the smallest p (in the claim's direction) the exact part can reach with these seeds
    test: str

    def flipped(self) -> Result:
        return Result(self.p_against, self.p, -self.estimate, self.se, self.df, self.scale, self.min_p, self.test)


def _rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[None, :] if values.ndim == 1 else values


def _t_tails(estimate: np.ndarray, se: np.ndarray, df: float) -> tuple[np.ndarray, np.ndarray]:
    """P(T >= t) and P(T <= t) for t = estimate / se; with se = 0 the t part is not evidence against either side of
    a zero estimate (p = 1 both ways), and rejects for a non-zero one (the exact part then decides)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, estimate / np.where(se > 0, se, 1.0), np.sign(estimate) * np.inf)
    upper = np.where(np.isnan(t) | ((se == 0) & (estimate == 0)), 1.0, st.t.sf(np.nan_to_num(t, nan=0.0), df))
    lower = np.where(np.isnan(t) | ((se == 0) & (estimate == 0)), 1.0, st.t.cdf(np.nan_to_num(t, nan=0.0), df))
    return upper, lower


@functools.lru_cache(maxsize=64)
def _split_masks(n_a: int, n_b: int) -> tuple[np.ndarray, bool]:
    """(K, n_a + n_b) 0/1 masks of the positions that go to side a: every split, or MC_DRAWS random ones."""
    n = n_a + n_b
    if math.comb(n, n_a) <= EXACT_LIMIT:
        masks = np.zeros((math.comb(n, n_a), n))
        for k, chosen in enumerate(itertools.combinations(range(n), n_a)):
            masks[k, list(chosen)] = 1.0
        return masks, True
    order = np.random.default_rng(SEED).random((MC_DRAWS, n)).argsort(axis=1)[:, :n_a]
    masks = np.zeros((MC_DRAWS, n))
    np.put_along_axis(masks, order, 1.0, axis=1)
    return masks, False


@functools.lru_cache(maxsize=64)
def _sign_flips(n: int) -> tuple[np.ndarray, bool]:
    if 2**n <= EXACT_LIMIT:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n))), True
    return np.random.default_rng(SEED).choice((1.0, -1.0), size=(MC_DRAWS, n)), False


def _permutation_tails(values: np.ndarray, table: np.ndarray, observed: np.ndarray,
                       exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """One-sided permutation p-values of the linear statistic `values @ w`: its observed weights against every
    row of `table` (all rearrangements when exact, else random ones), in blocks of repetitions. Statistics equal
    up to float rounding count as equal."""
    rows = max(1, CHUNK // len(table))
    upper, lower = np.empty(len(values)), np.empty(len(values))
    for start in range(0, len(values), rows):
        block = values[start : start + rows]
        null, seen = block @ table.T, block @ observed
        tol = 1e-9 * (np.abs(block).sum(axis=1) * np.abs(observed).max() + 1.0)
        up = (null >= (seen - tol)[:, None]).sum(axis=1)
        low = (null <= (seen + tol)[:, None]).sum(axis=1)
        if exact:
            upper[start : start + rows], lower[start : start + rows] = up / len(table), low / len(table)
        else:
            upper[start : start + rows] = (up + 1) / (len(table) + 1)
            lower[start : start + rows] = (low + 1) / (len(table) + 1)
    return upper, lower


def two_sample(a: np.ndarray, b: np.ndarray, shift: float = 0.0) -> Result:
    """Is mean(a) + shift above mean(b)? Hsu's t and the exact permutation test, each side oriented."""
    a, b = _rows(a) + shift, _rows(b)
    n_a, n_b = a.shape[1], b.shape[1]
    va, vb = a.var(axis=1, ddof=1), b.var(axis=1, ddof=1)
    estimate = a.mean(axis=1) - b.mean(axis=1)
    se = np.sqrt(va / n_a + vb / n_b)
    df = min(n_a, n_b) - 1
    t_up, t_low = _t_tails(estimate, se, df)
    masks, exact = _split_masks(n_a, n_b)
    # given the pooled total, the mean difference grows with the sum of the values put on side a
    observed = np.concatenate([np.ones(n_a), np.zeros(n_b)])
    perm_up, perm_low = _permutation_tails(np.concatenate([a, b], axis=1), masks, observed, exact)
    pooled_sd = np.sqrt(((n_a - 1) * va + (n_b - 1) * vb) / (n_a + n_b - 2))
    hedges = 1 - 3 / (4 * (n_a + n_b) - 9)
    return Result(np.maximum(t_up, perm_up), np.maximum(t_low, perm_low), estimate, se, df, pooled_sd / hedges,
                  1 / math.comb(n_a + n_b, n_a), "Hsu t + permutation")


def paired(d: np.ndarray, shift: float = 0.0) -> Result:
    """Is the mean of the paired differences d (a - b, per run) + shift above 0? Paired t and the sign-flip test."""
    d = _rows(d) + shift
    n = d.shape[1]
    sd = d.std(axis=1, ddof=1)
    estimate, se = d.mean(axis=1), sd / math.sqrt(n)
    t_up, t_low = _t_tails(estimate, se, n - 1)
    signs, exact = _sign_flips(n)
    perm_up, perm_low = _permutation_tails(d, signs, np.ones(n), exact)
    return Result(np.maximum(t_up, perm_up), np.maximum(t_low, perm_low), estimate, se, n - 1, sd, 0.5**n,
                  "paired t + sign-flip")


def one_sample(x: np.ndarray, threshold: float) -> Result:
    """Is x above the threshold, on average (one-sample t) and for the typical seed (exact sign test)?"""
    x = _rows(x)
    n = x.shape[1]
    sd = x.std(axis=1, ddof=1)
    estimate, se = x.mean(axis=1) - threshold, sd / math.sqrt(n)
    t_up, t_low = _t_tails(estimate, se, n - 1)
    above, below = (x > threshold).sum(axis=1), (x < threshold).sum(axis=1)
    untied = above + below
    sign_up = np.where(untied > 0, st.binom.sf(above - 1, untied, 0.5), 1.0)
    sign_low = np.where(untied > 0, st.binom.cdf(above, untied, 0.5), 1.0)
    return Result(np.maximum(t_up, sign_up), np.maximum(t_low, sign_low), estimate, se, n - 1, sd, 0.5**n,
                  "one-sample t + sign test")


def binomial(successes: np.ndarray, n: int, share: float) -> Result:
    """Is the share of seeds with the property above `share`? Exact binomial test; estimate: observed share."""
    k = np.asarray(successes, dtype=float).reshape(-1)
    share_hat = k / n
    se = np.sqrt(share_hat * (1 - share_hat) / n)
    return Result(st.binom.sf(k - 1, n, share), st.binom.cdf(k, n, share), share_hat - share, se, n - 1,
                  np.full_like(k, math.nan), share**n, "exact binomial")


def clopper_pearson(k: int, n: int, level: float = 1 - 2 * ALPHA) -> tuple[float, float]:
    """Two-sided exact interval of a proportion (90 % by default: its ends are the one-sided 5 % bounds)."""
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(st.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(st.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def fisher(k_a: np.ndarray, n_a: int, k_b: np.ndarray, n_b: int) -> Result:
    """Is side a's rate (k_a of n_a) above side b's? Fisher's exact test (one-sided, hypergeometric tails)."""
    k_a, k_b = np.asarray(k_a, dtype=float).reshape(-1), np.asarray(k_b, dtype=float).reshape(-1)
    total = k_a + k_b
    upper = st.hypergeom.sf(k_a - 1, n_a + n_b, total, n_a)
    lower = st.hypergeom.cdf(k_a, n_a + n_b, total, n_a)
    rate_a, rate_b = k_a / n_a, k_b / n_b
    se = np.sqrt(rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b)
    return Result(upper, lower, rate_a - rate_b, se, math.inf, np.full_like(k_a, math.nan),
                  1 / math.comb(n_a + n_b, n_a), "Fisher exact")


def _distinct_count(values: tuple[float, ...]) -> int:
    counts = np.unique(values, return_counts=True)[1]
    return math.factorial(len(values)) // math.prod(math.factorial(int(c)) for c in counts)


def _arrangements(values: tuple[float, ...]) -> list[tuple[float, ...]]:
    """Every distinct ordering of a multiset (ties make many of the n! permutations equal)."""
    if len(values) <= 1:
        return [values]
    out = []
    for first in sorted(set(values)):
        rest = list(values)
        rest.remove(first)
        out += [(first, *tail) for tail in _arrangements(tuple(rest))]
    return out


@functools.lru_cache(maxsize=32)
def _rank_arrangements(ranks: tuple[float, ...]) -> tuple[np.ndarray, bool]:
    """The swept values' ranks in every distinct order (all equally likely under no trend), or random orders."""
    if _distinct_count(ranks) <= EXACT_LIMIT:
        return np.array(_arrangements(ranks)), True
    order = np.random.default_rng(SEED).random((MC_DRAWS, len(ranks))).argsort(axis=1)
    return np.asarray(ranks)[order], False


def spearman(x: np.ndarray, y: np.ndarray) -> Result:
    """Does y grow with the swept value x? Spearman's rho (midranks), exact permutation p-values."""
    y = _rows(y)
    n = y.shape[1]
    rx = st.rankdata(np.asarray(x, dtype=float))
    rx = rx - rx.mean()
    ry = st.rankdata(y, axis=1)
    ry = ry - ry.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(ry, axis=1) * np.linalg.norm(rx)
    flat = norm == 0
    ry = ry / np.where(flat, 1.0, norm)[:, None]
    table, exact = _rank_arrangements(tuple(rx))
    up, low = _permutation_tails(ry, table, rx, exact)
    rho = ry @ rx
    up, low = np.where(flat, 1.0, up), np.where(flat, 1.0, low)
    return Result(up, low, np.where(flat, 0.0, rho), np.full(len(y), math.nan), n - 2, np.ones(len(y)),
                  1 / _distinct_count(tuple(rx)), "Spearman permutation")
