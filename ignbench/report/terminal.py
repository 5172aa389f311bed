"""`ignbench verdict` in the terminal: the counts per experiment first, then one line per claim (<= 100 columns),
or the whole scorecard as CSV, JSON or Markdown for scripts."""

from __future__ import annotations

import math
import textwrap

import pandas as pd

from ignbench.report.scorecard import seeds_note
from ignbench.report.tables import to_markdown
from ignbench.verdict.card import counts
from ignbench.verdict.decide import Decision

WIDTH = 100
HEAD, HEAD_MIN = 44, 24  # columns for experiment/claim: usually, and at the least
SHORT = {"reproduced": "REPRODUCED", "contradicted": "CONTRADICTED", "inconclusive": "inconclusive",
         "insufficient": "insufficient"}


def counts_line(experiment: str, preset: str, decisions: list[Decision], results: pd.DataFrame) -> str:
    """'table1 [cpu, 6 seeds]: 0 reproduced (raw 3), 2 contradicted (raw 6), 22 inconclusive, 0 insufficient'."""
    seeds = results["seed"].nunique() if "seed" in results else 0
    adjusted, raw = counts(decisions, True), counts(decisions, False)
    parts = [f"{n} {v}" + (f" (raw {raw[v]})" if raw[v] != n else "") for v, n in adjusted.items()]
    return textwrap.fill(f"{experiment} [{preset}, {seeds} seeds]: " + ", ".join(parts), width=WIDTH,
                         subsequent_indent="  ")


def claim_line(experiment: str, d: Decision) -> str:
    """One claim under one BatchNorm mode, in at most WIDTH columns."""
    o = d.outcome
    raw = "" if o.verdict == d.verdict else f" (raw {o.verdict[0].upper()})"
    against = o.verdict == "contradicted"  # show the p of the direction the raw verdict went
    raw_p, adj_p = (o.p_against, d.p_against_adjusted) if against else (o.p, d.p_adjusted)
    p = "" if math.isnan(raw_p) else ("pC " if against else "p ") + f"{raw_p:.2g}" + (
        "" if math.isnan(adj_p) else f"/{adj_p:.2g}")
    needs = seeds_note(d)
    extras = [p, f"ok {d.n_healthy}/{d.finished}/{d.planned}"]
    if needs:  # the basis (the paper's difference, else ours) is in the footer and the scorecard
        extras.append(f"needs {needs.split(' (')[0]}")
    if d.seeds_spent is not None:
        extras.append(f"spent {d.seeds_spent}")
    flags = ("M" if d.mode_sensitive else "") + ("H" if d.health_sensitive else "")
    if flags:
        extras.append(f"[{flags}]")
    head = f"{experiment}/{d.claim.id}"
    tail = f"{d.bn_mode:<5} {SHORT[d.verdict]}{raw} " + " ".join(e for e in extras if e)
    room = max(HEAD_MIN, min(HEAD, WIDTH - 1 - len(tail)))  # the claim's name gives way, the numbers do not
    return f"{head:<{room}.{room}} {tail}"


def claim_lines(experiment: str, decisions: list[Decision]) -> list[str]:
    return [claim_line(experiment, d) for d in decisions]


def formatted(cards: list[pd.DataFrame], fmt: str) -> str:
    table = pd.concat(cards, ignore_index=True) if cards else pd.DataFrame()
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return table.to_json(orient="records", indent=1, force_ascii=False)
    return to_markdown(table)
