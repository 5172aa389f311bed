"""Run health: is a finished run fit to stand for its method? One state per run, BatchNorm mode and metric.

- diverged: its loss went non-finite (the store's state); it has no values.
- stalled: its f(z) has collapsed, by the stall classifier (`evaluate.metrics.collapse.is_collapsed`: the share
  of distinct nearest training points among the samples f(z) of the final evaluation): it never left the initial
  plateau, where f maps every z to one output (or a few).
- not converged (per metric): over the last 20 % of training its curve of the metric moved by more than the
  spread (std) of the metric's final value over the seeds of its cell (method and swept values). The move is the
  least-squares slope over the window's points times the window's length (less sensitive to one noisy curve point
  than last minus first). Assessed only where the metric has a training curve and the cell has at least
  MIN_SEEDS_FOR_SPREAD finished seeds: the std of 2 values has one degree of freedom, and a curve point's own
  evaluation noise would then flag converged runs as moving.
- healthy: none of these.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ignbench.evaluate.metrics.collapse import STALL_METRIC, STALL_THRESHOLD, is_collapsed

HEALTHY, STALLED, NOT_CONVERGED, DIVERGED = "healthy", "stalled", "not converged", "diverged"
CONVERGENCE_WINDOW = 0.2
MIN_SEEDS_FOR_SPREAD = 3
CELL = ["method", "dataset", "M"]  # runs of one cell differ only in their seed (with the swept fields, see below)


def stalled_runs(results: pd.DataFrame, bn_mode: str, threshold: float = STALL_THRESHOLD) -> dict[str, bool]:
    """run id -> stalled, for every run whose final f(z) has the classifier's measure under this BatchNorm mode."""
    rows = results[(results["bn_mode"] == bn_mode) & (results["application"] == "f(z)")
                   & (results["metric"] == STALL_METRIC)]
    return {run: is_collapsed(value, threshold) for run, value in zip(rows["run_id"], rows["value"], strict=True)
            if math.isfinite(value)}


def not_converged_runs(curves: pd.DataFrame, metric: str, bn_mode: str, cell: list[str]) -> set[str]:
    """Runs whose curve of `metric` still moved over the last 20 % of training by more than the spread of the
    final value over their cell's seeds (the plateau rule of the low-dimensional reports)."""
    data = curves[(curves["metric"] == metric) & (curves["bn_mode"] == bn_mode) & (curves["state"] == "done")]
    out: set[str] = set()
    for _, group in data.groupby([c for c in cell if c in data.columns], dropna=False):
        last = group["step"].max()
        window = group[group["step"] >= (1 - CONVERGENCE_WINDOW) * last].sort_values("step")
        finals = group[group["step"] == last]["value"]
        if len(finals) < MIN_SEEDS_FOR_SPREAD:
            continue
        spread = float(finals.std())
        moves = {run: _move(points) for run, points in window.groupby("run_id")}
        out |= {run for run, move in moves.items() if move > spread + 1e-12}
    return out


def _move(points: pd.DataFrame) -> float:
    """How far a curve moved over its window: |least-squares slope| x the window's length (two points: their
    difference)."""
    steps, values = points["step"].to_numpy(float), points["value"].to_numpy(float)
    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    if len(steps) < 2 or steps[-1] == steps[0]:
        return 0.0
    slope = float(np.polyfit(steps, values, 1)[0])
    return abs(slope) * (steps[-1] - steps[0])


def run_health(results: pd.DataFrame, curves: pd.DataFrame, bn_mode: str, metric: str | None = None,
               swept: list[str] | None = None, threshold: float = STALL_THRESHOLD) -> dict[str, str]:
    """run id -> health of every finished run (done or diverged) under one BatchNorm mode; convergence is judged on
    `metric` where it has a training curve."""
    runs = results.drop_duplicates("run_id")
    stalled = stalled_runs(results, bn_mode, threshold)
    moving = not_converged_runs(curves, metric, bn_mode, CELL + (swept or [])) if metric else set()
    out = {}
    for run, state in zip(runs["run_id"], runs["state"], strict=True):
        if state == "diverged":
            out[run] = DIVERGED
        elif state == "done":
            out[run] = STALLED if stalled.get(run) else NOT_CONVERGED if run in moving else HEALTHY
    return out
