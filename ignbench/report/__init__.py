"""`ignbench report`: for exactly the runs of a plan, tables (Markdown, CSV, LaTeX), figures (PNG), the claims'
scorecard and an HTML fragment; `html.write_index` gathers every fragment of the store into index.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ignbench.evaluate.metrics.collapse import STALL_METRIC
from ignbench.report import forest, tables
from ignbench.report.health import health_table
from ignbench.report.kinds import Inputs, report_kinds
from ignbench.report.scorecard import SUMMARY, decisions_for, scorecard, verdict_counts
from ignbench.spec import Spec
from ignbench.store import Store, write_text
from ignbench.store.frames import curves_frame, results_frame
from ignbench.verdict.card import DEFAULT_POLICY, Policy
from ignbench.verdict.decide import Decision


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
    kind = report_kinds()[spec.report]
    inputs = Inputs(spec, df, curves, stats, modes, store, out)
    section.tables += kind.tables(inputs)
    if kind.health and (df["metric"] == STALL_METRIC).any():
        section.tables.append(("Run health: runs whose f(z) collapsed (stalled) per method, with the exact 90 % "
                               "interval of the stall rate", health_table(df, swept, spec.stall_threshold)))
    if spec.claims:
        section.decisions = decisions_for(spec, df, curves, policy)
        section.scorecard = scorecard(spec, preset, section.decisions)
        section.files += [p for p, _ in forest.forest_figure(section.decisions, out, spec.name)]
        section.seed_figures = forest.strip_figure(section.decisions, df, curves, out, spec.name)
        plateau = tables.plateau_table(curves, sorted(set(curves["metric"])))
        if len(plateau) and kind.plateau:
            section.tables.append(("Has training plateaued? Over the last 20 % of the steps, a run has plateaued when "
                                   "the net change of its curve is at most the spread of the final value over seeds; "
                                   "the stricter range (max - min, jitter included) is beside it", plateau))
    section.figures += kind.figures(inputs)
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
