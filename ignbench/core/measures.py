"""What every recorded metric means: its label in reports and whether higher is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ignbench.core import plugins


@dataclass(frozen=True)
class Measure:
    """A metric: its label in reports and whether higher is better. A plugin's metric also brings `compute(samples,
    reference) -> float`, which every evaluation applies to f(z) and f(f(z)) against the real points it scores
    against (test images, test points, or the few-shot training images); ignbench's own are computed by its
    evaluation code (compute None)."""

    label: str
    higher_is_better: bool
    compute: Callable[[Any, Any], float] | None = None

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


# The built-ins, registered through the entry points of group ignbench.metrics (pyproject.toml) like a plugin's.
FLD = Measure("FLD", False)
FID = Measure("FID", False)
COVERAGE = Measure("Coverage", True)
DENSITY = Measure("Density", True)
COVERAGE_R = Measure("Coverage at r", True)
REC_ERROR = Measure("rec. error", False)
MAE = Measure("MAE", False)
MAE_TO_DEGRADED = Measure("MAE to x'", False)
MAE_INPUT = Measure("MAE of x'", False)
MAE_TO_FZ = Measure("L1 to f(z)", False)
DRIFT = Measure("drift", False)
MODES_COVERED = Measure("Modes covered", True)
N_MODES = Measure("modes", True)
HQ_SHARE = Measure("HQ share", True)
CORR = Measure("corr. with d_M", True)
DRIFT_CORR = Measure("drift corr. with d_M", True)
EVENNESS = Measure("largest step / mean step", False)
SOURCE_GAP = Measure("L1 to another x minus L1 to its own x", True)
NN_DISTANCE = Measure("distance to nearest training image", True)
NN_RATIO = Measure("nearest-neighbour ratio", True)
COPIES = Measure("copies", False)
DIVERSITY = Measure("diversity", True)
ATTRIBUTE = Measure("share with the attribute", True)
SPREAD = Measure("sample spread", True)
DISTINCT_NN = Measure("distinct nearest training points", True)


def _check(obj: Any) -> str:
    if not isinstance(obj, Measure):
        return f"not an ignbench.core.measures.Measure but a {type(obj).__name__}"
    return "" if obj.compute is None or callable(obj.compute) else "compute must be callable"


MEASURES: dict[str, Measure] = plugins.load("metrics", _check)


def plugin_metrics() -> dict[str, Measure]:
    """The metrics that bring their own computation (plugins')."""
    return {name: m for name, m in MEASURES.items() if m.compute is not None}


def label(metric: str, arrow: bool = True) -> str:
    m = MEASURES.get(metric)
    if m is None:
        return metric
    return f"{m.label} ({m.arrow})" if arrow else m.label
