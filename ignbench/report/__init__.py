"""`ignbench report`: for exactly the runs of a plan, tables (Markdown, CSV, LaTeX), figures (PNG), the claims'
scorecard and an HTML fragment; `html.write_index` gathers every fragment of the store into index.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ignbench.evaluate.metrics.collapse import STALL_METRIC, STALL_THRESHOLD
from ignbench.report import figures, forest, health, tables
from ignbench.report.health import health_table
from ignbench.report.scorecard import SUMMARY, decisions_for, scorecard, verdict_counts
from ignbench.spec import Spec
from ignbench.store import Store, write_text
from ignbench.store.frames import curves_frame, results_frame
from ignbench.verdict.card import DEFAULT_POLICY, Policy
from ignbench.verdict.decide import Decision

GENERATION_METRICS = ["fld", "coverage", "density"]
FEWSHOT_METRICS = ["rec_error", "nn_ratio", "copies", "diversity", "coverage", "density"]
LOWDIM_METRICS = ["modes_covered", "hq_share", "coverage", "coverage_r", "density"]
MODE_NOTE = {"eval": "BatchNorm in eval mode (running statistics)",
             "train": "BatchNorm in train mode (batch statistics, batches of eval_batch)", "none": ""}


@dataclass
class Section:
    """One experiment at one preset: its tables, scorecard and figures, for the terminal and the HTML page."""

    experiment: str
    preset: str
    caption: str
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    scorecard: pd.DataFrame | None = None
    decisions: list[Decision] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)
    seed_figures: list[tuple[Path, str]] = field(default_factory=list)


def report_experiment(spec: Spec, preset: str, seeds: int | None, store: Store, out_root: Path,
                      policy: Policy = DEFAULT_POLICY) -> Section:
    runs = spec.expand(preset, seeds)
    df = results_frame(runs, store)
    curves = curves_frame(runs, store)
    out = out_root / preset
    out.mkdir(parents=True, exist_ok=True)
    stats = tables.summarize(df)
    data = ", ".join(sorted(set(df["dataset"])))
    finished = int((df.drop_duplicates("run_id")["state"] == "done").sum())
    caption = (f"{spec.title}. Ours: mean ± std over seeds (finished/planned runs) at preset '{preset}' on {data}, "
               f"{finished} of {len(runs)} planned runs finished"
               f"{'' if preset == 'paper' else ' (scaled down: not comparable in absolute value to the paper)'}."
               f" Source: {spec.paper}.")
    section = Section(spec.name, preset, caption)
    modes = [m for m in ("eval", "train", "none") if m in set(df["bn_mode"].dropna())] or ["none"]
    swept = list(spec.sweep)
    if spec.report == "stall":
        section.tables.append(("Stall rate per cell: runs whose f(z) collapsed (share of distinct nearest "
                               f"training points below {STALL_THRESHOLD:g}), with the exact 90 % interval",
                               health_table(df, swept)))
        settling = health.settling_table(curves, swept)
        if len(settling):
            section.tables.append(("How early the stall classifier settles: the first curve step from which each "
                                   "run's answer equals its final one", settling))
    else:
        _tables(section, spec, stats, curves, modes)
        if (df["metric"] == STALL_METRIC).any():
            section.tables.append(("Run health: runs whose f(z) collapsed (stalled) per method, with the exact 90 % "
                                   "interval of the stall rate", health_table(df, swept)))
    if spec.claims:
        section.decisions = decisions_for(spec, df, curves, policy)
        section.scorecard = scorecard(spec, preset, section.decisions)
        section.files += [p for p, _ in forest.forest_figure(section.decisions, out, spec.name)]
        section.seed_figures = forest.strip_figure(section.decisions, df, curves, out, spec.name)
        plateau = tables.plateau_table(curves, sorted(set(curves["metric"])))
        if len(plateau) and spec.report == "lowdim":
            section.tables.append(("Has training plateaued? Over the last 20 % of the steps, a run has plateaued when "
                                   "the net change of its curve is at most the spread of the final value over seeds; "
                                   "the stricter range (max - min, jitter included) is beside it", plateau))
    section.figures += _figures(spec, df, curves, store, out)
    _write(section, out)
    _write_values(df, curves, swept, out / f"{spec.name}_values.csv", out / f"{spec.name}_curve_values.csv")
    section.files += [out / f"{spec.name}_values.csv", out / f"{spec.name}_curve_values.csv"]
    return section


VALUE_COLUMNS = ["experiment", "preset", "run_id", "method", "dataset", "seed", "state", "M"]


def _write_values(df: pd.DataFrame, curves: pd.DataFrame, swept: list[str], values_path: Path,
                  curves_path: Path) -> None:
    """Every per-run value the report and its verdicts rest on (the plan's runs, tidy), and the training curves:
    enough to decide the claims again without the run store (`ignbench.verdict.card.decide_claims`)."""
    keys = list(dict.fromkeys(VALUE_COLUMNS + [k for k in swept if k in df.columns]))
    write_text(values_path, df[keys + ["bn_mode", "application", "metric", "value"]].to_csv(index=False))
    curve_keys = [k for k in keys if k in curves.columns]
    write_text(curves_path, curves[curve_keys + ["step", "bn_mode", "metric", "value"]].to_csv(index=False))


def _tables(section: Section, spec: Spec, stats: pd.DataFrame, curves: pd.DataFrame, modes: list[str]) -> None:
    paper = tables.load_paper(spec.reference)
    for mode in modes:
        note = f" — {MODE_NOTE[mode]}" if MODE_NOTE[mode] else ""
        if spec.report == "generation":
            section.tables.append((f"Generation{note}", tables.generation_table(stats, paper, GENERATION_METRICS,
                                                                                mode)))
        elif spec.report == "curves":
            section.tables.append((f"FLD during training and at the end{note}",
                                   tables.curve_table(stats, curves, mode)))
        elif spec.report == "stability":
            section.tables.append((f"f^k(z) for growing k{note}", tables.stability_table(stats, mode)))
        elif spec.report == "fewshot":
            section.tables.append((f"Few-shot samples against the training images: reconstruction, memorisation "
                                   f"(nearest training image), diversity, and pixel-space Coverage/Density{note}",
                                   tables.application_table(stats, FEWSHOT_METRICS, ["f(x)", "f(z)", "f(f(z))"],
                                                            mode)))
        elif spec.report == "projector":
            _projector_tables(section, stats, mode, note)
        elif spec.report == "restoration":
            section.tables.append((f"MAE of f(x') against the clean x{note}",
                                   tables.restoration_table(stats, paper, "mae", mode)))
            section.tables.append((f"The paper's literal wording, MAE of f(x') against the degraded x'{note} "
                                   "(see REPRODUCE.md)", tables.restoration_table(stats, tables.load_paper(""),
                                                                                  "mae_to_degraded", mode)))
        else:
            section.tables.append(("Samples f(z) and f(f(z))",
                                   tables.application_table(stats, LOWDIM_METRICS, ["f(z)", "f(f(z))"])))
            section.tables.append(("Drift δ(z) vs exact manifold distance on a grid (drift: whole square; "
                                   "drift_near: points near the manifold)",
                                   tables.application_table(stats, ["corr", "mae"], ["drift", "drift_near"])))


def _projector_tables(section: Section, stats: pd.DataFrame, mode: str, note: str) -> None:
    """IGN Figs 4-8: repeated application, projections of unseen inputs, interpolation and arithmetic."""
    metrics = set(stats.metric.dropna())
    fd = "fld" if "fld" in metrics else "fid"  # digits: FLD; RGB faces: FID
    apps = sorted(set(stats.application.dropna()))
    iterates = sorted((a for a in apps if a.startswith("f^")), key=tables.iterate_order)
    unseen = [a for a in apps if ": " in a and not a.startswith("arithmetic")]
    section.tables += [
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


def _figures(spec: Spec, df: pd.DataFrame, curves: pd.DataFrame, store: Store, out: Path) -> list:
    name = spec.name
    if spec.report == "stall":
        return health.collapse_grid(df, store, out, name) + health.classifier_figure(curves, out, name)
    if spec.report == "generation":
        return figures.generation_figures(df, store, out, name)
    if spec.report == "curves":
        return figures.curve_figure(curves, out, name) + figures.generation_figures(df, store, out, name)
    if spec.report == "stability":
        return figures.stability_figures(df, store, out, name)
    if spec.report == "restoration":
        return figures.restoration_figure(df, store, out, name)
    if spec.report == "fewshot":
        return figures.fewshot_figures(df, store, out, name)
    if spec.report == "projector":
        return figures.projector_figures(df, store, out, name)
    return figures.lowdim_figures(df, store, out, name, spec.figures) + figures.curve_figure(curves, out, name)


def _write(section: Section, out: Path) -> None:
    name = section.experiment
    main = section.tables[0][1] if section.tables else pd.DataFrame()
    write_text(out / f"{name}.csv", main.to_csv(index=False))
    write_text(out / f"{name}.tex", "\n".join(tables.to_latex(t, f"{section.caption} {title}")
                                              for title, t in section.tables))
    for i, (_, table) in enumerate(section.tables[1:], start=2):
        write_text(out / f"{name}_table{i}.csv", table.to_csv(index=False))
    section.files += [out / f"{name}.md", out / f"{name}.csv", out / f"{name}.tex"]
    if section.scorecard is not None:
        write_text(out / f"{name}_scorecard.csv", section.scorecard.to_csv(index=False))
        write_text(out / f"{name}_scorecard.tex", tables.to_latex(section.scorecard, f"Claims of {name}"))
        section.files += [out / f"{name}_scorecard.csv", out / f"{name}_scorecard.tex"]
    write_text(out / f"{name}.md", render_markdown(section))
    from ignbench.report.html import write_fragment

    section.files.append(write_fragment(section, out / f"{name}.section.html"))


def render_markdown(section: Section) -> str:
    parts = [f"### {section.experiment} ({section.preset})", "", section.caption]
    if section.scorecard is not None:
        parts += ["", f"Claims: {verdict_counts(section.decisions)}", "",
                  tables.to_markdown(section.scorecard[SUMMARY])]
    for title, table in section.tables:
        parts += ["", f"{title}:", "", tables.to_markdown(table)]
    return "\n".join(parts) + "\n"
