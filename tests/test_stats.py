"""The verdict statistics against independent references: scipy's t-tests, an exact permutation test, the
noncentral t distribution for power."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as st

from ignbench import stats

RNG = np.random.default_rng(0)
CASES = [(RNG.normal(1.0, 0.5, na), RNG.normal(0.0, 1.5, nb)) for na, nb in ((2, 2), (3, 3), (3, 6), (6, 6))]


@pytest.mark.parametrize("a,b", CASES)
def test_welch_matches_scipy_one_sided_and_its_interval(a, b):
    ours = stats.welch(a, b).outcome()
    ref = st.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.p_against == pytest.approx(st.ttest_ind(a, b, equal_var=False, alternative="less").pvalue, rel=1e-10)
    low, high = ref.confidence_interval(0.95)  # one-sided 95 % lower bound = lower end of the two-sided 90 %
    assert ours.ci[0] == pytest.approx(low, rel=1e-8)
    two_sided = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    assert ours.ci == pytest.approx(tuple(two_sided), rel=1e-8)
    assert ours.estimate == pytest.approx(a.mean() - b.mean())


@pytest.mark.parametrize("a,b", [(c[0][:2], c[1][:2]) for c in CASES] + [(CASES[3][0], CASES[3][1])])
def test_paired_and_one_sample_match_scipy(a, b):
    assert stats.paired(a, b).outcome().p == pytest.approx(st.ttest_rel(a, b, alternative="greater").pvalue)
    assert stats.one_sample(a, 0.7).outcome().p == pytest.approx(
        st.ttest_1samp(a, 0.7, alternative="greater").pvalue)


def test_verdicts_from_the_two_one_sided_tests():
    big = stats.welch(np.array([10.0, 11.0, 10.5]), np.array([1.0, 1.5, 0.5])).outcome()
    assert big.verdict == "reproduced" and big.p < 0.05
    reverse = stats.welch(np.array([1.0, 1.5, 0.5]), np.array([10.0, 11.0, 10.5])).outcome()
    assert reverse.verdict == "contradicted" and reverse.p_against < 0.05
    noise = stats.welch(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 2.0])).outcome()
    assert noise.verdict == "inconclusive"


def test_no_spread_is_decided_by_the_sign():
    all_modes = stats.welch(np.array([25.0, 25.0, 25.0]), np.array([3.0, 3.0, 3.0])).outcome()
    assert all_modes.verdict == "reproduced" and all_modes.p == 0 and all_modes.notes
    tie = stats.welch(np.array([5.0, 5.0]), np.array([5.0, 5.0])).outcome()
    assert tie.verdict == "inconclusive"


def test_detectable_effect_has_the_stated_power():
    """With the observed spread, a true difference equal to the detectable effect is found with ~80 % power."""
    a, b = CASES[2]
    diff = stats.welch(a, b)
    crit = st.t.ppf(0.95, diff.df)
    power = st.nct.sf(crit, diff.df, diff.outcome().mde / diff.se)
    assert 0.75 < power < 0.85


def test_tost_agrees_with_two_shifted_welch_tests():
    a = np.array([0.60, 0.62, 0.61, 0.59])
    b = np.array([0.58, 0.61, 0.60, 0.62])
    margin = 0.05
    ours = stats.equivalent(stats.welch(a, b), margin)
    lower = st.ttest_ind(a + margin, b, equal_var=False, alternative="greater").pvalue
    upper = st.ttest_ind(a - margin, b, equal_var=False, alternative="less").pvalue
    assert ours.p == pytest.approx(max(lower, upper))
    assert ours.verdict == "reproduced"
    far = stats.equivalent(stats.welch(a + 0.3, b), margin)
    assert far.verdict == "contradicted"


def test_spearman_exact_p_matches_a_permutation_test():
    x = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 0.5, 1.0])
    y = np.array([3.0, 2.5, 2.6, 1.0, 0.8, 2.9, 2.0])
    ours = stats.trend(x, y)
    observed = st.spearmanr(x, y).statistic
    null = np.array([st.spearmanr(x, np.array(perm)).statistic for perm in itertools.permutations(y)])
    assert ours.estimate == pytest.approx(observed)
    assert ours.p_against == pytest.approx(float((null <= observed + 1e-12).mean()), abs=1e-12)
    assert ours.verdict == "contradicted"  # y falls as x grows, and the claim's direction is "grows"
    perfect = stats.trend(np.arange(5.0), np.arange(5.0))
    assert perfect.p == pytest.approx(1 / 120) and perfect.verdict == "reproduced"


def test_spearman_t_approximation_above_eight_points():
    x = np.repeat(np.arange(5.0), 2)
    y = x + RNG.normal(0, 0.5, len(x))
    ours = stats.trend(x, y)
    ref = st.spearmanr(x, y, alternative="greater")
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-6) and "t approx" in ours.test
