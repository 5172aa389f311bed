"""Calibration is a test: under each claim kind's null, with seed values like ours, the false "reproduced" and the
false "contradicted" rates stay at most alpha + 3 Monte Carlo standard errors, through the decision path the
report uses; planted effects are found. `python benchmarks/perf/calibration_table.py` prints the full table at more
repetitions and n = 2 ... 12 (REPRODUCE.md carries it)."""

from __future__ import annotations

import pytest

from ignbench.verdict import calibration
from ignbench.verdict.kinds import KINDS

REPS = 2000
BOUND = calibration.bound(REPS)


@pytest.fixture(scope="module")
def cells():
    return calibration.calibrate(ns=(2, 3, 6), reps=REPS)


def test_every_kind_and_null_family_keeps_its_level(cells):
    over = [c for c in cells if c.worst > BOUND]
    assert not over, f"false-verdict rates above {BOUND:.4f}: {over}"
    covered = {c.kind.split(" (")[0] for c in cells}
    assert set(KINDS) | {"mode interaction"} <= covered
    families = {c.family for c in cells if c.kind == "greater"}
    assert families == set(calibration.FAMILIES)
    assert {c.n for c in cells} == {2, 3, 6}


def test_the_sequential_design_keeps_its_level():
    over = [c for c in calibration.sequential_cells(max_seeds=12, reps=REPS) if c.worst > BOUND]
    assert not over


def test_the_family_adjustment_controls_the_family_and_raw_tests_do_not():
    rates = calibration.family_rates(claims=12, n=6, reps=REPS)
    assert rates["holm"] <= BOUND and rates["bh"] <= BOUND
    assert rates["none"] > 0.2  # 12 raw tests at 5 % each: the reason for the adjustment


def test_a_planted_three_sd_effect_at_six_seeds_is_found_both_ways():
    found = calibration.power_cells(n=6, effect=3.0, reps=REPS)
    assert found["reproduced"] >= 0.8 and found["contradicted"] >= 0.8
