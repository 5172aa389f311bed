"""A claim's verdict from the runs of a plan, under one BatchNorm mode.

Select each side's runs, read what the claim's kind needs (a metric, a curve's rebound, a mode count, run health),
orient it, test it (`ClaimKind.test`), and say what the seeds can and cannot decide. Every claim is decided twice:
on all finished runs, and on the healthy runs alone (`ignbench.verdict.health`); a claim whose two verdicts differ
is health-sensitive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as st

from ignbench.verdict import power
from ignbench.verdict.claim import Claim, Side
from ignbench.verdict.health import HEALTHY, STALLED, run_health
from ignbench.verdict.kinds import COVERS_ALL, DROPS_MODE, KINDS, METRIC, REBOUND, STALLS, Sample, two_sided
from ignbench.verdict.stats import ALPHA, POWER, Result, clopper_pearson, one_sample, spearman

REPRODUCED, CONTRADICTED, INCONCLUSIVE, INSUFFICIENT = "reproduced", "contradicted", "inconclusive", "insufficient"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, INSUFFICIENT)
FINISHED = ("done", "diverged")


@dataclass
class Outcome:
    """One test of a claim: its verdict at alpha and what it rests on. `estimate` and its interval are oriented
    so that > 0 is the claim's direction."""

    verdict: str
    p: float = math.nan
    p_against: float = math.nan
    estimate: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    effect: float = math.nan  # standardised (Hedges' g) for differences; rho for trends; the share or rate gap else
    effect_ci: tuple[float, float] = (math.nan, math.nan)
    mde: float = math.nan  # smallest true difference these seeds detect with 80 % power (t part), metric units
    min_p: float = math.nan  # smallest p the exact part can reach with these seeds
    test: str = ""
    n_a: int = 0
    n_b: int = 0
    mean_a: float = math.nan  # in the metric's own units and direction
    mean_b: float = math.nan
    sd_a: float = math.nan
    sd_b: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def tested(self) -> bool:
        return self.verdict != INSUFFICIENT


@dataclass
class Decision:
    """A claim under one BatchNorm mode: decided on all finished runs and on the healthy ones; the scorecard adds
    the family's adjusted verdict, the interaction with the BatchNorm mode and, sequentially, the seeds spent."""

    claim: Claim
    bn_mode: str
    outcome: Outcome
    healthy: Outcome
    planned: int
    finished: int
    n_healthy: int
    unhealthy: dict[str, int] = field(default_factory=dict)  # health state -> runs
    seeds_needed: int | None = None  # per side, for 80 % power at the paper's difference (else ours); set by
    # the scorecard (`card.decide_claims`), at the level its family needs
    needs_basis: str = ""  # "paper" or "ours"
    adjusted: str = ""  # the verdict after the family's adjustment
    p_adjusted: float = math.nan
    p_against_adjusted: float = math.nan
    interaction_p: float = math.nan
    seeds_spent: int | None = None

    @property
    def verdict(self) -> str:
        return self.adjusted or self.outcome.verdict

    @property
    def health_sensitive(self) -> bool:
        return self.outcome.tested and self.healthy.tested and self.outcome.verdict != self.healthy.verdict

    @property
    def mode_sensitive(self) -> bool:
        return self.interaction_p <= ALPHA


def verdicts(p: np.ndarray, p_against: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Reproduced when p <= alpha, contradicted when p_against <= alpha, else inconclusive (vectorised)."""
    return np.where(np.asarray(p) <= alpha, REPRODUCED,
                    np.where(np.asarray(p_against) <= alpha, CONTRADICTED, INCONCLUSIVE))


def verdict_of(p: float, p_against: float, alpha: float = ALPHA) -> str:
    return str(verdicts(p, p_against, alpha))


def planned_runs(runs: pd.DataFrame, claim: Claim, side: Side) -> pd.DataFrame:
    """The planned runs (one row each) a side refers to."""
    mask = runs["method"] == side.method
    if claim.dataset is not None:
        mask &= runs["dataset"] == claim.dataset
    for key, value in side.where:
        mask &= runs[key] == value
    return runs[mask]


def _metric_values(results: pd.DataFrame, claim: Claim, side: Side, bn_mode: str, ids: set[str]) -> pd.Series:
    rows = results[(results["bn_mode"] == bn_mode) & (results["application"] == side.application)
                   & (results["metric"] == claim.metric) & results["run_id"].isin(ids)]
    return rows.set_index("run_id")["value"].dropna()


def _rebounds(curves: pd.DataFrame, claim: Claim, bn_mode: str, ids: set[str]) -> pd.Series:
    """Per run: how far its training curve ends from its best point, in the metric's bad direction (>= 0)."""
    rows = curves[(curves["bn_mode"] == bn_mode) & (curves["metric"] == claim.metric) & curves["run_id"].isin(ids)
                  & (curves["state"] == "done")]
    out = {}
    for run_id, run in rows.groupby("run_id"):
        values = run.sort_values("step")["value"].to_numpy()
        out[run_id] = values.max() - values[-1] if claim.higher_is_better else values[-1] - values.min()
    return pd.Series(out, dtype=float)


def _mode_indicator(results: pd.DataFrame, claim: Claim, side: Side, bn_mode: str, ids: set[str],
                    covers: bool) -> pd.Series:
    covered = _metric_values(results, claim, side, bn_mode, ids)
    modes = _metric_values(results, replace(claim, metric="n_modes"), side, bn_mode, ids)
    covered = covered[covered.index.isin(modes.index)]
    every = covered >= modes.loc[covered.index]
    return (every if covers else ~every).astype(float)


def side_values(claim: Claim, side: Side, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str,
                ids: set[str], health: dict[str, str]) -> pd.Series:
    """Per-run values a side contributes, oriented so that larger is the claim's direction."""
    reads = claim.spec_kind.reads
    if reads == METRIC:
        return _metric_values(results, claim, side, bn_mode, ids) * (1.0 if claim.higher_is_better else -1.0)
    if reads == REBOUND:
        return _rebounds(curves, claim, bn_mode, ids)
    if reads in (COVERS_ALL, DROPS_MODE):
        return _mode_indicator(results, claim, side, bn_mode, ids, reads == COVERS_ALL)
    return pd.Series({run: float(health[run] == STALLED) for run in sorted(ids) if run in health}, dtype=float)


def decide(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str,
           alpha: float = ALPHA) -> Decision:
    """The claim's verdict from the planned runs' results (`results_frame`) under one BatchNorm mode."""
    runs = results.drop_duplicates("run_id")
    planned = [planned_runs(runs, claim, side) for side in claim.sides]
    all_ids = set().union(*(set(p["run_id"]) for p in planned))
    health = claim_health(claim, results, curves, bn_mode)
    values = [side_values(claim, side, results, curves, bn_mode, set(p["run_id"]), health)
              for side, p in zip(claim.sides, planned, strict=True)]
    unfinished = _unfinished(claim, planned)
    outcome = _outcome(claim, values, runs, unfinished, health, alpha, healthy_only=False)
    outcome.notes += _without_values(claim, planned, values)
    if claim.spec_kind.reads == STALLS:
        healthy = outcome
    else:
        healthy = _outcome(claim, [v[[health.get(r) == HEALTHY for r in v.index]] for v in values], runs,
                           unfinished, health, alpha, healthy_only=True)
    states = [health[r] for r in all_ids if r in health]
    return Decision(claim, bn_mode, outcome, healthy, planned=len(all_ids), finished=len(states),
                    n_healthy=states.count(HEALTHY),
                    unhealthy={s: states.count(s) for s in sorted(set(states) - {HEALTHY})})


def claim_health(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str) -> dict[str, str]:
    """The health of every finished run, judged for this claim (convergence on its metric, within its cells)."""
    pins = sorted({k for side in claim.sides for k, _ in side.where} | ({claim.sweep} if claim.sweep else set()))
    curve_metric = claim.metric if claim.spec_kind.reads == METRIC else None
    return run_health(results, curves, bn_mode, curve_metric, pins, claim.stall_threshold)


def claim_points(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str) -> pd.DataFrame:
    """The per-run values behind a claim, for the reader's check on its test: per side and run, the value the test
    reads in the metric's own units (a stall claim: the measure of f(z) its classifier reads), seed and health."""
    runs = results.drop_duplicates("run_id").set_index("run_id")
    health = claim_health(claim, results, curves, bn_mode)
    sign = 1.0 if claim.higher_is_better or claim.spec_kind.reads != METRIC else -1.0
    rows = []
    for name, side in zip("ab", claim.sides, strict=False):
        ids = set(planned_runs(runs.reset_index(), claim, side)["run_id"])
        if claim.spec_kind.reads == STALLS:
            values = _metric_values(results, claim, side, bn_mode, ids)
        else:
            values = side_values(claim, side, results, curves, bn_mode, ids, health) * sign
        for run, value in values.items():
            rows.append({"side": name, "label": side.describe(), "run_id": run, "seed": runs.loc[run, "seed"],
                         "value": float(value), "health": health.get(run, "unknown"),
                         "x": runs.loc[run, claim.sweep] if claim.sweep else math.nan})
    return pd.DataFrame(rows, columns=["side", "label", "run_id", "seed", "value", "health", "x"])


def _without_values(claim: Claim, planned: list[pd.DataFrame], values: list[pd.Series]) -> list[str]:
    """Finished runs the test could not use: their evaluation has no (finite) value of the claim's metric. Never
    silent: the verdict rests on the others, and says so."""
    notes = []
    for side, chosen, v in zip(claim.sides, planned, values, strict=True):
        missing = set(chosen.loc[chosen["state"] == "done", "run_id"]) - set(v.index)
        if missing and claim.spec_kind.reads in (METRIC, REBOUND):
            notes.append(f"{side.method}: {len(missing)} finished run(s) without a value of {claim.metric}, left out")
    return notes


def _unfinished(claim: Claim, planned: list[pd.DataFrame]) -> list[str]:
    notes = []
    for side, chosen in zip(claim.sides, planned, strict=True):
        waiting = chosen[~chosen["state"].isin(FINISHED)]
        if len(waiting):
            counts = waiting["state"].value_counts()
            notes.append(f"{side.method}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return notes


def _outcome(claim: Claim, values: list[pd.Series], runs: pd.DataFrame, unfinished: list[str],
             health: dict[str, str], alpha: float, healthy_only: bool) -> Outcome:
    sign = 1.0 if claim.higher_is_better or claim.spec_kind.reads != METRIC else -1.0
    base = Outcome(INSUFFICIENT, n_a=len(values[0]), mean_a=_mean(values[0]) * sign, sd_a=_sd(values[0]))
    if len(values) > 1:
        base.n_b, base.mean_b, base.sd_b = len(values[1]), _mean(values[1]) * sign, _sd(values[1])
    if unfinished:
        base.notes = list(unfinished)
        return base
    stalled = None if claim.spec_kind.reads == STALLS else _all_stalled(claim, values, health)
    if stalled:
        base.notes = [stalled]
        return base
    minimum = 4 if claim.kind == "trend" else 2
    short = [side for side, v in zip(claim.sides, values, strict=True) if len(v) < minimum]
    if short:
        base.notes = [_short_note(short[0], minimum, healthy_only)]
        return base
    return _tested(claim, _sample(claim, values, runs), base, alpha)


def _short_note(side: Side, minimum: int, healthy_only: bool) -> str:
    return f"{side.method}: fewer than {minimum} {'healthy' if healthy_only else 'finished'} runs with values"


def _all_stalled(claim: Claim, values: list[pd.Series], health: dict[str, str]) -> str | None:
    """'all 6 finished runs of naign stalled' when every finished run of a side stalled (the claim's data then
    says nothing about the method beyond its stall, which `stalls_more` claims test)."""
    for side, v in zip(claim.sides, values, strict=True):
        states = [health.get(r) for r in v.index]
        if states and all(s == STALLED for s in states):
            return f"all {len(states)} finished runs of {side.method} stalled"
    return None


def _sample(claim: Claim, values: list[pd.Series], runs: pd.DataFrame) -> Sample:
    a = values[0].sort_index()
    sample = Sample(a=a.to_numpy()[None, :], share=claim.share)
    if len(values) > 1:
        b = values[1].sort_index()
        sample.b, sample.paired = b.to_numpy()[None, :], set(a.index) == set(b.index)
    if claim.kind == "trend":
        sample.x = runs.set_index("run_id").loc[a.index, claim.sweep].to_numpy(dtype=float)
    if claim.kind == "at_least":
        sample.threshold = claim.threshold * (1.0 if claim.higher_is_better else -1.0)
    sample.margin = claim.margin
    return sample


def _tested(claim: Claim, sample: Sample, base: Outcome, alpha: float) -> Outcome:
    result = KINDS[claim.kind].test(sample)
    p, p_against = float(result.p[0]), float(result.p_against[0])
    out = replace(base, verdict=verdict_of(p, p_against, alpha), p=p, p_against=p_against,
                  estimate=float(result.estimate[0]), min_p=result.min_p, test=result.test, notes=list(base.notes))
    _interval(out, result, sample, claim.spec_kind.shape, alpha)
    if result.min_p > alpha:
        out.notes.append(f"these seeds cannot decide it: the smallest p its exact test can reach is "
                         f"{result.min_p:.3g}")
    return out


def _interval(out: Outcome, result: Result, sample: Sample, shape: str, alpha: float) -> None:
    """The estimate's two-sided (1 - 2 alpha) interval, its effect size and the smallest detectable difference."""
    se, df, est = float(result.se[0]), result.df, out.estimate
    if shape in ("two_sample", "one_sample") and math.isfinite(se):
        half = float(st.t.ppf(1 - alpha, df)) * se
        out.ci = (est - half, est + half)
        scale = float(result.scale[0])
        out.effect = est / scale if scale > 0 else math.copysign(math.inf, est) if est else 0.0
        out.effect_ci = (out.ci[0] / scale, out.ci[1] / scale) if scale > 0 else (out.effect, out.effect)
        out.mde = (float(st.t.ppf(1 - alpha, df)) + float(st.t.ppf(POWER, df))) * se if se > 0 else math.nan
    elif shape == "trend":
        n = sample.a.shape[1]
        out.effect = est
        if n > 3:
            z, z_se = math.atanh(max(-0.999999, min(0.999999, est))), math.sqrt(1.06 / (n - 3))
            zc = float(st.norm.ppf(1 - alpha))
            out.ci = out.effect_ci = (math.tanh(z - zc * z_se), math.tanh(z + zc * z_se))
    elif shape == "proportion":
        n, k = sample.a.shape[1], int(sample.a.sum())
        low, high = clopper_pearson(k, n, 1 - 2 * alpha)
        out.ci = out.effect_ci = (low - sample.share, high - sample.share)
        out.effect = est
    else:  # rates: Newcombe's hybrid score interval of the difference of two proportions
        out.effect = est
        out.ci = out.effect_ci = newcombe(int(sample.a.sum()), sample.a.shape[1], int(sample.b.sum()),
                                          sample.b.shape[1], alpha)


def wilson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    z = float(st.norm.ppf(1 - alpha))
    centre, half = (k + z * z / 2) / (n + z * z), z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def newcombe(k_a: int, n_a: int, k_b: int, n_b: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Two-sided (1 - 2 alpha) interval of rate_a - rate_b from the Wilson intervals of each rate."""
    (la, ua), (lb, ub) = wilson(k_a, n_a, alpha), wilson(k_b, n_b, alpha)
    pa, pb = k_a / n_a, k_b / n_b
    d = pa - pb
    return (d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2))


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


def _sd(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def seeds_needed(claim: Claim, outcome: Outcome, alpha: float = ALPHA,
                 paper: pd.DataFrame | None = None) -> tuple[int | None, str]:
    """Seeds per side for 80 % power: at the paper's difference with the paper's spread where the paper gives
    both sides' numbers, else at the difference and spread these seeds show. (None, basis) beyond 50 seeds."""
    kind = claim.spec_kind
    if kind.shape == "proportion":
        share_hat = outcome.estimate + claim.share if outcome.tested else math.nan
        if not math.isfinite(share_hat) or share_hat == claim.share:
            return None, "ours"
        if share_hat > claim.share:
            return power.seeds_for_proportion(share_hat, claim.share, alpha), "ours"
        return power.seeds_for_proportion(1 - share_hat, 1 - claim.share, alpha), "ours"
    if kind.shape == "rates":
        if not outcome.tested:
            return None, "ours"
        high, low = sorted((outcome.mean_a, outcome.mean_b), reverse=True)
        return power.seeds_for_rates(high, low, alpha), "ours"
    if kind.shape == "trend":
        return power.exact_minimum("trend", alpha), "exact"
    printed = paper_numbers(claim, paper)
    if printed is not None:
        delta, sd_a, sd_b = printed
        basis = "paper"
    elif outcome.tested:
        delta, sd_a, sd_b = abs(outcome.estimate), outcome.sd_a, outcome.sd_b if claim.b is not None else None
        basis = "ours"
    else:
        return None, "ours"
    shape = "paired" if outcome.test.startswith("paired") else kind.shape
    return seeds_for_difference(claim, delta, sd_a, sd_b, shape, basis, alpha)


def seeds_for_difference(claim: Claim, delta: float, sd_a: float, sd_b: float | None, shape: str, basis: str,
                         alpha: float = ALPHA) -> tuple[int | None, str]:
    """Seeds per side for 80 % power at a difference delta. A similar claim whose difference lies beyond its margin
    can only be contradicted: then the seeds to show it outside (each side of the margin at alpha / 2)."""
    if claim.kind != "similar":
        return power.seeds_for_t(abs(delta), sd_a, sd_b, shape, math.nan, alpha), basis
    if abs(delta) < claim.margin:
        return power.seeds_for_t(abs(delta), sd_a, sd_b, shape, claim.margin, alpha), basis
    return power.seeds_for_t(abs(delta) - claim.margin, sd_a, sd_b, shape, math.nan, alpha / 2), \
        f"{basis}, to contradict"


def paper_numbers(claim: Claim, paper: pd.DataFrame | None) -> tuple[float, float, float | None] | None:
    """(difference in the claim's direction, sd of a, sd of b) as the paper prints them, or None."""
    if paper is None or claim.spec_kind.reads != METRIC or not len(paper):
        return None
    cells = []
    for side in claim.sides:
        row = paper[(paper["method"] == side.method) & (paper["application"] == side.application)
                    & (paper["metric"] == claim.metric)]
        if not len(row):
            return None
        cells.append((float(row["mean"].iloc[0]), float(row["std"].iloc[0])))
    sign = 1.0 if claim.higher_is_better else -1.0
    if claim.b is None:
        return (cells[0][0] - claim.threshold) * sign, cells[0][1], None
    return (cells[0][0] - cells[1][0]) * sign, cells[0][1], cells[1][1]


def interaction_p(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame) -> float:
    """Does the claim's effect differ between the BatchNorm modes? Two-sided test of the per-run change from
    train to eval mode (paired by run), through the claim's own test shape; NaN when not testable."""
    kind = claim.spec_kind
    if kind.reads not in (METRIC, REBOUND) or not {"eval", "train"} <= set(results["bn_mode"].dropna()):
        return math.nan
    runs = results.drop_duplicates("run_id")
    changes = []
    for side in claim.sides:
        ids = set(planned_runs(runs, claim, side)["run_id"])
        by_mode = [side_values(claim, side, results, curves, mode, ids, {}) for mode in ("eval", "train")]
        both = by_mode[0].index.intersection(by_mode[1].index)
        changes.append((by_mode[0][both] - by_mode[1][both]).sort_index())
    if min(len(c) for c in changes) < (4 if claim.kind == "trend" else 2):
        return math.nan
    if kind.shape == "trend":
        x = runs.set_index("run_id").loc[changes[0].index, claim.sweep].to_numpy(dtype=float)
        result = spearman(x, changes[0].to_numpy())
    elif len(changes) == 1:
        result = one_sample(changes[0].to_numpy(), 0.0)
    else:
        paired = set(changes[0].index) == set(changes[1].index)
        result = KINDS["greater"].test(Sample(changes[0].to_numpy()[None, :], changes[1].to_numpy()[None, :],
                                              paired=paired))
    return float(two_sided(result)[0])

