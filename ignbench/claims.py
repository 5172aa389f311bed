"""Paper claims as data (`[[claims]]` in a spec), and their verdicts from the seeds.

    [[claims]]
    id = "coverage-naign-over-ign"
    text = "NAIGN covers more of MNIST than IGN (NAIGN Table 1)"
    kind = "greater"            # a is better than b on the metric (its direction: higher or lower is better)
    metric = "coverage"
    application = "f(z)"        # default f(z); a side may override it: a = {method = "naign", application = "f(f(z))"}
    a = "naign"
    b = "ign"

Kinds (a and b are sides: a method, or a table with method and optionally application and swept values):
- greater: a better than b (paired t: by run when a and b are the same runs, e.g. f(f(z)) against f(z), by seed
  when both sides have one run per seed of the same seeds; Welch's t otherwise).
- similar: a and b differ by less than `margin` (TOST).
- at_least: a is better than `threshold`.
- trend: the metric improves monotonically as the swept field `sweep` grows (Spearman, over a's runs).
- curve: a's training curve rebounds more after its best point than b's (rebound: final minus best value, in the
  metric's bad direction; Welch on the per-run rebounds).
- all_modes: a covers every mode of a mixture; mode_dropping: a misses some (one-sample t on modes covered).
`dataset` names the dataset (required when a preset has several; else the preset's one); `paper` quotes what the
paper shows where its numbers are not in the spec's reference table; `source` names where the claim is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ignbench import stats
from ignbench.config import RunConfig
from ignbench.errors import UserError
from ignbench.measures import MEASURES

KINDS = ("greater", "similar", "at_least", "trend", "curve", "all_modes", "mode_dropping")
TWO_SIDED = ("greater", "similar", "curve")
CLAIM_KEYS = {"id", "text", "source", "kind", "metric", "application", "dataset", "a", "b", "margin", "threshold",
              "sweep", "paper"}
SIDE_KEYS = {"method", "application"}
REQUIRED = {"greater": {"metric", "a", "b"}, "similar": {"metric", "a", "b", "margin"},
            "at_least": {"metric", "a", "threshold"}, "trend": {"metric", "a", "sweep"},
            "curve": {"metric", "a", "b"}, "all_modes": {"a"}, "mode_dropping": {"a"}}


@dataclass(frozen=True)
class Side:
    method: str
    application: str
    where: tuple[tuple[str, Any], ...] = ()  # swept fields pinned to one value

    def describe(self) -> str:
        pins = "".join(f", {k} = {v:g}" if isinstance(v, float) else f", {k} = {v}" for k, v in self.where)
        return f"{self.method} {self.application}{pins}"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    kind: str
    metric: str
    a: Side
    b: Side | None = None
    dataset: str | None = None
    margin: float = math.nan
    threshold: float = math.nan
    sweep: str = ""
    source: str = ""
    paper: str = ""

    @property
    def higher_is_better(self) -> bool:
        return MEASURES[self.metric].higher_is_better


def parse_claims(raw: Any, spec_name: str, runs: list[RunConfig], sweep_keys: list[str]) -> list[Claim]:
    """Validate `[[claims]]` against the spec's runs: every name must exist before anything runs."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise UserError(f"{spec_name}: claims must be an array of tables ([[claims]])")
    from ignbench.evaluate import curve_metrics, produced

    methods = sorted({c.method for c in runs})
    per_preset: dict[str, set[str]] = {}
    for c in runs:
        per_preset.setdefault(c.preset, set()).add(c.dataset)
    claims, seen = [], set()
    for i, entry in enumerate(raw):
        where = f"{spec_name} [[claims]] #{i + 1}"
        claim_id = entry.get("id")
        if not isinstance(claim_id, str) or not claim_id:
            raise UserError(f"{where}: id must be a non-empty string")
        where = f"{spec_name} claim {claim_id!r}"
        if claim_id in seen:
            raise UserError(f"{where}: duplicate id")
        seen.add(claim_id)
        unknown = sorted(set(entry) - CLAIM_KEYS)
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r}")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise UserError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        missing = sorted(REQUIRED[kind] - set(entry))
        if missing:
            raise UserError(f"{where}: kind {kind!r} needs {missing[0]!r}")
        for key in ("text", "source", "paper", "application", "dataset", "sweep"):
            if key in entry and not isinstance(entry[key], str):
                raise UserError(f"{where}: {key} must be a string")
        if "text" not in entry:
            raise UserError(f"{where}: text (what the paper claims, with its source) is required")
        metric = entry.get("metric", "modes_covered")
        if metric not in MEASURES:
            raise UserError(f"{where}: unknown metric {metric!r} (known: {', '.join(MEASURES)})")
        dataset = entry.get("dataset")
        for preset, datasets in per_preset.items():
            if dataset is None and len(datasets) > 1:
                raise UserError(f"{where}: dataset is required (preset {preset} has {', '.join(sorted(datasets))})")
            if dataset is not None and dataset not in datasets:
                raise UserError(f"{where}: unknown dataset {dataset!r} (preset {preset} has "
                                f"{', '.join(sorted(datasets))})")
        application = entry.get("application", "f(z)")
        sides = {name: _side(entry[name], application, methods, sweep_keys, runs, f"{where} {name}")
                 for name in ("a", "b") if name in entry}
        if "b" in entry and kind not in TWO_SIDED:
            raise UserError(f"{where}: kind {kind!r} takes only side a")
        for sample in (c for c in runs if dataset in (None, c.dataset)):
            if kind == "curve":
                if sample.curve_every <= 0:
                    raise UserError(f"{where}: a curve claim needs curve_every > 0 (preset {sample.preset})")
                if metric not in curve_metrics(sample):
                    raise UserError(f"{where}: metric {metric!r} is not recorded during training on "
                                    f"{sample.dataset}")
                continue
            outputs = produced(sample)
            for name, side in sides.items():
                if side.application not in outputs:
                    raise UserError(f"{where} {name}: unknown application {side.application!r} "
                                    f"(known: {', '.join(outputs)})")
                if metric not in outputs[side.application]:
                    raise UserError(f"{where} {name}: metric {metric!r} is not measured for {side.application} "
                                    f"on {sample.dataset} (preset {sample.preset})")
        if kind in ("all_modes", "mode_dropping") and metric != "modes_covered":
            raise UserError(f"{where}: kind {kind!r} is about modes_covered, not {metric!r}")
        margin, threshold = _number(entry, "margin", where), _number(entry, "threshold", where)
        if kind == "similar" and not margin > 0:
            raise UserError(f"{where}: margin must be positive")
        sweep = entry.get("sweep", "")
        if kind == "trend" and sweep not in sweep_keys:
            raise UserError(f"{where}: sweep {sweep!r} is not a swept field (swept: {', '.join(sweep_keys)})")
        claims.append(Claim(claim_id, entry["text"], kind, metric, sides["a"], sides.get("b"), dataset, margin,
                            threshold, sweep, entry.get("source", ""), entry.get("paper", "")))
    return claims


def _number(entry: dict, key: str, where: str) -> float:
    value = entry.get(key, math.nan)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (key in entry and not math.isfinite(value)):
        raise UserError(f"{where}: {key} must be a finite number")
    return float(value)


def _side(raw: Any, application: str, methods: list[str], sweep_keys: list[str], runs: list[RunConfig],
          where: str) -> Side:
    if isinstance(raw, str):
        raw = {"method": raw}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: must be a method name or a table with method = ...")
    unknown = sorted(set(raw) - SIDE_KEYS - set(sweep_keys))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (a side takes method, application and swept fields)")
    method = raw.get("method")
    if method not in methods:
        raise UserError(f"{where}: unknown method {method!r} (the spec runs {', '.join(methods)})")
    pins = tuple(sorted((k, v) for k, v in raw.items() if k not in SIDE_KEYS))
    for key, value in pins:
        if not any(getattr(c, key) == value for c in runs):
            raise UserError(f"{where}: {key} = {value!r} is not a swept value")
    app = raw.get("application", application)
    if not isinstance(app, str):
        raise UserError(f"{where}: application must be a string")
    return Side(method, app, pins)


@dataclass
class Decision:
    """A claim's verdict under one BatchNorm mode, with what it rests on."""

    claim: Claim
    bn_mode: str
    test: stats.Test
    mean_a: float = math.nan
    mean_b: float = math.nan
    n_a: int = 0
    n_b: int = 0
    planned: int = 0
    notes: list[str] = field(default_factory=list)


def _selected(runs: pd.DataFrame, claim: Claim, side: Side) -> pd.DataFrame:
    """The planned runs (one row each) a side refers to."""
    mask = runs["method"] == side.method
    if claim.dataset is not None:
        mask &= runs["dataset"] == claim.dataset
    for key, value in side.where:
        mask &= runs[key] == value
    return runs[mask]


def _values(results: pd.DataFrame, claim: Claim, side: Side, bn_mode: str) -> pd.Series:
    """Per-run values of the claim's metric for a side (indexed by run id)."""
    rows = results[(results["bn_mode"] == bn_mode) & (results["application"] == side.application)
                   & (results["metric"] == claim.metric)]
    ids = set(_selected(results.drop_duplicates("run_id"), claim, side)["run_id"])
    rows = rows[rows["run_id"].isin(ids)]
    return rows.set_index("run_id")["value"].dropna()


def _rebounds(curves: pd.DataFrame, claim: Claim, side: Side, bn_mode: str, ids: set[str]) -> pd.Series:
    """Per run: how far the curve ends from its best point, in the metric's bad direction (>= 0)."""
    rows = curves[(curves["bn_mode"] == bn_mode) & (curves["metric"] == claim.metric) & curves["run_id"].isin(ids)]
    out = {}
    for run_id, run in rows.groupby("run_id"):
        values = run.sort_values("step")["value"].to_numpy()
        out[run_id] = values.max() - values[-1] if claim.higher_is_better else values[-1] - values.min()
    return pd.Series(out, dtype=float)


def decide(claim: Claim, results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str,
           alpha: float = stats.ALPHA) -> Decision:
    """The claim's verdict from the planned runs' results (results_frame) under one BatchNorm mode."""
    runs = results.drop_duplicates("run_id")
    sides = [claim.a] if claim.b is None else [claim.a, claim.b]
    planned = [_selected(runs, claim, side) for side in sides]
    notes = []
    for side, chosen in zip(sides, planned, strict=True):
        unfinished = chosen[chosen["state"] != "done"]
        if len(unfinished):
            counts = unfinished["state"].value_counts()
            notes.append(f"{side.method}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    if claim.kind == "curve":
        values = [_rebounds(curves, claim, s, bn_mode, set(p["run_id"])) for s, p in zip(sides, planned, strict=True)]
    else:
        values = [_values(results, claim, s, bn_mode) for s in sides]
    distinct = len(set().union(*(set(p["run_id"]) for p in planned)))
    decision = Decision(claim, bn_mode, stats.Test(stats.INSUFFICIENT), planned=distinct, notes=notes)
    decision.n_a = len(values[0])
    decision.mean_a = float(values[0].mean()) if len(values[0]) else math.nan
    if len(values) > 1:
        decision.n_b = len(values[1])
        decision.mean_b = float(values[1].mean()) if len(values[1]) else math.nan
    minimum = 4 if claim.kind == "trend" else 2
    if notes or min(len(v) for v in values) < minimum:
        if not notes:
            notes.append(f"fewer than {minimum} finished runs")
        return decision
    decision.test = _test(claim, values, results, alpha)
    return decision


def _test(claim: Claim, values: list[pd.Series], results: pd.DataFrame, alpha: float) -> stats.Test:
    sign = 1.0 if claim.higher_is_better else -1.0
    if claim.kind in ("greater", "similar", "curve"):
        # curve: a rebounds more than b, so larger is the claim's direction whatever the metric's
        a, b = values if claim.kind == "curve" else (v * sign for v in values)
        pairs = _pairs(a, b, results)
        diff = stats.paired(*pairs) if pairs is not None else stats.welch(a.to_numpy(), b.to_numpy())
        test = stats.equivalent(diff, claim.margin, alpha) if claim.kind == "similar" else diff.outcome(alpha)
        if pairs is not None and set(a.index) != set(b.index):  # paired by seed: show the unpaired test too
            welch = stats.welch(a.to_numpy(), b.to_numpy())
            unpaired = stats.equivalent(welch, claim.margin, alpha) if claim.kind == "similar" else \
                welch.outcome(alpha)
            test.test = f"{test.test} by seed"
            test.notes.append(f"unpaired Welch: p {unpaired.p:.3g}, {unpaired.verdict}")
        return test
    if claim.kind == "at_least":
        return stats.one_sample(sign * values[0].to_numpy(), sign * claim.threshold).outcome(alpha)
    if claim.kind == "trend":
        x = results.drop_duplicates("run_id").set_index("run_id").loc[values[0].index, claim.sweep].to_numpy()
        return stats.trend(x.astype(float), sign * values[0].to_numpy(), alpha)
    return _modes(values[0].to_numpy(), _n_modes(results, claim), claim.kind == "all_modes", alpha)


def _pairs(a: pd.Series, b: pd.Series, results: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Matched values of the two sides, or None. The same runs measured twice pair by run; runs of different
    methods pair by seed, because runs with one seed share their initial weights and first epoch of batches (a
    design blocked by seed). Pairing needs the same seeds on both sides, one run each."""
    if set(a.index) == set(b.index):
        return a.sort_index().to_numpy(), b.sort_index().to_numpy()
    seed = results.drop_duplicates("run_id").set_index("run_id")["seed"]
    by_seed = [side.groupby(seed.loc[side.index].to_numpy()) for side in (a, b)]
    if any(g.size().max() > 1 for g in by_seed) or set(by_seed[0].groups) != set(by_seed[1].groups):
        return None
    seeds = sorted(by_seed[0].groups)
    return (a.groupby(seed.loc[a.index].to_numpy()).first().loc[seeds].to_numpy(),
            b.groupby(seed.loc[b.index].to_numpy()).first().loc[seeds].to_numpy())


def _modes(covered: np.ndarray, n_modes: float, all_claimed: bool, alpha: float) -> stats.Test:
    """all_modes / mode_dropping. Fewer than all: mean covered significantly below n. All: significantly above
    n - 1 (on average less than one mode missing). The estimate is mean covered - n, with its interval."""
    base = stats.one_sample(covered, n_modes).outcome(alpha)
    p_fewer = base.p_against
    p_all = stats.one_sample(covered, n_modes - 1).outcome(alpha).p
    if all_claimed:
        p, p_against = p_all, p_fewer
        verdict = stats.CONTRADICTED if p_fewer < alpha else stats.REPRODUCED if p_all < alpha else stats.INCONCLUSIVE
    else:
        p, p_against = p_fewer, p_all
        verdict = stats.REPRODUCED if p_fewer < alpha else stats.CONTRADICTED if p_all < alpha else stats.INCONCLUSIVE
    return stats.Test(verdict, base.estimate, base.ci, p, p_against, base.effect, base.mde, "one-sample t (modes)",
                      base.notes)


def _n_modes(results: pd.DataFrame, claim: Claim) -> float:
    rows = results[results["metric"] == "n_modes"]
    if claim.dataset is not None:
        rows = rows[rows["dataset"] == claim.dataset]
    return float(rows["value"].iloc[0])
