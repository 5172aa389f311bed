"""Seeds until decided: a group-sequential design with alpha split over the looks.

Seeds are added in rounds (3, 6, 9, ... up to --max-seeds) while a claim of the spec is undecided after the
family's adjustment and could still be decided by --max-seeds (`still_open`). At each look every claim is tested at
its share of alpha. The shares are fixed before any data: alpha / L' on each of the last L' looks, where L' is the
largest number of looks whose exact tests can all reach alpha / L' (a look whose seeds cannot reach its share would
waste it). By the union bound the chance of a false verdict at any of the looks is at most alpha, whatever made the
run go on or stop (other claims included), so a claim may take its strongest look: its sequential p is the smallest
p over the looks run so far times L', capped at 1, and the family's adjustment takes it like any other p. (Taking
the first look that decides the claim on its own would freeze a p that the family's adjustment leaves inconclusive,
however many seeds follow.) Stopping for futility, when no undecided claim needs at most --max-seeds at its effect,
only removes looks, so it keeps alpha too.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ignbench.verdict.claim import Claim
from ignbench.verdict.decide import (
    CONTRADICTED,
    FINISHED,
    INCONCLUSIVE,
    REPRODUCED,
    Decision,
    Outcome,
    decide,
    verdict_of,
)
from ignbench.verdict.prospects import design_min_p
from ignbench.verdict.stats import ALPHA

ROUND = 3  # seeds added per look (the first look has this many)


def looks(max_seeds: int, step: int = ROUND) -> list[int]:
    """Seeds per side at each look: 3, 6, ... and max_seeds last."""
    out = list(range(step, max_seeds, step))
    return out + [max_seeds]


def alpha_shares(min_ps: list[float], alpha: float = ALPHA) -> list[float]:
    """alpha / L' on each of the last L' looks (the most seeds), 0 before: the largest L' whose looks can all reach
    their share (min p decreases with the seeds, so those looks are the last ones)."""
    total = len(min_ps)
    for spent in range(total, 0, -1):
        if min_ps[total - spent] <= alpha / spent:
            return [0.0] * (total - spent) + [alpha / spent] * spent
    return [0.0] * (total - 1) + [alpha]


def decide_sequential(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str,
                      max_seeds: int, alpha: float = ALPHA) -> Decision:
    """Replay the looks on the stored runs (a look is available when every run it plans has finished): the look
    with the smallest scaled p in either direction if that decides the claim, else the last look available."""
    runs = results.drop_duplicates("run_id")
    schedule = looks(max_seeds)
    shares = alpha_shares([design_min_p(claim, runs[runs["seed"] < s]) for s in schedule], alpha)
    spent = len([a for a in shares if a > 0])
    looked: list[tuple[float, Decision]] = []
    for seeds, share in zip(schedule, shares, strict=True):
        at_look = results[results["seed"] < seeds]
        if looked and not at_look.drop_duplicates("run_id")["state"].isin(FINISHED).all():
            break  # this look's seeds have not been run (yet)
        decision = decide(claim, at_look, curves[curves["seed"] < seeds], bn_mode, alpha=share or alpha)
        looked.append((share, _sequential(decision, share, spent, seeds, alpha)))
    return _strongest(looked)


def _strongest(looked: list[tuple[float, Decision]]) -> Decision:
    """Among the looks with a share of alpha, the one whose scaled p (either direction) is smallest, if it decides."""
    tested = [d for share, d in looked if share and d.outcome.tested]
    if tested:
        best = min(tested, key=lambda d: min(d.outcome.p, d.outcome.p_against))
        if best.outcome.verdict in (REPRODUCED, CONTRADICTED):
            return best
    return looked[-1][1]


def _sequential(decision: Decision, share: float, spent: int, seeds: int, alpha: float) -> Decision:
    """The look's outcome with its p-values scaled to the whole design (p x L'), decided at alpha."""
    def scaled(outcome: Outcome) -> Outcome:
        if not outcome.tested or not share:  # no alpha at this look: it can only say "not yet"
            return replace(outcome, verdict=outcome.verdict if not outcome.tested else INCONCLUSIVE)
        p, p_against = min(1.0, outcome.p * spent), min(1.0, outcome.p_against * spent)
        return replace(outcome, p=p, p_against=p_against, verdict=verdict_of(p, p_against, alpha),
                       notes=[*outcome.notes, f"sequential: look at {seeds} seeds, alpha split over {spent} looks"])

    return replace(decision, outcome=scaled(decision.outcome), healthy=scaled(decision.healthy), seeds_spent=seeds)


def still_open(decision: Decision, max_seeds: int) -> bool:
    """Does this claim hold the next round open? Undecided after the family's adjustment, and either untested (more
    seeds may bring testable runs) or decidable with 80 % power by max_seeds at its effect ("needs k", k <= max)."""
    if decision.verdict in (REPRODUCED, CONTRADICTED):
        return False
    if not decision.outcome.tested:
        return True
    return decision.seeds_needed is not None and decision.seeds_needed <= max_seeds
