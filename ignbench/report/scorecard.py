"""The scorecard: one row per claim x preset x BatchNorm mode, with the verdict and everything it rests on."""

from __future__ import annotations

import math

import pandas as pd

from ignbench.core.measures import label
from ignbench.report.tables import PAPER_DECIMALS, fmt_cell, load_paper, paper_cell
from ignbench.spec import Spec
from ignbench.verdict.card import DEFAULT_POLICY, Policy, counts, decide_claims
from ignbench.verdict.claim import Claim
from ignbench.verdict.decide import Decision
from ignbench.verdict.power import MAX_SEEDS

COLUMNS = ["Experiment", "Preset", "Claim", "BN mode", "Verdict", "Raw", "Healthy only", "Flags", "Paper", "Ours",
           "Difference [90% CI]", "p", "p adj.", "p against", "p against adj.", "Effect", "Effect [90% CI]",
           "Detectable", "n", "Health", "Seeds needed", "Seeds spent", "Test", "Notes", "Text"]
SUMMARY = ["Claim", "BN mode", "Verdict", "Raw", "Healthy only", "Ours", "p", "p adj.", "Health", "Seeds needed",
           "Flags"]


def decisions_for(spec: Spec, results: pd.DataFrame, curves: pd.DataFrame, policy: Policy = DEFAULT_POLICY) \
        -> list[Decision]:
    return decide_claims(spec.claims, results, curves, policy, load_paper(spec.reference))


def _paper_value(claim: Claim, paper: pd.DataFrame) -> str:
    if claim.paper:
        return claim.paper
    decimals = PAPER_DECIMALS.get(claim.metric)
    cells = [paper_cell(paper, decimals, method=s.method, application=s.application, metric=claim.metric)
             for s in claim.sides]
    return "–" if all(c == "–" for c in cells) else " vs ".join(cells)


def number(value: float, metric: str) -> str:
    if not math.isfinite(value):
        return "–" if math.isnan(value) else ("+∞" if value > 0 else "−∞")
    return fmt_cell(value, math.nan, 1, metric, 3 if abs(value) < 10 else 1)


def _ours(d: Decision) -> str:
    c, o = d.claim, d.outcome
    if c.kind == "trend":
        return f"{c.a.method}: {o.n_a} runs over {c.sweep}"
    if c.kind == "curve":
        return f"rebound {number(o.mean_a, c.metric)} vs {number(o.mean_b, c.metric)}"
    if c.spec_kind.shape == "proportion":
        return f"{o.mean_a * o.n_a:.0f} of {o.n_a} seeds" if o.n_a else "–"
    if c.spec_kind.shape == "rates":
        return (f"stalled {o.mean_a * o.n_a:.0f}/{o.n_a} vs {o.mean_b * o.n_b:.0f}/{o.n_b}" if o.n_a and o.n_b
                else "–")
    if c.kind == "at_least":
        return f"{number(o.mean_a, c.metric)} (threshold {c.threshold:g})"
    return f"{number(o.mean_a, c.metric)} vs {number(o.mean_b, c.metric)}"


def _difference(d: Decision) -> str:
    o, metric = d.outcome, d.claim.metric
    if not math.isfinite(o.estimate):
        return "–"
    what = "ρ " if d.claim.kind == "trend" else ""
    if d.claim.spec_kind.shape in ("proportion", "rates"):
        return f"{o.estimate:+.2f} [{o.ci[0]:+.2f}, {o.ci[1]:+.2f}]"
    return f"{what}{number(o.estimate, metric)} [{number(o.ci[0], metric)}, {number(o.ci[1], metric)}]"


def _health(d: Decision) -> str:
    text = f"{d.n_healthy}/{d.finished}/{d.planned}"
    if d.unhealthy:
        text += " (" + ", ".join(f"{n} {state}" for state, n in d.unhealthy.items()) + ")"
    return text


def _flags(d: Decision) -> str:
    flags = []
    if d.mode_sensitive:
        flags.append(f"mode-sensitive (interaction p {d.interaction_p:.3g})")
    if d.health_sensitive:
        flags.append("health-sensitive")
    return "; ".join(flags)


def seeds_note(d: Decision) -> str:
    """'7 (paper)': seeds per side for 80 % power at the paper's difference (or ours), at the level that survives the
    family's adjustment; '> 50' when none up to 50. Shown for every claim left inconclusive after the adjustment."""
    if d.verdict != "inconclusive" and d.needs_basis != "paper":
        return ""
    if d.seeds_needed is None:
        return f"> {MAX_SEEDS}" if d.outcome.tested or d.needs_basis == "paper" else ""
    return f"{d.seeds_needed} ({d.needs_basis})"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"


def scorecard(spec: Spec, preset: str, decisions: list[Decision]) -> pd.DataFrame:
    """Rows of the scorecard for one spec at one preset. Verdict: after the family's adjustment (Raw: before);
    p: the test of the claim (reproduced when small), p against: the test of its opposite (contradicted when small);
    Healthy only: decided on the healthy runs alone; Health: healthy / finished / planned runs; Seeds needed: per
    side, for 80 % power at the paper's difference and spread (else at ours) at alpha / (claims in the family), the
    level that survives the adjustment whatever the other claims show; Detectable: the smallest true
    difference the t part detects with 80 % power at these seeds."""
    paper = load_paper(spec.reference)
    rows = []
    for d in decisions:
        o, c = d.outcome, d.claim
        rows.append({
            "Experiment": spec.name, "Preset": preset, "Claim": c.id, "BN mode": d.bn_mode, "Verdict": d.verdict,
            "Raw": o.verdict, "Healthy only": d.healthy.verdict, "Flags": _flags(d),
            "Paper": _paper_value(c, paper), "Ours": _ours(d), "Difference [90% CI]": _difference(d),
            "p": _p(o.p), "p adj.": _p(d.p_adjusted),
            "p against": _p(o.p_against), "p against adj.": _p(d.p_against_adjusted),
            "Effect": "–" if math.isnan(o.effect) else f"{o.effect:.2f}",
            "Effect [90% CI]": "–" if math.isnan(o.effect_ci[0]) else f"[{o.effect_ci[0]:.2f}, {o.effect_ci[1]:.2f}]",
            "Detectable": "–" if math.isnan(o.mde) else number(o.mde, c.metric),
            "n": f"{o.n_a}" + (f" vs {o.n_b}" if c.b is not None else "") + f" of {d.planned}",
            "Health": _health(d), "Seeds needed": seeds_note(d),
            "Seeds spent": "" if d.seeds_spent is None else str(d.seeds_spent), "Test": o.test,
            "Notes": "; ".join(o.notes), "Text": f"{c.text} [{c.kind}: {label(c.metric, arrow=False)}]",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_counts(decisions: list[Decision]) -> str:
    """'3 reproduced (raw 5), 1 contradicted (raw 1), ...': adjusted counts with the raw ones beside."""
    adjusted, raw = counts(decisions, True), counts(decisions, False)
    return ", ".join(f"{n} {v} (raw {raw[v]})" for v, n in adjusted.items())
