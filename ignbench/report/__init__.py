"""`ignbench report`: tables (Markdown, CSV, LaTeX), figures (PNG) and one HTML page, from the store only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ignbench.report import figures, tables
from ignbench.spec import Spec
from ignbench.store import Store, load_curves, load_results

GENERATION_METRICS = ["fld", "coverage", "density"]
LOWDIM_METRICS = ["modes_covered", "hq_share", "coverage", "density"]


@dataclass
class Section:
    """One experiment at one preset: its table and figures, for the terminal and the HTML page."""

    experiment: str
    preset: str
    caption: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)
    extra_tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def presets_with_results(spec: Spec, store: Store) -> list[str]:
    df = load_results(spec.runs_of, store.root)
    if df.empty:
        return []
    return [p for p in spec.preset_names() if p in set(df["preset"])]


def report_experiment(spec: Spec, preset: str, store: Store, out_root: Path) -> Section:
    df = load_results(spec.runs_of, store.root)
    df = df[df["preset"] == preset] if not df.empty else df
    tables.require_results(df, spec.name, preset)
    out = out_root / preset
    out.mkdir(parents=True, exist_ok=True)
    stats = tables.summarize(df)
    data = ", ".join(sorted(set(df["dataset"])))
    caption = (f"{spec.title}. Ours: mean ± std (n seeds) at preset '{preset}' on {data}"
               f"{'' if preset == 'paper' else ' (scaled down: not comparable in absolute value to the paper)'}."
               f" Source: {spec.paper}.")
    if spec.report == "generation":
        table = tables.generation_table(stats, tables.load_paper(spec.reference), GENERATION_METRICS)
        section = Section(spec.name, preset, caption, table)
        section.figures += figures.generation_figures(df, store, out, spec.name)
    elif spec.report == "curves":
        curves = load_curves(spec.runs_of, store.root)
        curves = curves[curves["preset"] == preset]
        table = tables.curve_table(stats, curves)
        section = Section(spec.name, preset, caption, table)
        section.figures += figures.fld_curve_figure(curves, out, spec.name)
        section.figures += figures.generation_figures(df, store, out, spec.name)
    elif spec.report == "stability":
        table = tables.stability_table(stats)
        section = Section(spec.name, preset, caption, table)
        section.figures += figures.stability_figures(df, store, out, spec.name)
    elif spec.report == "restoration":
        table = tables.restoration_table(stats, tables.load_paper(spec.reference), "mae")
        section = Section(spec.name, preset, caption, table)
        literal = tables.restoration_table(stats, tables.load_paper(""), "mae_to_degraded")
        section.extra_tables.append(("The paper's literal wording, MAE of f(x') against the degraded x' "
                                     "(see REPRODUCE.md)", literal))
        literal.to_csv(out / f"{spec.name}_to_degraded.csv", index=False)
        section.figures += figures.restoration_figure(df, store, out, spec.name)
    else:
        table = tables.lowdim_table(stats[stats.application.isin(["f(z)", "f(f(z))"])], LOWDIM_METRICS)
        section = Section(spec.name, preset, caption, table)
        drift = stats[stats.application.isin(["drift", "drift_near"])]
        if not drift.empty:
            drift_table = tables.lowdim_table(drift, ["corr", "mae"])
            section.extra_tables.append(("Drift δ(z) vs exact manifold distance on a grid "
                                         "(drift: whole square; drift_near: points within 1 of the manifold)",
                                         drift_table))
            drift_table.to_csv(out / f"{spec.name}_drift.csv", index=False)
        section.figures += figures.lowdim_figures(df, store, out, spec.name, spec.figures)
    stats.to_csv(out / f"{spec.name}_long.csv", index=False)
    table.to_csv(out / f"{spec.name}.csv", index=False)
    (out / f"{spec.name}.tex").write_text(tables.to_latex(table, caption))
    (out / f"{spec.name}.md").write_text(render_markdown(section))
    section.files += [out / f"{spec.name}.md", out / f"{spec.name}.csv", out / f"{spec.name}.tex",
                      out / f"{spec.name}_long.csv"]
    return section


def render_markdown(section: Section) -> str:
    parts = [f"### {section.experiment} ({section.preset})", "", section.caption, "",
             tables.to_markdown(section.table)]
    for title, extra in section.extra_tables:
        parts += ["", title, "", tables.to_markdown(extra)]
    return "\n".join(parts) + "\n"

