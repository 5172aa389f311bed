"""What every recorded metric means: its label in reports and whether higher is better."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    label: str
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


MEASURES: dict[str, Measure] = {
    "fld": Measure("FLD", False),
    "fid": Measure("FID", False),
    "coverage": Measure("Coverage", True),
    "density": Measure("Density", True),
    "coverage_r": Measure("Coverage at r", True),
    "rec_error": Measure("rec. error", False),
    "mae": Measure("MAE", False),
    "mae_to_degraded": Measure("MAE to x'", False),
    "mae_input": Measure("MAE of x'", False),
    "mae_to_fz": Measure("L1 to f(z)", False),
    "drift": Measure("drift", False),
    "modes_covered": Measure("Modes covered", True),
    "n_modes": Measure("modes", True),
    "hq_share": Measure("HQ share", True),
    "corr": Measure("corr. with d_M", True),
    "drift_corr": Measure("drift corr. with d_M", True),
    "evenness": Measure("largest step / mean step", False),
    "source_gap": Measure("L1 to another x minus L1 to its own x", True),
    "nn_distance": Measure("distance to nearest training image", True),
    "nn_ratio": Measure("nearest-neighbour ratio", True),
    "copies": Measure("copies", False),
    "diversity": Measure("diversity", True),
    "attribute": Measure("share with the attribute", True),
    "spread": Measure("sample spread", True),
    "distinct_nn": Measure("distinct nearest training points", True),
}


def label(metric: str, arrow: bool = True) -> str:
    m = MEASURES.get(metric)
    if m is None:
        return metric
    return f"{m.label} ({m.arrow})" if arrow else m.label
