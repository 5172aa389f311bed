"""What an evaluation records, without running one: application -> metrics of a run's evaluation (`produced`) and
the metrics of its training curve (`curve_metrics`). Claims are checked against them when a spec loads, so this
module imports no torch; `tests/test_train.py` checks that the evaluation records exactly these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ignbench.core.config import RunConfig, dataset_entry
from ignbench.core.measures import plugin_metrics

COLLAPSE = {"spread", "distinct_nn"}  # recorded for f(z) by every evaluation kind, and during training
DEGRADATIONS = ("blur", "gaussian_noise", "salt_pepper", "lines_rows")  # NAIGN Table 2's columns, in order


def ood_names(channels: int) -> tuple[str, ...]:
    """The unseen inputs of IGN Fig. 5 for images with this many channels (`projections.ood_inputs`)."""
    return ("noise", "grayscale", "sketch") if channels > 1 else ("noise", "sketch")


def feature_metric(cfg: RunConfig) -> str:
    """The Fréchet metric of a dataset: FLD (LeNet) for digits, FID (InceptionV3) for RGB faces."""
    return "fld" if cfg.channels == 1 else "fid"


def _has_modes(cfg: RunConfig) -> bool:
    return getattr(dataset_entry(cfg.dataset), "has_modes", False)


def _samples(cfg: RunConfig, recorded: set[str]) -> dict[str, set[str]]:
    """f(x)'s reconstruction, and the sample metrics of f(z) and f(f(z)) (f(z) also its collapse measures), plugin
    metrics included."""
    also = set(plugin_metrics())
    return {"f(x)": {"rec_error"}, "f(z)": recorded | COLLAPSE | also, "f(f(z))": recorded | also}


def _generation_outputs(cfg: RunConfig) -> dict[str, set[str]]:
    fd = feature_metric(cfg)
    out = _samples(cfg, {fd, "coverage", "density"} | ({"fid"} if cfg.eval_fid else set()))
    out |= {name: {"mae", "mae_to_degraded", "mae_input"} for name in DEGRADATIONS}
    out |= {f"f^{k}(z)": {"mae_to_fz", "drift", fd} for k in cfg.fk_steps}
    if cfg.eval_projector:
        out |= {f"{name}: {app}": {fd, "mae", "drift", "source_gap"} for name in ood_names(cfg.channels)
                for app in ("x'", "f(x')", "f(f(x'))")}
        out |= {app: {fd, "drift", "evenness"} for app in ("interp z", "interp x")}
        if cfg.channels == 1:
            out |= {app: {"attribute"} for app in ("arithmetic: f(z+ - z- + z)", "arithmetic: f(z' - z- + z)")}
    return out


def _fewshot_outputs(cfg: RunConfig) -> dict[str, set[str]]:
    return _samples(cfg, {"nn_distance", "nn_ratio", "copies", "diversity", "coverage", "density"})


def _lowdim_outputs(cfg: RunConfig) -> dict[str, set[str]]:
    modes = {"modes_covered", "n_modes", "hq_share"} if _has_modes(cfg) else set()
    return _samples(cfg, {"coverage", "density", "coverage_r"} | modes) | {"drift": {"corr", "mae"},
                                                                         "drift_near": {"corr", "mae"}}


def _image_curve(cfg: RunConfig) -> set[str]:
    return {feature_metric(cfg)} | COLLAPSE


def _lowdim_curve(cfg: RunConfig) -> set[str]:
    modes = {"modes_covered", "hq_share"} if _has_modes(cfg) else set()
    return {"coverage", "density", "coverage_r", "drift_corr"} | modes | COLLAPSE


@dataclass(frozen=True)
class EvaluationKind:
    """An evaluation, in one registry entry: what it records (`outputs`, and during training `curve`, light), and
    the function that measures a model under one BatchNorm mode, `measure(context, f) -> (metrics, files)`, named
    as "module:function" and loaded when a run is scored. A dataset's kind selects it (`DATASET_EVALUATION`)."""

    name: str
    outputs: Callable[[RunConfig], dict[str, set[str]]]
    curve: Callable[[RunConfig], set[str]]
    measure: str


EVALUATIONS: dict[str, EvaluationKind] = {k.name: k for k in (
    EvaluationKind("generation", _generation_outputs, _image_curve, "ignbench.evaluate.run:generation_metrics"),
    EvaluationKind("fewshot", _fewshot_outputs, _image_curve, "ignbench.evaluate.run:fewshot_metrics"),
    EvaluationKind("lowdim", _lowdim_outputs, _lowdim_curve, "ignbench.evaluate.run:lowdim_metrics"),
)}


def produced(cfg: RunConfig) -> dict[str, set[str]]:
    """Application -> metrics the run's evaluation records (claims are checked against it when a spec loads)."""
    return EVALUATIONS[cfg.eval_kind].outputs(cfg)


def curve_metrics(cfg: RunConfig) -> set[str]:
    """Metrics the run's training curve records."""
    return EVALUATIONS[cfg.eval_kind].curve(cfg)
