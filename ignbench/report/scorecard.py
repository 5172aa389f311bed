"""The scorecard: one row per claim x preset x BatchNorm mode, with the verdict and what it rests on."""

from __future__ import annotations

import math

import pandas as pd

from ignbench.claims import Claim, Decision, decide
from ignbench.measures import label
from ignbench.report.tables import PAPER_DECIMALS, fmt_cell, load_paper, paper_cell
from ignbench.spec import Spec

COLUMNS = ["Experiment", "Preset", "Claim", "BN mode", "Paper", "Ours", "Difference [90% CI]", "p", "Effect",
           "Detectable", "n", "Verdict", "Mode-sensitive", "Test", "Notes", "Text"]


def decisions_for(spec: Spec, results: pd.DataFrame, curves: pd.DataFrame) -> list[Decision]:
    """Every claim of the spec decided under every BatchNorm mode its runs were scored in."""
    modes = [m for m in ("eval", "train", "none") if m in set(results["bn_mode"].dropna())] or ["none"]
    out = []
    for claim in spec.claims:
        for mode in modes:
            out.append(decide(claim, results, curves, mode))
    return out


def _paper_value(claim: Claim, paper: pd.DataFrame) -> str:
    if claim.paper:
        return claim.paper
    sides = [claim.a] if claim.b is None else [claim.a, claim.b]
    decimals = PAPER_DECIMALS.get(claim.metric)
    cells = [paper_cell(paper, decimals, method=s.method, application=s.application, metric=claim.metric)
             for s in sides]
    return "–" if all(c == "–" for c in cells) else " vs ".join(cells)


def _number(value: float, metric: str) -> str:
    if not math.isfinite(value):
        return "–" if math.isnan(value) else ("+∞" if value > 0 else "−∞")
    return fmt_cell(value, math.nan, 1, metric, 3 if abs(value) < 10 else 1)


def _ours(d: Decision) -> str:
    c = d.claim
    if c.kind == "trend":
        return f"{c.a.method}: {d.n_a} runs over {c.sweep}"
    if c.kind == "curve":
        return f"rebound {_number(d.mean_a, c.metric)} vs {_number(d.mean_b, c.metric)}"
    if c.kind in ("all_modes", "mode_dropping"):
        return f"{_number(d.mean_a, c.metric)} modes"
    if c.kind == "at_least":
        return f"{_number(d.mean_a, c.metric)} (threshold {c.threshold:g})"
    return f"{_number(d.mean_a, c.metric)} vs {_number(d.mean_b, c.metric)}"


def _difference(d: Decision) -> str:
    t = d.test
    if not math.isfinite(t.estimate):
        return "–"
    what = "ρ" if d.claim.kind == "trend" else ""
    return f"{what}{_number(t.estimate, d.claim.metric)} [{_number(t.ci[0], d.claim.metric)}, " \
           f"{_number(t.ci[1], d.claim.metric)}]"


def scorecard(spec: Spec, preset: str, decisions: list[Decision]) -> pd.DataFrame:
    """Rows of the scorecard for one spec at one preset. The difference is oriented so that > 0 is the claim's
    direction (better, for a greater claim); Detectable: the smallest true difference (|ρ| for trends) that the
    seeds would detect with 80 % power at α = 0.05."""
    paper = load_paper(spec.reference)
    by_claim: dict[str, set[str]] = {}
    for d in decisions:
        by_claim.setdefault(d.claim.id, set()).add(d.test.verdict)
    rows = []
    for d in decisions:
        t, c = d.test, d.claim
        n = f"{d.n_a}" + (f" vs {d.n_b}" if c.b is not None else "") + f" of {d.planned}"
        sensitive = d.bn_mode != "none" and len(by_claim[c.id] - {"insufficient"}) > 1
        rows.append({
            "Experiment": spec.name, "Preset": preset, "Claim": c.id, "BN mode": d.bn_mode,
            "Paper": _paper_value(c, paper), "Ours": _ours(d), "Difference [90% CI]": _difference(d),
            "p": "–" if math.isnan(t.p) else f"{t.p:.3g}",
            "Effect": "–" if math.isnan(t.effect) else f"{t.effect:.2f}",
            "Detectable": "–" if math.isnan(t.mde) else (f"|ρ| ≥ {t.mde:.2f}" if c.kind == "trend"
                                                         else f"{_number(t.mde, c.metric)}"),
            "n": n, "Verdict": t.verdict, "Mode-sensitive": "yes" if sensitive else "",
            "Test": t.test, "Notes": "; ".join(d.notes + t.notes),
            "Text": f"{c.text} [{c.kind}: {label(c.metric, arrow=False)}]",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_counts(table: pd.DataFrame) -> str:
    counts = table["Verdict"].value_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items())
