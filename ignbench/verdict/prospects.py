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
    alpha: float = ALPHA
    level: float = ALPHA  # the raw p that is decided whatever the family shows: alpha / (claims in the family)

    @property
    def decidable(self) -> bool:
        """Can its exact test reach alpha at all (no adjustment lets a p above alpha decide)?"""
        return self.min_p <= self.alpha

    @property
    def decidable_alone(self) -> bool:
        """Can it be decided whatever the other claims of its family show?"""
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


def prospect(claim: Claim, runs: pd.DataFrame, paper: pd.DataFrame | None, alpha: float = ALPHA,
             level: float | None = None) -> Prospect:
    """The claim's prospect on the planned runs; the seeds it needs and the difference it detects are at `level`
    (default alpha; `family.level_alone` counts the family)."""
    level = alpha if level is None else level
    sizes = tuple(len(planned_runs(runs, claim, side)) for side in claim.sides)
    min_p = design_min_p(claim, runs)
    shape = claim.spec_kind.shape
    numbers = paper_numbers(claim, paper) if shape in ("two_sample", "one_sample") else None
    if numbers is None:
        return Prospect(claim, sizes, min_p, math.nan, power.exact_minimum(shape, level, claim.share), "exact",
                        alpha, level)
    delta, sd_a, sd_b = numbers
    n = min(sizes)
    df = max(1, n - 1)
    se = math.sqrt(sd_a**2 / n + (sd_b**2 / n if sd_b is not None else 0.0))
    detectable = (float(st.t.ppf(1 - level, df)) + float(st.t.ppf(POWER, df))) * se
    needed, basis = seeds_for_difference(claim, delta, sd_a, sd_b, shape, "paper", level)
    return Prospect(claim, sizes, min_p, detectable, needed, basis, alpha, level)
