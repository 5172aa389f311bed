"""Every claim of a report decided under every BatchNorm mode, as one family: the adjusted verdicts, the interaction
with the BatchNorm mode, and (sequentially) the seeds each claim spent."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ignbench.core.errors import UserError
from ignbench.verdict.claim import Claim
from ignbench.verdict.decide import INSUFFICIENT, Decision, decide, interaction_p, seeds_needed, verdict_of
from ignbench.verdict.family import ADJUSTMENTS, adjust, level_alone
from ignbench.verdict.sequential import decide_sequential
from ignbench.verdict.stats import ALPHA

BN_MODES = ("eval", "train", "none")  # BatchNorm running statistics, batch statistics, no BatchNorm (MLPs)


@dataclass(frozen=True)
class Policy:
    """How a scorecard decides: the level, the family's adjustment, and the sequential design (max seeds) if any."""

    alpha: float = ALPHA
    adjust: str = "holm"
    max_seeds: int | None = None

    def __post_init__(self) -> None:
        if self.adjust not in ADJUSTMENTS:
            raise UserError(f"--adjust must be one of {', '.join(ADJUSTMENTS)}, got {self.adjust!r}")


def modes_of(results: pd.DataFrame) -> list[str]:
    present = set(results["bn_mode"].dropna()) if "bn_mode" in results else set()
    return [m for m in BN_MODES if m in present] or ["none"]


DEFAULT_POLICY = Policy()


def decide_claims(claims: list[Claim], results: pd.DataFrame, curves: pd.DataFrame,
                  policy: Policy = DEFAULT_POLICY, paper: pd.DataFrame | None = None) -> list[Decision]:
    """Each claim under each BatchNorm mode, then the family's adjustment per mode. The seeds a claim needs are those
    at which it is decided whatever the other claims of its family show (`level_alone`)."""
    decisions = []
    needs_level = level_alone(policy.alpha, len(claims), policy.adjust)
    for claim in claims:
        interaction = interaction_p(claim, results, curves)
        for mode in modes_of(results):
            if policy.max_seeds:
                decision = decide_sequential(claim, results, curves, mode, policy.max_seeds, policy.alpha)
            else:
                decision = decide(claim, results, curves, mode, policy.alpha)
            decision.interaction_p = interaction
            decision.seeds_needed, decision.needs_basis = seeds_needed(claim, decision.outcome, needs_level, paper)
            decisions.append(decision)
    for mode in {d.bn_mode for d in decisions}:
        adjust_family([d for d in decisions if d.bn_mode == mode], policy)
    return decisions


def adjust_family(family: list[Decision], policy: Policy) -> None:
    """The adjusted p-values of one family (each direction on its own) and the verdicts they give."""
    p = np.array([d.outcome.p if d.outcome.tested else math.nan for d in family])
    p_against = np.array([d.outcome.p_against if d.outcome.tested else math.nan for d in family])
    p_adj, p_against_adj = adjust(p, policy.adjust), adjust(p_against, policy.adjust)
    for d, up, down in zip(family, p_adj, p_against_adj, strict=True):
        d.p_adjusted, d.p_against_adjusted = float(up), float(down)
        d.adjusted = INSUFFICIENT if not d.outcome.tested else verdict_of(float(up), float(down), policy.alpha)


def counts(decisions: list[Decision], adjusted: bool = True) -> dict[str, int]:
    """How many decisions end in each verdict (adjusted, or raw)."""
    out = {v: 0 for v in ("reproduced", "contradicted", "inconclusive", "insufficient")}
    for d in decisions:
        out[d.verdict if adjusted else d.outcome.verdict] += 1
    return out
