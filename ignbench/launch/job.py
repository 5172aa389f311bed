"""The job function: train a group of runs, then evaluate them, in one place. Training records the curve and runs
the evaluation that the evaluate stage defines, handed to it here (`Scoring`); local workers and Slurm tasks both
run these, and `ignbench evaluate` runs the evaluation alone (evaluate_only)."""

from __future__ import annotations

from typing import Any

from ignbench.evaluate.run import Curve, evaluate_run
from ignbench.train import Scoring
from ignbench.train import run_group as train_group
from ignbench.train import run_runs as train_runs

SCORING = Scoring(curve=Curve, evaluate=evaluate_run)


def run_group(*args: Any, **kwargs: Any) -> dict[str, str]:
    """`ignbench.train.run_group`, scored by the evaluate stage."""
    return train_group(*args, **kwargs, scoring=SCORING)


def run_runs(*args: Any, **kwargs: Any) -> dict[str, str]:
    """`ignbench.train.run_runs`, scored by the evaluate stage."""
    return train_runs(*args, **kwargs, scoring=SCORING)
