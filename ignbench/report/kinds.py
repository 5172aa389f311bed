"""The report kinds, in one registry: the tables and figures of each kind of experiment, registered as entry points of
group `ignbench.report_kinds` (ignbench's own in its pyproject.toml; a spec names one with `report = "..."`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ignbench.report import figures, health, tables
from ignbench.spec import Spec
from ignbench.store import Store

Table = tuple[str, pd.DataFrame]
Figure = tuple[Path, str]
GENERATION_METRICS = ["fld", "coverage", "density"]
FEWSHOT_METRICS = ["rec_error", "nn_ratio", "copies", "diversity", "coverage", "density"]
LOWDIM_METRICS = ["modes_covered", "hq_share", "coverage", "coverage_r", "density"]
MODE_NOTE = {"eval": "BatchNorm in eval mode (running statistics)",
             "train": "BatchNorm in train mode (batch statistics, batches of eval_batch)", "none": ""}


@dataclass
class Inputs:
    """What a report kind reads: its spec, the plan's results and curves and their summary, where figures go."""

    spec: Spec
    df: pd.DataFrame
    curves: pd.DataFrame
    stats: pd.DataFrame
    modes: list[str]
    store: Store
    out: Path

    @property
    def paper(self) -> pd.DataFrame:
        return tables.load_paper(self.spec.reference)

    def per_mode(self, make: Callable[[str, str], list[Table]]) -> list[Table]:
        """make(mode, note) for every BatchNorm mode the runs were scored in."""
        return [t for mode in self.modes for t in make(mode, f" — {MODE_NOTE[mode]}" if MODE_NOTE[mode] else "")]


@dataclass(frozen=True)
class ReportKind:
    """A kind of report: its tables and figures; `health` adds the stall-rate table of run health (a kind that is
    about stalls shows its own), `plateau` the table of whether training has plateaued."""

    name: str
    tables: Callable[[Inputs], list[Table]]
    figures: Callable[[Inputs], list[Figure]]
    health: bool = True
    plateau: bool = False


def _generation(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: [(f"Generation{note}", tables.generation_table(
        i.stats, i.paper, GENERATION_METRICS, mode))])


def _curves(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: [(f"FLD during training and at the end{note}",
                                           tables.curve_table(i.stats, i.curves, mode))])


def _stability(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: [(f"f^k(z) for growing k{note}", tables.stability_table(i.stats, mode))])


def _fewshot(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: [(
        "Few-shot samples against the training images: reconstruction, memorisation (nearest training image), "
        f"diversity, and pixel-space Coverage/Density{note}",
        tables.application_table(i.stats, FEWSHOT_METRICS, ["f(x)", "f(z)", "f(f(z))"], mode))])


def _restoration(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: [
        (f"MAE of f(x') against the clean x{note}", tables.restoration_table(i.stats, i.paper, "mae", mode)),
        (f"The paper's literal wording, MAE of f(x') against the degraded x'{note} (see REPRODUCE.md)",
         tables.restoration_table(i.stats, tables.load_paper(""), "mae_to_degraded", mode))])


def _lowdim(i: Inputs) -> list[Table]:
    return [("Samples f(z) and f(f(z))", tables.application_table(i.stats, LOWDIM_METRICS, ["f(z)", "f(f(z))"])),
            ("Drift δ(z) vs exact manifold distance on a grid (drift: whole square; drift_near: points near the "
             "manifold)", tables.application_table(i.stats, ["corr", "mae"], ["drift", "drift_near"]))]


def _projector(i: Inputs) -> list[Table]:
    return i.per_mode(lambda mode, note: _projector_tables(i.stats, mode, note))


def _stall(i: Inputs) -> list[Table]:
    swept = list(i.spec.sweep)
    threshold = i.spec.stall_threshold
    out = [("Stall rate per cell: runs whose f(z) collapsed (share of distinct nearest training points below "
            f"{threshold:g}), with the exact 90 % interval", health.health_table(i.df, swept, threshold))]
    settling = health.settling_table(i.curves, swept, threshold)
    if len(settling):
        out.append(("How early the stall classifier settles: the first curve step from which each run's answer "
                    "equals its final one", settling))
    return out


def _projector_tables(stats: pd.DataFrame, mode: str, note: str) -> list[Table]:
    """IGN Figs 4-8: repeated application, projections of unseen inputs, interpolation and arithmetic."""
    metrics = set(stats.metric.dropna())
    fd = "fld" if "fld" in metrics else "fid"  # digits: FLD; RGB faces: FID
    apps = sorted(set(stats.application.dropna()))
    iterates = sorted((a for a in apps if a.startswith("f^")), key=tables.iterate_order)
    unseen = [a for a in apps if ": " in a and not a.startswith("arithmetic")]
    return [
        (f"Generation and repeated application{note}",
         tables.application_table(stats, [fd, "drift", "mae_to_fz"], iterates or ["f(z)"], mode)),
        (f"Unseen inputs x' (IGN Fig. 5), projected once and twice: {fd.upper()} against the test set, MAE to the "
         f"clean x, "
         f"drift |f(y) - y| (0 on the learned manifold) and how much of its source y keeps{note}",
         tables.application_table(stats, [fd, "mae", "drift", "source_gap"], sorted(unseen, key=_unseen_order),
                                  mode)),
        (f"Interpolation paths: quality ({fd.upper()}), distance from the learned manifold (drift |f(y) - y|) and "
         f"evenness{note}", tables.application_table(stats, [fd, "drift", "evenness"], ["interp z", "interp x"], mode)),
        (f"Latent arithmetic f(z+ - z- + z), the attribute being LeNet's class of f(z+), against the control "
         f"z' drawn without it{note}",
         tables.application_table(stats, ["attribute"], [a for a in apps if a.startswith("arithmetic")], mode)),
    ]


def _unseen_order(application: str) -> tuple[str, int]:
    name, applied = application.split(": ", 1)
    return name, ["x'", "f(x')", "f(f(x'))"].index(applied)




def _name(i: Inputs) -> str:
    return i.spec.name


GENERATION = ReportKind("generation", _generation, lambda i: figures.generation_figures(i.df, i.store, i.out, _name(i)))
LOWDIM = ReportKind("lowdim", _lowdim, lambda i: figures.lowdim_figures(i.df, i.store, i.out, _name(i), i.spec.figures)
                    + figures.curve_figure(i.curves, i.out, _name(i)), plateau=True)
RESTORATION = ReportKind("restoration", _restoration,
                         lambda i: figures.restoration_figure(i.df, i.store, i.out, _name(i)))
CURVES = ReportKind("curves", _curves, lambda i: figures.curve_figure(i.curves, i.out, _name(i))
                    + figures.generation_figures(i.df, i.store, i.out, _name(i)))
STABILITY = ReportKind("stability", _stability, lambda i: figures.stability_figures(i.df, i.store, i.out, _name(i)))
PROJECTOR = ReportKind("projector", _projector, lambda i: figures.projector_figures(i.df, i.store, i.out, _name(i)))
FEWSHOT = ReportKind("fewshot", _fewshot, lambda i: figures.fewshot_figures(i.df, i.store, i.out, _name(i)))
STALL = ReportKind("stall", _stall, lambda i: health.collapse_grid(i.df, i.store, i.out, _name(i),
                                                                   i.spec.stall_threshold)
                   + health.classifier_figure(i.curves, i.out, _name(i), i.spec.stall_threshold), health=False)


def _check(obj: Any) -> str:
    ok = isinstance(obj, ReportKind) and callable(obj.tables) and callable(obj.figures)
    return "" if ok else f"not an ignbench.report.kinds.ReportKind but a {type(obj).__name__}"


def report_kinds() -> dict[str, ReportKind]:
    from ignbench.core import plugins

    return plugins.load("report_kinds", _check)
