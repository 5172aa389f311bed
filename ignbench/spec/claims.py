"""Paper claims as data (`[[claims]]` in a spec), validated when the spec loads.

    [[claims]]
    id = "coverage-naign-over-ign"
    text = "NAIGN covers more of MNIST than IGN (NAIGN Table 1)"
    kind = "greater"            # a is better than b on the metric (its direction: higher or lower is better)
    metric = "coverage"
    application = "f(z)"        # default f(z); a side may override it: a = {method = "naign", application = "f(f(z))"}
    a = "naign"
    b = "ign"

The kinds, and the test that decides each, are the registry `ignbench.verdict.kinds.KINDS`. A side is a method, or
a table with method and optionally application and swept values. `dataset` names the dataset (required when a
preset has several); `paper` quotes what the paper shows where its numbers are not in the spec's reference table;
`source` names where the claim is made; `share` (proportion kinds, default 0.5) is the share of seeds the claim is
about ("more than half of the seeds cover every mode").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ignbench.core import plugins
from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.core.measures import MEASURES
from ignbench.evaluate.metrics.collapse import STALL_METRIC, STALL_THRESHOLD
from ignbench.verdict.claim import Claim, Side
from ignbench.verdict.kinds import COVERS_ALL, DROPS_MODE, KINDS, REBOUND, STALLS, ClaimKind

CLAIM_KEYS = {"id", "text", "source", "kind", "metric", "application", "dataset", "a", "b", "margin", "threshold",
              "sweep", "paper", "share"}
SIDE_KEYS = {"method", "application"}
DEFAULT_METRIC = {COVERS_ALL: "modes_covered", DROPS_MODE: "modes_covered", STALLS: STALL_METRIC}
STRING_KEYS = ("text", "source", "paper", "application", "dataset", "sweep")


@dataclass(frozen=True)
class Context:
    """What a spec's claims are checked against: its runs (one seed of every preset) and swept fields."""

    spec_name: str
    runs: list[RunConfig]
    sweep_keys: list[str]

    @property
    def methods(self) -> list[str]:
        return sorted({c.method for c in self.runs})


def parse_claims(raw: Any, spec_name: str, runs: list[RunConfig], sweep_keys: list[str],
                 stall_threshold: float = STALL_THRESHOLD) -> list[Claim]:
    """Validate `[[claims]]` against the spec's runs: every name must exist before anything runs."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise UserError(f"{spec_name}: claims must be an array of tables ([[claims]])")
    context = Context(spec_name, runs, sweep_keys)
    claims: list[Claim] = []
    for i, entry in enumerate(raw):
        claim = parse_claim(entry, context, f"{spec_name} [[claims]] #{i + 1}")
        claim = replace(claim, stall_threshold=stall_threshold)
        if any(c.id == claim.id for c in claims):
            raise UserError(f"{spec_name} claim {claim.id!r}: duplicate id")
        claims.append(claim)
    return claims


def parse_claim(entry: dict, context: Context, where: str) -> Claim:
    claim_id = entry.get("id")
    if not isinstance(claim_id, str) or not claim_id:
        raise UserError(f"{where}: id must be a non-empty string")
    where = f"{context.spec_name} claim {claim_id!r}"
    kind = _check_keys(entry, where)
    metric = entry.get("metric", DEFAULT_METRIC.get(kind.reads, ""))
    if metric not in MEASURES:
        raise UserError(f"{where}: unknown metric {metric!r} (known: {', '.join(MEASURES)})")
    if kind.reads in DEFAULT_METRIC and metric != DEFAULT_METRIC[kind.reads]:
        raise UserError(f"{where}: kind {kind.name!r} is about {DEFAULT_METRIC[kind.reads]}, not {metric!r}")
    dataset = _dataset(entry.get("dataset"), context, where)
    application = entry.get("application", "f(z)")
    sides = {name: _side(entry[name], application, context, f"{where} {name}") for name in ("a", "b")
             if name in entry}
    _check_measured(kind, metric, dataset, sides, context, where)
    numbers = {key: _number(entry, key, where) for key in ("margin", "threshold", "share")}
    _check_numbers(kind, numbers, where)
    sweep = entry.get("sweep", "")
    if kind.name == "trend" and sweep not in context.sweep_keys:
        raise UserError(f"{where}: sweep {sweep!r} is not a swept field (swept: {', '.join(context.sweep_keys)})")
    return Claim(claim_id, entry["text"], kind.name, metric, sides["a"], sides.get("b"), dataset, numbers["margin"],
                 numbers["threshold"], sweep, entry.get("source", ""), entry.get("paper", ""),
                 0.5 if math.isnan(numbers["share"]) else numbers["share"])


def _check_keys(entry: dict, where: str) -> ClaimKind:
    """Known keys, a known kind with its required keys, strings where strings belong; the kind."""
    unknown = sorted(set(entry) - CLAIM_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}")
    kind = KINDS.get(entry.get("kind"))
    if kind is None:
        raise plugins.unknown("claim_kinds", entry.get("kind"), list(KINDS), f"{where}: kind")
    missing = sorted(kind.required - set(entry))
    if missing:
        raise UserError(f"{where}: kind {kind.name!r} needs {missing[0]!r}")
    if "b" in entry and kind.sides == 1:
        raise UserError(f"{where}: kind {kind.name!r} takes only side a")
    for key in STRING_KEYS:
        if key in entry and not isinstance(entry[key], str):
            raise UserError(f"{where}: {key} must be a string")
    if "text" not in entry:
        raise UserError(f"{where}: text (what the paper claims, with its source) is required")
    return kind


def _dataset(dataset: str | None, context: Context, where: str) -> str | None:
    per_preset: dict[str, set[str]] = {}
    for c in context.runs:
        per_preset.setdefault(c.preset, set()).add(c.dataset)
    for preset, datasets in per_preset.items():
        if dataset is None and len(datasets) > 1:
            raise UserError(f"{where}: dataset is required (preset {preset} has {', '.join(sorted(datasets))})")
        if dataset is not None and dataset not in datasets:
            raise UserError(f"{where}: unknown dataset {dataset!r} (preset {preset} has "
                            f"{', '.join(sorted(datasets))})")
    return dataset


def _check_measured(kind: ClaimKind, metric: str, dataset: str | None, sides: dict[str, Side], context: Context,
                    where: str) -> None:
    """The metric must be recorded where the claim reads it: in the evaluation of each side's application, or in
    the training curve."""
    from ignbench.evaluate.outputs import curve_metrics, produced

    for sample in (c for c in context.runs if dataset in (None, c.dataset)):
        if kind.reads == REBOUND:
            if sample.curve_every <= 0:
                raise UserError(f"{where}: a curve claim needs curve_every > 0 (preset {sample.preset})")
            if metric not in curve_metrics(sample):
                raise UserError(f"{where}: metric {metric!r} is not recorded during training on {sample.dataset}")
            continue
        outputs = produced(sample)
        for name, side in sides.items():
            if side.application not in outputs:
                raise UserError(f"{where} {name}: unknown application {side.application!r} "
                                f"(known: {', '.join(outputs)})")
            if metric not in outputs[side.application]:
                raise UserError(f"{where} {name}: metric {metric!r} is not measured for {side.application} "
                                f"on {sample.dataset} (preset {sample.preset})")


def _check_numbers(kind: ClaimKind, numbers: dict[str, float], where: str) -> None:
    if kind.name == "similar" and not numbers["margin"] > 0:
        raise UserError(f"{where}: margin must be positive")
    share = numbers["share"]
    if not math.isnan(share) and (kind.shape != "proportion" or not 0 < share < 1):
        raise UserError(f"{where}: share must lie strictly between 0 and 1, for all_modes and mode_dropping only")


def _number(entry: dict, key: str, where: str) -> float:
    value = entry.get(key, math.nan)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (key in entry and not math.isfinite(value)):
        raise UserError(f"{where}: {key} must be a finite number")
    return float(value)


def _side(raw: Any, application: str, context: Context, where: str) -> Side:
    if isinstance(raw, str):
        raw = {"method": raw}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: must be a method name or a table with method = ...")
    unknown = sorted(set(raw) - SIDE_KEYS - set(context.sweep_keys))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (a side takes method, application and swept fields)")
    method = raw.get("method")
    if method not in context.methods:
        raise UserError(f"{where}: unknown method {method!r} (the spec runs {', '.join(context.methods)})")
    pins = tuple(sorted((k, v) for k, v in raw.items() if k not in SIDE_KEYS))
    for key, value in pins:
        if not any(getattr(c, key) == value for c in context.runs):
            raise UserError(f"{where}: {key} = {value!r} is not a swept value")
    app = raw.get("application", application)
    if not isinstance(app, str):
        raise UserError(f"{where}: application must be a string")
    return Side(method, app, pins)
