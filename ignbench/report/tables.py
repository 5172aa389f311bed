"""Tables from a plan's tidy results: mean ± std (finished/planned, failures) per cell, the paper beside ours."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ignbench.core.measures import label
from ignbench.core.resources import shipped
from ignbench.methods import LABELS, METHODS, method_order

DECIMALS = {"fld": 1, "fid": 1}
PAPER_DECIMALS = {"fld": 0, "fid": 0}  # as printed in the paper
RUN_KEYS = ["method", "dataset", "M"]
CELL_KEYS = [*RUN_KEYS, "bn_mode", "application", "metric"]
BAD_STATES = ("diverged", "failed", "timeout", "cancelled", "out-of-memory", "node-fail")


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """mean, std and n over seeds for every (method, dataset, M, bn_mode, application, metric) cell, with how many
    runs of its group were planned and how many ended diverged, failed or are not finished."""
    runs = df.drop_duplicates("run_id")
    counts = runs.groupby(RUN_KEYS)["state"].agg(planned="size", states=lambda s: dict(s.value_counts()))
    scored = df.dropna(subset=["metric"])
    stats = scored.groupby(CELL_KEYS)["value"].agg(mean="mean", std="std", n="count").reset_index()
    # groups with no scored run at all keep one row per BatchNorm mode seen elsewhere, so their failure shows
    missing = counts.index.difference(stats.set_index(RUN_KEYS).index.unique())
    if len(missing):
        stub = pd.DataFrame([dict(zip(RUN_KEYS, key, strict=True)) for key in missing])
        stats = pd.concat([stats, stub.assign(bn_mode=None, application=None, metric=None, mean=math.nan,
                                              std=math.nan, n=0)], ignore_index=True)
    return stats.merge(counts.reset_index(), on=RUN_KEYS, how="left")


def run_note(planned: int, n: int, states: dict) -> str:
    """'(2/3, 1 diverged)': finished of planned, then what became of the others."""
    others = [f"{count} {state}" for state, count in sorted(states.items()) if state != "done" and count]
    return f"({n}/{planned}{', ' if others else ''}{', '.join(others)})"


def fmt_cell(mean: float, std: float, n: int, metric: str, decimals: int | None = None) -> str:
    if n == 0 or not np.isfinite(mean):
        return "–"
    d = DECIMALS.get(metric, 2) if decimals is None else decimals
    spread = "" if n < 2 or not np.isfinite(std) else f" ± {std:.{d}f}"
    return f"{mean:.{d}f}{spread}"


def _select(frame: pd.DataFrame, **where: object) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


def ours_cell(stats: pd.DataFrame, decimals: int | None = None, **where: object) -> str:
    """'mean ± std (n/planned, failures)' of the one summary cell matching `where`; a group without any finished
    run shows why ('– (0/3, 3 diverged)')."""
    cell = _select(stats, **where)
    if len(cell):
        row = cell.iloc[0]
        return f"{fmt_cell(row['mean'], row['std'], int(row['n']), str(where['metric']), decimals)} " \
               f"{run_note(int(row['planned']), int(row['n']), row['states'])}"
    group = _select(stats, **{k: v for k, v in where.items() if k in RUN_KEYS})
    if len(group) and group["n"].max() == 0:  # no run of the group was scored: say why
        row = group.iloc[0]
        return f"– {run_note(int(row['planned']), 0, row['states'])}"
    return "–"  # not measured for this group (e.g. modes of a manifold)


def paper_cell(paper: pd.DataFrame, decimals: int | None = None, **where: object) -> str:
    """'mean ± std' as the paper prints it, or '–'."""
    ref = _select(paper, **where)
    if not len(ref):
        return "–"
    return fmt_cell(ref["mean"].iloc[0], ref["std"].iloc[0], 2, str(where["metric"]), decimals)


def load_paper(name: str) -> pd.DataFrame:
    path = shipped("paper") / name if name else None
    if path is None or not path.is_file():
        return pd.DataFrame(columns=["method", "application", "metric", "mean", "std"])
    return pd.read_csv(path)


def methods_in(stats: pd.DataFrame) -> list[str]:
    return sorted(set(stats["method"]), key=method_order)


def generation_table(stats: pd.DataFrame, paper: pd.DataFrame, metrics: list[str], bn_mode: str) -> pd.DataFrame:
    """NAIGN Table 1 layout: rows method x application, columns ours and paper per metric."""
    rows = []
    for method in methods_in(stats):
        for app in ("f(z)", "f(f(z))"):
            row = {"Method": f"{LABELS[method]}: {app}"}
            for metric in metrics:
                where = {"method": method, "application": app, "metric": metric}
                row[label(metric)] = ours_cell(stats, bn_mode=bn_mode, **where)
                if len(paper):
                    row[f"{label(metric)} paper"] = paper_cell(paper, PAPER_DECIMALS.get(metric), **where)
            rows.append(row)
    return pd.DataFrame(rows)


DEGRADATION_LABELS = {"blur": "Blur", "gaussian_noise": "Gaussian Noise", "salt_pepper": "Salt&Pepper",
                      "lines_rows": "LinesRows"}  # NAIGN Table 2's column names


def restoration_table(stats: pd.DataFrame, paper: pd.DataFrame, metric: str, bn_mode: str) -> pd.DataFrame:
    """NAIGN Table 2 layout: rows methods, columns degradations (ours, paper); a last row scores the
    degraded input itself (no restoration), the level a restorer has to beat."""
    rows = []
    for method in methods_in(stats):
        row = {"Method": LABELS[method]}
        for app, name in DEGRADATION_LABELS.items():
            where = {"method": method, "application": app, "metric": metric}
            row[name] = ours_cell(stats, bn_mode=bn_mode, **where)
            if len(paper):
                row[f"{name} paper"] = paper_cell(paper, **where)
        rows.append(row)
    baseline = {"Method": "x' itself (no restoration)"}
    for app, name in DEGRADATION_LABELS.items():
        cell = stats[(stats.application == app) & (stats.metric == "mae_input")]
        baseline[name] = f"{cell['mean'].mean():.2f}" if len(cell) else "–"
        if len(paper):
            baseline[f"{name} paper"] = "–"
    rows.append(baseline)
    return pd.DataFrame(rows)


def varies_m(frame: pd.DataFrame) -> bool:
    """Whether the IMLE methods of a frame were run with more than one M (NAIGN Fig. 9)."""
    return frame[frame.method.map(lambda m: METHODS[m].imle)]["M"].nunique() > 1


def curve_label(method: str, m: int, vary_m: bool) -> str:
    return f"{LABELS[method]}, M = {m}" if vary_m and METHODS[method].imle else LABELS[method]


def label_order(text: str) -> tuple:
    """Sort key for curve labels: methods in paper order, then M ascending."""
    method, _, m = text.partition(", M = ")
    return list(LABELS.values()).index(method), int(m or 0)


def curve_table(stats: pd.DataFrame, curves: pd.DataFrame, bn_mode: str) -> pd.DataFrame:
    """NAIGN Figs 4/9 in numbers: per method (and M), the final f(z) metrics and the FLD curve's course."""
    vary_m = varies_m(stats)
    rows = []
    for (method, m), cell in stats.groupby(["method", "M"], sort=False):
        row = {"Method": curve_label(method, m, vary_m)}
        for metric in ("fld", "coverage", "density"):
            row[label(metric)] = ours_cell(cell, bn_mode=bn_mode, application="f(z)", metric=metric)
        runs = curves[(curves.method == method) & (curves.M == m) & (curves.metric == "fld")
                      & (curves.bn_mode == bn_mode)]
        if len(runs):
            per_step = runs.groupby("step")["value"].agg(["mean", "min", "max"])
            best = per_step["mean"].idxmin()
            row["FLD during training: first → last (mean)"] = (f"{per_step['mean'].iloc[0]:.1f} → "
                                                              f"{per_step['mean'].iloc[-1]:.1f}")
            row["lowest mean FLD (step)"] = f"{per_step['mean'].min():.1f} ({best})"
            row["rise after the lowest"] = f"{(per_step['mean'].loc[best:].max() - per_step['mean'].min()):.1f}"
        rows.append(row)
    return pd.DataFrame(rows).sort_values("Method", key=lambda col: col.map(label_order)).reset_index(drop=True)


def iterate_order(application: str) -> int:
    """k of an application named "f^k(z)"."""
    return int(application[2:].split("(")[0])


def stability_table(stats: pd.DataFrame, bn_mode: str) -> pd.DataFrame:
    """IGN Fig. 16 in numbers: rows method x k; columns mean |f^k(z) - f(z)|, the drift of f^k(z) (mean
    |f^(k+1)(z) - f^k(z)|) and the FLD of f^k(z). Column names avoid "|", which would break Markdown tables."""
    iterates = stats[stats.application.fillna("").str.startswith("f^") & (stats.bn_mode == bn_mode)]
    rows = []
    for method in methods_in(iterates):
        cells = iterates[iterates.method == method]
        for app in sorted(set(cells["application"]), key=iterate_order):
            row = {"Method": LABELS[method], "k": iterate_order(app)}
            for metric, name in (("mae_to_fz", "L1 distance to f(z)"), ("drift", "drift: L1 to f^(k+1)(z)"),
                                 ("fld", "FLD of f^k(z)")):
                row[name] = ours_cell(cells, None if metric == "fld" else 4, application=app, metric=metric)
            rows.append(row)
    return pd.DataFrame(rows)


def application_table(stats: pd.DataFrame, metrics: list[str], applications: list[str],
                      bn_mode: str | None = None) -> pd.DataFrame:
    """Rows dataset x method x application (in one BatchNorm mode, if given); one column per measure."""
    rows = []
    if bn_mode is not None:
        stats = stats[(stats.bn_mode == bn_mode) | stats.bn_mode.isna()]
    scored = stats[stats.application.isin(applications)]
    for dataset in sorted(set(stats["dataset"])):
        for method in methods_in(stats[stats.dataset == dataset]):
            for app in applications:
                if not len(_select(scored, dataset=dataset, method=method, application=app)) and app != applications[0]:
                    continue
                row = {"Dataset": dataset, "Method": LABELS[method], "Applied": app}
                for metric in metrics:
                    row[label(metric)] = ours_cell(stats, dataset=dataset, method=method, application=app,
                                                   metric=metric)
                rows.append(row)
    return pd.DataFrame(rows)


def plateau_table(curves: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per method x dataset x metric: has training plateaued? Over the last 20 % of the steps a run's curve has a
    net change (last point minus the first point of that window) and a range (max - min, which also counts the
    step-to-step jitter of a curve measured on a finite sample). A run has plateaued when its net change is at
    most the spread (std) of the final value over seeds; the range is shown beside it."""
    rows = []
    data = curves[curves.metric.isin(metrics) & (curves.state == "done")]  # unfinished runs have not plateaued
    for (dataset, method, m, mode, metric), group in data.groupby(["dataset", "method", "M", "bn_mode", "metric"]):
        last_step = group["step"].max()
        window = group[group["step"] >= 0.8 * last_step].sort_values("step")
        net = window.groupby("run_id")["value"].agg(lambda v: abs(v.iloc[-1] - v.iloc[0]))
        spread_of_range = window.groupby("run_id")["value"].agg(lambda v: v.max() - v.min())
        finals = group[group["step"] == last_step]["value"]
        spread = float(finals.std()) if len(finals) > 1 else math.nan
        ok = int((net <= spread + 1e-12).sum()) if np.isfinite(spread) else 0
        within_range = int((spread_of_range <= spread + 1e-12).sum()) if np.isfinite(spread) else 0
        rows.append({"Dataset": dataset, "Method": curve_label(method, m, varies_m(data)), "BN mode": mode,
                     "Metric": label(metric, arrow=False), "final (mean)": f"{finals.mean():.3g}",
                     "spread over seeds": f"{spread:.3g}", "largest net change, last 20 %": f"{net.max():.3g}",
                     "largest range, last 20 %": f"{spread_of_range.max():.3g}",
                     "plateaued (net change ≤ spread)": f"{ok}/{len(net)} runs",
                     "range ≤ spread": f"{within_range}/{len(net)} runs"})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_latex(table: pd.DataFrame, caption: str) -> str:
    def tex(value: object) -> str:
        return (str(value).replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%")
                .replace("_", r"\_").replace("#", r"\#").replace("±", r"$\pm$").replace("↓", r"$\downarrow$")
                .replace("↑", r"$\uparrow$").replace("→", r"$\rightarrow$").replace("≥", r"$\geq$")
                .replace("^", r"\^{}").replace("–", "--"))

    escaped = table.map(tex)
    escaped.columns = [tex(c) for c in table.columns]
    return escaped.to_latex(index=False, caption=tex(caption), escape=False)
