"""What an evaluation records, without running one: application -> metrics of a run's evaluation (`produced`) and
the metrics of its training curve (`curve_metrics`). Claims are checked against them when a spec loads, so this
module imports no torch; `tests/test_train.py` checks that the evaluation records exactly these."""

from __future__ import annotations

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


def produced(cfg: RunConfig) -> dict[str, set[str]]:
    """Application -> metrics that `evaluate_run` records for this config (claims are checked against it)."""
    out = {"f(x)": {"rec_error"}}
    samples_also = set(plugin_metrics())
    if cfg.eval_kind == "fewshot":
        samples = {"nn_distance", "nn_ratio", "copies", "diversity", "coverage", "density"}
        return out | {"f(z)": samples | COLLAPSE | samples_also, "f(f(z))": samples | samples_also}
    if cfg.image:
        fd = feature_metric(cfg)
        generation = {fd, "coverage", "density"} | ({"fid"} if cfg.eval_fid else set())
        out |= {"f(z)": generation | COLLAPSE | samples_also, "f(f(z))": generation | samples_also}
        out |= {name: {"mae", "mae_to_degraded", "mae_input"} for name in DEGRADATIONS}
        out |= {f"f^{k}(z)": {"mae_to_fz", "drift", fd} for k in cfg.fk_steps}
        if cfg.eval_projector:
            out |= {f"{name}: {app}": {fd, "mae", "drift", "source_gap"} for name in ood_names(cfg.channels)
                    for app in ("x'", "f(x')", "f(f(x'))")}
            out |= {app: {fd, "drift", "evenness"} for app in ("interp z", "interp x")}
            if cfg.channels == 1:
                out |= {app: {"attribute"} for app in ("arithmetic: f(z+ - z- + z)", "arithmetic: f(z' - z- + z)")}
        return out
    samples = {"coverage", "density", "coverage_r"} | ({"modes_covered", "n_modes", "hq_share"}
                                        if _has_modes(cfg) else set())
    return out | {"f(z)": samples | COLLAPSE | samples_also, "f(f(z))": samples | samples_also,
                  "drift": {"corr", "mae"}, "drift_near": {"corr", "mae"}}


def curve_metrics(cfg: RunConfig) -> set[str]:
    """Metrics a `Curve` records for this config."""
    if cfg.image:
        return {feature_metric(cfg)} | COLLAPSE
    modes = {"modes_covered", "hq_share"} if _has_modes(cfg) else set()
    return {"coverage", "density", "coverage_r", "drift_corr"} | modes | COLLAPSE
