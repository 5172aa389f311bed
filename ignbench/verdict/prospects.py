"""What a plan's seeds can decide, before (or without) any result: per claim, the smallest p its exact test can
reach on the planned runs, the smallest difference the seeds would detect with 80 % power at the paper's spread,
and the seeds needed for the paper's difference."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as st

from ignbench.verdict import power
from ignbench.verdict.claim import Claim
from ignbench.verdict.decide import paper_numbers, planned_runs, seeds_for_difference
from ignbench.verdict.kinds import KINDS, Sample
from ignbench.verdict.stats import ALPHA, POWER


@dataclass
class Prospect:
    claim: Claim
    n: tuple[int, ...]  # planned runs per side
    min_p: float
    detectable: float  # at the paper's spread, in metric units (NaN without the paper's numbers)
    seeds_needed: int | None  # per side, at the paper's difference and spread; None: none up to MAX_SEEDS
    basis: str  # "paper", or "exact" (only the exact test's minimum is known)
    level: float = ALPHA  # the raw p the claim must reach: alpha / (claims in its family) under an adjustment

    @property
    def decidable(self) -> bool:
        return self.min_p <= self.level


def design_min_p(claim: Claim, runs: pd.DataFrame) -> float:
    """The smallest p the claim's exact test can reach on these planned runs (it does not depend on values)."""
    ids = [sorted(planned_runs(runs, claim, side)["run_id"]) for side in claim.sides]
    if min(len(i) for i in ids) < 2:
        return 1.0
    sample = Sample(a=pd.Series(0.0, index=ids[0]).to_numpy()[None, :], share=claim.share, margin=claim.margin)
    if claim.b is not None:
        sample.b, sample.paired = pd.Series(0.0, index=ids[1]).to_numpy()[None, :], ids[0] == ids[1]
    if claim.kind == "trend":
        sample.x = runs.set_index("run_id").loc[ids[0], claim.sweep].to_numpy(dtype=float)
    return KINDS[claim.kind].test(sample).min_p


def prospect(claim: Claim, runs: pd.DataFrame, paper: pd.DataFrame | None, alpha: float = ALPHA) -> Prospect:
    """The claim's prospect on the planned runs at level alpha (pass `family.level_alone` to count the family)."""
    sizes = tuple(len(planned_runs(runs, claim, side)) for side in claim.sides)
    min_p = design_min_p(claim, runs)
    shape = claim.spec_kind.shape
    numbers = paper_numbers(claim, paper) if shape in ("two_sample", "one_sample") else None
    if numbers is None:
        return Prospect(claim, sizes, min_p, math.nan, power.exact_minimum(shape, alpha, claim.share), "exact", alpha)
    delta, sd_a, sd_b = numbers
    n = min(sizes)
    df = max(1, n - 1)
    se = math.sqrt(sd_a**2 / n + (sd_b**2 / n if sd_b is not None else 0.0))
    detectable = (float(st.t.ppf(1 - alpha, df)) + float(st.t.ppf(POWER, df))) * se
    needed, basis = seeds_for_difference(claim, delta, sd_a, sd_b, shape, "paper", alpha)
    return Prospect(claim, sizes, min_p, detectable, needed, basis, alpha)
