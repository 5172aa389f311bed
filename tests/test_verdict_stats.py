"""The verdict's tests against independent references: scipy's t-tests, its exact permutation, binomial, Fisher
and Spearman tests, statsmodels' multiple-testing adjustments and proportion intervals, and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from ignbench.verdict import power, stats
from ignbench.verdict.decide import newcombe, verdict_of
from ignbench.verdict.family import adjust
from ignbench.verdict.sequential import alpha_shares, looks

RNG = np.random.default_rng(0)
PAIRS = [(RNG.normal(1.0, 0.5, na), RNG.normal(0.0, 1.5, nb)) for na, nb in ((2, 2), (3, 3), (3, 6), (5, 4))]


def _hsu_t(a, b):
    t = st.ttest_ind(a, b, equal_var=False).statistic
    df = min(len(a), len(b)) - 1
    return st.t.sf(t, df), st.t.cdf(t, df)


def _exact_permutation(a, b, alternative):
    return st.permutation_test((a, b), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
                               permutation_type="independent", alternative=alternative, n_resamples=np.inf,
                               vectorized=True).pvalue


@pytest.mark.parametrize("a,b", PAIRS)
def test_two_sample_is_the_larger_of_hsu_t_and_the_exact_permutation_test(a, b):
    ours = stats.two_sample(a, b)
    t_up, t_low = _hsu_t(a, b)
    assert ours.p[0] == pytest.approx(max(t_up, _exact_permutation(a, b, "greater")), rel=1e-9)
    assert ours.p_against[0] == pytest.approx(max(t_low, _exact_permutation(a, b, "less")), rel=1e-9)
    assert ours.min_p == pytest.approx(1 / math.comb(len(a) + len(b), len(a)))
    assert ours.estimate[0] == pytest.approx(a.mean() - b.mean())


def test_shift_tests_the_difference_against_a_margin():
    a, b = PAIRS[3]
    assert stats.two_sample(a, b, 0.4).p[0] == pytest.approx(stats.two_sample(a + 0.4, b).p[0])


@pytest.mark.parametrize("n", [3, 5, 7])
def test_paired_is_the_larger_of_the_paired_t_and_the_sign_flip_test(n):
    a, b = RNG.normal(0.5, 1, n), RNG.normal(0, 1, n)
    ours = stats.paired(a - b)
    flip = st.permutation_test((a, b), lambda x, y, axis: (x - y).mean(axis=axis), permutation_type="samples",
                               alternative="greater", n_resamples=np.inf, vectorized=True).pvalue
    assert ours.p[0] == pytest.approx(max(st.ttest_rel(a, b, alternative="greater").pvalue, flip), rel=1e-9)
    assert ours.min_p == 0.5**n


def test_one_sample_is_the_larger_of_the_t_test_and_the_exact_sign_test():
    x = np.array([0.8, 1.3, 0.2, 0.9, 1.1, 0.7, 0.0])
    ours = stats.one_sample(x, 0.0)
    sign = st.binomtest(6, 6, 0.5, alternative="greater").pvalue  # the seed at the threshold is a tie: left out
    assert ours.p[0] == pytest.approx(max(st.ttest_1samp(x, 0.0, alternative="greater").pvalue, sign))


def test_binomial_fisher_and_spearman_match_scipy():
    assert stats.binomial(np.array([5]), 6, 0.5).p[0] == pytest.approx(st.binomtest(5, 6, 0.5, "greater").pvalue)
    assert stats.binomial(np.array([1]), 6, 0.9).p_against[0] == pytest.approx(
        st.binomtest(1, 6, 0.9, "less").pvalue)
    fisher = stats.fisher(np.array([7]), 12, np.array([2]), 12)
    assert fisher.p[0] == pytest.approx(st.fisher_exact([[7, 5], [2, 10]], "greater").pvalue)
    assert fisher.p_against[0] == pytest.approx(st.fisher_exact([[7, 5], [2, 10]], "less").pvalue)
    x, y = np.repeat([1.0, 2.0, 3.0], 2), np.array([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])
    observed = st.spearmanr(x, y).statistic
    null = [st.spearmanr(x, np.array(perm)).statistic for perm in itertools.permutations(y)]
    assert stats.spearman(x, y).p[0] == pytest.approx(np.mean(np.array(null) >= observed - 1e-12))
    assert stats.spearman(x, y).min_p == pytest.approx(1 / (math.factorial(6) / 2**3))


def test_zero_spread_is_never_p_zero():
    """8,8,8 against 7,7,7: the exact permutation p is 1/20, not 0; three seeds that all cover every mode give
    1/8, which cannot reach 0.05."""
    ours = stats.two_sample(np.full(3, 8.0), np.full(3, 7.0))
    assert ours.p[0] == pytest.approx(0.05) and verdict_of(ours.p[0], ours.p_against[0]) == "reproduced"
    assert stats.two_sample(np.full(2, 8.0), np.full(2, 7.0)).p[0] == pytest.approx(1 / 6)
    assert stats.binomial(np.array([3]), 3, 0.5).p[0] == pytest.approx(1 / 8)
    assert stats.one_sample(np.full(3, 8.0), 7.0).p[0] == pytest.approx(1 / 8)
    tie = stats.two_sample(np.full(3, 5.0), np.full(3, 5.0))
    assert tie.p[0] == 1.0 and tie.p_against[0] == 1.0


def test_beyond_exact_enumeration_the_draws_give_a_valid_reproducible_p():
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 1, 12), rng.normal(0, 1, 12)  # C(24, 12) = 2.7 million splits: drawn
    first, second = stats.two_sample(a, b), stats.two_sample(a, b)
    assert first.p[0] == second.p[0] and first.p[0] >= 1 / (stats.MC_DRAWS + 1)
    assert first.p[0] == pytest.approx(max(_hsu_t(a, b)[0], 1 / (stats.MC_DRAWS + 1)))


@pytest.mark.parametrize("method,reference", [("holm", "holm"), ("bh", "fdr_bh")])
def test_family_adjustments_match_statsmodels_and_leave_untested_claims_out(method, reference):
    p = RNG.uniform(0, 0.2, 9)
    assert adjust(p, method) == pytest.approx(multipletests(p, method=reference)[1])
    with_gaps = np.insert(p, [2, 5], np.nan)
    adjusted = adjust(with_gaps, method)
    assert np.isnan(adjusted[[2, 6]]).all()
    assert adjusted[~np.isnan(adjusted)] == pytest.approx(multipletests(p, method=reference)[1])
    assert adjust(np.vstack([p, p]), method)[1] == pytest.approx(multipletests(p, method=reference)[1])


def test_intervals_match_references():
    low, high = stats.clopper_pearson(4, 6, 0.90)
    ref = st.binomtest(4, 6).proportion_ci(confidence_level=0.90, method="exact")
    assert (low, high) == pytest.approx((ref.low, ref.high))
    ours = newcombe(7, 12, 2, 12, alpha=0.05)
    theirs = confint_proportions_2indep(7, 12, 2, 12, method="newcomb", compare="diff", alpha=0.10)
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_power_and_seeds_needed():
    """Fisher's power by enumeration gives the naign_stall paper preset its 19 seeds per cell; the t power is the
    noncentral t's; the exact minimum is where the smallest p first reaches alpha."""
    assert power.seeds_for_rates(0.5, 0.1) == 19
    assert power.fisher_power(0.5, 0.1, 19) == pytest.approx(0.814, abs=1e-3)
    draws = np.random.default_rng(1).normal(1.0, 1.0, (20000, 5))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(5))
    assert power.t_power(1.0, 1.0, None, 5) == pytest.approx((t > st.t.ppf(0.95, 4)).mean(), abs=0.015)
    assert power.exact_minimum("two_sample") == 3 and power.exact_minimum("paired") == 5
    assert power.exact_minimum("proportion", share=0.9) == 29
    assert power.seeds_for_t(10.0, 1.0, 1.0, "two_sample") == 3  # large effects need only the exact minimum
    assert power.seeds_for_t(0.01, 1.0, 1.0, "two_sample") is None


def test_sequential_alpha_goes_to_the_looks_that_can_use_it():
    assert looks(12) == [3, 6, 9, 12] and looks(7) == [3, 6, 7]
    min_ps = [1 / math.comb(2 * n, n) for n in (3, 6, 9, 12)]  # 0.05, 0.0011, ...
    assert alpha_shares(min_ps) == pytest.approx([0.0, 0.05 / 3, 0.05 / 3, 0.05 / 3])
    assert sum(alpha_shares([0.5, 0.2, 0.1])) == pytest.approx(0.05)  # nothing can decide: all on the last look
    assert alpha_shares([0.001, 0.001]) == pytest.approx([0.025, 0.025])
