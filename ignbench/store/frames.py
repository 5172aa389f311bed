"""Tidy frames of results for exactly the runs of a plan (spec x preset x seeds), never whatever else is stored
(`ignbench.load_results` reads a spec's plan through them)."""

from __future__ import annotations

import pandas as pd

from ignbench.core.config import RunConfig
from ignbench.methods import METHODS
from ignbench.store import State, Store, read_curve, read_metrics

RUN_COLUMNS = ["experiment", "preset", "run_id", "eval_id", "method", "dataset", "seed", "state", "M"]


def _run_row(cfg: RunConfig, store: Store) -> dict:
    """The run's fields and its state for the plan (`store.view_run`), with what is wrong where it is damaged."""
    view = store.view(cfg)
    config = cfg.to_dict()
    config.pop("betas")
    config.pop("fk_steps")
    return {**config, "run_id": cfg.run_id, "eval_id": cfg.eval_id, "state": str(view.state),
            "problem": view.problem, "M": cfg.resolved_imle_m if METHODS[cfg.method].imle else 0}


def results_frame(runs: list[RunConfig], store: Store) -> pd.DataFrame:
    """One row per (run, bn_mode, application, metric); a run without metrics (not finished, diverged, failed)
    appears once with value NaN, its `state` saying why."""
    rows = []
    for cfg in runs:
        base = _run_row(cfg, store)
        metrics = read_metrics(store.eval_dir(cfg)) if base["state"] == State.DONE else {}
        if not metrics:
            rows.append({**base, "bn_mode": None, "application": None, "metric": None, "value": float("nan")})
        for mode, applications in metrics.items():
            for application, values in applications.items():
                for metric, value in values.items():
                    rows.append({**base, "bn_mode": mode, "application": application, "metric": metric,
                                 "value": float("nan") if value is None else float(value)})
    return pd.DataFrame(rows)


def curves_frame(runs: list[RunConfig], store: Store) -> pd.DataFrame:
    """Metrics recorded during training (runs with curve_every > 0): one row per (run, step, bn_mode, metric)."""
    columns = ["run_id", "method", "dataset", "seed", "preset", "M", "state", "step", "bn_mode", "metric", "value"]
    frames = []
    for cfg in runs:
        rd = store.run_dir(cfg)
        base = _run_row(cfg, store)
        if not rd.curve.exists() or base["state"] == State.DAMAGED:
            continue
        frame = pd.DataFrame(read_curve(rd.curve), columns=["step", "bn_mode", "metric", "value"])
        frames.append(frame.assign(**{k: v for k, v in base.items() if k not in frame.columns}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def unplanned_runs(experiment: str, planned: set[str], store: Store) -> list[tuple[str, dict, str]]:
    """(run id, config, state) of stored runs of an experiment that are not in the plan."""
    return [(rd.path.name, config, str(view.state))
            for rd, config, view in store.iter_runs(experiment) if rd.path.name not in planned]
