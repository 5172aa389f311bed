"""Tables from the tidy results frame: mean ± std (n) over seeds, the paper's numbers beside ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ignbench.errors import UserError

PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"
METHOD_LABELS = {"ign": "IGN", "naign": "NAIGN", "naign-": "NAIGN-"}
METRIC_LABELS = {"fld": "FLD (↓)", "coverage": "Coverage (↑)", "density": "Density (↑)",
                 "modes_covered": "Modes covered (↑)", "hq_share": "HQ share (↑)", "corr": "corr (↑)",
                 "mae": "MAE (↓)", "rec_error": "rec. error (↓)"}
DECIMALS = {"fld": 1}
PAPER_DECIMALS = {"fld": 0}  # as printed in the paper
GROUP_KEYS = ["method", "dataset", "M", "application", "metric"]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """mean, std and n over seeds for every (method, dataset, M, application, metric) cell.

    Diverged runs have no metrics and so are not in n; the `diverged` column counts them per cell.
    """
    keys = [k for k in GROUP_KEYS if k in df.columns]
    scored = df.dropna(subset=["metric"])
    stats = scored.groupby(keys, dropna=False)["value"].agg(mean="mean", std="std", n="count").reset_index()
    run_keys = [k for k in keys if k not in ("application", "metric")]
    runs = df.drop_duplicates("run_id")
    diverged = runs[runs["state"] == "diverged"].groupby(run_keys).size().rename("diverged").reset_index()
    seeds = runs.groupby(run_keys).size().rename("runs").reset_index()
    stats = stats.merge(seeds, on=run_keys, how="left").merge(diverged, on=run_keys, how="left")
    stats["diverged"] = stats["diverged"].fillna(0).astype(int)
    return stats


def fmt_cell(mean: float, std: float, n: int, metric: str, decimals: int | None = None) -> str:
    if n == 0 or np.isnan(mean):
        return "–"
    d = DECIMALS.get(metric, 2) if decimals is None else decimals
    spread = "" if n < 2 or np.isnan(std) else f" ± {std:.{d}f}"
    return f"{mean:.{d}f}{spread} ({n})"


def _select(frame: pd.DataFrame, **where: object) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


def ours_cell(stats: pd.DataFrame, decimals: int | None = None, **where: object) -> str:
    """"mean ± std (n)" of the one summary row matching `where` (which names the metric), or "–"."""
    cell = _select(stats, **where)
    if not len(cell):
        return "–"
    return fmt_cell(cell["mean"].iloc[0], cell["std"].iloc[0], int(cell["n"].iloc[0]), str(where["metric"]), decimals)


def paper_cell(paper: pd.DataFrame, decimals: int | None = None, **where: object) -> str:
    """"mean ± std" as the paper prints it, or "–"."""
    ref = _select(paper, **where)
    if not len(ref):
        return "–"
    return fmt_cell(ref["mean"].iloc[0], ref["std"].iloc[0], 2, str(where["metric"]), decimals).replace(" (2)", "")


def load_paper(name: str) -> pd.DataFrame:
    path = PAPER_DIR / name
    if not name or not path.exists():
        return pd.DataFrame(columns=["method", "application", "metric", "mean", "std"])
    return pd.read_csv(path)


def generation_table(stats: pd.DataFrame, paper: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """NAIGN Table 1 layout: rows method x application, columns ours and paper per metric."""
    rows = []
    for method in [m for m in METHOD_LABELS if m in set(stats["method"])]:
        for app in ("f(z)", "f(f(z))"):
            row = {"Method": f"{METHOD_LABELS[method]}: {app}"}
            for metric in metrics:
                where = {"method": method, "application": app, "metric": metric}
                row[METRIC_LABELS[metric]] = ours_cell(stats, **where)
                if len(paper):
                    row[f"{METRIC_LABELS[metric]} paper"] = paper_cell(paper, PAPER_DECIMALS.get(metric), **where)
            rows.append(row)
    return pd.DataFrame(rows)


DEGRADATION_LABELS = {"blur": "Blur", "gaussian_noise": "Gaussian Noise", "salt_pepper": "Salt&Pepper",
                      "lines_rows": "LinesRows"}  # NAIGN Table 2's column names


def restoration_table(stats: pd.DataFrame, paper: pd.DataFrame, metric: str) -> pd.DataFrame:
    """NAIGN Table 2 layout: rows methods, columns degradations (ours, paper); a last row scores the
    degraded input itself (no restoration), the level a restorer has to beat."""
    rows = []
    for method in [m for m in METHOD_LABELS if m in set(stats["method"])]:
        row = {"Method": METHOD_LABELS[method]}
        for app, label in DEGRADATION_LABELS.items():
            where = {"method": method, "application": app, "metric": metric}
            row[label] = ours_cell(stats, **where)
            if len(paper):
                row[f"{label} paper"] = paper_cell(paper, **where)
        rows.append(row)
    baseline = {"Method": "x' itself (no restoration)"}
    for app, label in DEGRADATION_LABELS.items():
        cell = stats[(stats.application == app) & (stats.metric == "mae_input")]
        baseline[label] = f"{cell['mean'].mean():.2f}" if len(cell) else "–"
        if len(paper):
            baseline[f"{label} paper"] = "–"
    rows.append(baseline)
    return pd.DataFrame(rows)


def varies_m(frame: pd.DataFrame) -> bool:
    """Whether the IMLE methods of a results frame were run with more than one M (NAIGN Fig. 9)."""
    return frame[frame.method != "ign"]["M"].nunique() > 1


def curve_label(method: str, m: int, vary_m: bool) -> str:
    return f"{METHOD_LABELS[method]}, M = {m}" if vary_m and method != "ign" else METHOD_LABELS[method]


def label_order(label: str) -> tuple:
    """Sort key for curve labels: methods in paper order, then M ascending."""
    method, _, m = label.partition(", M = ")
    return list(METHOD_LABELS.values()).index(method), int(m or 0)


def curve_table(stats: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """NAIGN Figs 4/9 in numbers: per method (and M), the final f(z) metrics and the FLD curve's course."""
    vary_m = varies_m(stats)
    rows = []
    for (method, m), cell in stats.groupby(["method", "M"], sort=False):
        row = {"Method": curve_label(method, m, vary_m)}
        for metric in ("fld", "coverage", "density"):
            row[METRIC_LABELS[metric]] = ours_cell(cell, application="f(z)", metric=metric)
        runs = curves[(curves.method == method) & (curves.M == m)]
        if len(runs):
            per_step = runs.groupby("step")["fld"].agg(["mean", "min", "max"])
            best = per_step["mean"].idxmin()
            row["FLD during training: first → last (mean)"] = (f"{per_step['mean'].iloc[0]:.1f} → "
                                                              f"{per_step['mean'].iloc[-1]:.1f}")
            row["lowest mean FLD (step)"] = f"{per_step['mean'].min():.1f} ({best})"
            row["largest rise after the lowest"] = f"{(per_step['mean'].loc[best:].max() - per_step['mean'].min()):.1f}"
        rows.append(row)
    return pd.DataFrame(rows).sort_values("Method", key=lambda col: col.map(label_order)).reset_index(drop=True)


def iterate_order(application: str) -> int:
    """k of an application named "f^k(z)"."""
    return int(application[2:].split("(")[0])


def stability_table(stats: pd.DataFrame) -> pd.DataFrame:
    """IGN Fig. 16 in numbers: rows method x k; columns mean |f^k(z) - f(z)|, the drift of f^k(z) (mean
    |f^(k+1)(z) - f^k(z)|) and the FLD of f^k(z). Column names avoid "|", which would break Markdown tables."""
    iterates = stats[stats.application.str.startswith("f^")]
    rows = []
    for method in [m for m in METHOD_LABELS if m in set(iterates["method"])]:
        cells = iterates[iterates.method == method]
        for app in sorted(set(cells["application"]), key=iterate_order):
            row = {"Method": METHOD_LABELS[method], "k": iterate_order(app)}
            for metric, label in (("mae_to_fz", "L1 distance to f(z)"), ("drift", "drift: L1 to f^(k+1)(z)"),
                                  ("fld", "FLD of f^k(z)")):
                row[label] = ours_cell(cells, None if metric == "fld" else 4, application=app, metric=metric)
            rows.append(row)
    return pd.DataFrame(rows)


def lowdim_table(stats: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Rows dataset x method x application; one column per measure."""
    rows = []
    order = {"f(z)": 0, "f(f(z))": 1, "drift": 2, "drift_near": 3}
    stats = stats.assign(_m=stats["method"].map(list(METHOD_LABELS).index), _a=stats["application"].map(order))
    for (dataset, _, _, method, app), cell in stats.groupby(["dataset", "_m", "_a", "method", "application"]):
        row = {"Dataset": dataset, "Method": METHOD_LABELS[method], "Applied": app}
        for metric in metrics:
            m = cell[cell.metric == metric]
            row[METRIC_LABELS.get(metric, metric)] = (
                fmt_cell(m["mean"].iloc[0], m["std"].iloc[0], int(m["n"].iloc[0]), metric) if len(m) else "–")
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_latex(table: pd.DataFrame, caption: str) -> str:
    escaped = table.map(lambda v: str(v).replace("±", r"$\pm$").replace("↓", r"$\downarrow$")
                        .replace("↑", r"$\uparrow$").replace("%", r"\%"))
    escaped.columns = [c.replace("↓", r"$\downarrow$").replace("↑", r"$\uparrow$") for c in table.columns]
    return escaped.to_latex(index=False, caption=caption, escape=False)


def require_results(df: pd.DataFrame, experiment: str, preset: str) -> None:
    if df.empty or df["metric"].dropna().empty:
        raise UserError(f"no finished runs of {experiment} at preset {preset}; "
                        f"produce them with `ignbench run {experiment} --preset {preset}`")
