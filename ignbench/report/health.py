"""Run health as a result in its own right: the stall rate of every cell (method and swept values) under each
BatchNorm mode with its exact interval, how early the stall classifier's answer settles during training, and a grid
of collapsed beside healthy samples."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ignbench.evaluate.metrics.collapse import STALL_METRIC, STALL_THRESHOLD, is_collapsed  # noqa: E402
from ignbench.methods import LABELS  # noqa: E402
from ignbench.report.png import save_figure  # noqa: E402
from ignbench.store import RunDir, Store  # noqa: E402
from ignbench.verdict.health import stalled_runs  # noqa: E402
from ignbench.verdict.stats import clopper_pearson  # noqa: E402

Figure = tuple[Path, str]


def cell_keys(df: pd.DataFrame, swept: list[str]) -> list[str]:
    """The columns that name a cell: method, dataset and the swept fields that vary in this plan."""
    keys = ["method", "dataset", *[k for k in swept if k != "method" and k in df.columns]]
    return [k for k in dict.fromkeys(keys) if df[k].nunique(dropna=False) > 1 or k == "method"]


def _modes(df: pd.DataFrame) -> list[str]:
    return [m for m in ("eval", "train", "none") if m in set(df["bn_mode"].dropna())]


def health_table(df: pd.DataFrame, swept: list[str], threshold: float = STALL_THRESHOLD) -> pd.DataFrame:
    """Per cell and BatchNorm mode: planned, finished and diverged runs, and stalled k/n with its 90 % exact
    (Clopper-Pearson) interval."""
    runs = df.drop_duplicates("run_id")
    keys = cell_keys(runs, swept)
    rows = []
    for mode in _modes(df):
        stalled = stalled_runs(df, mode, threshold)
        for cell, group in runs.groupby(keys, sort=False):
            cell = cell if isinstance(cell, tuple) else (cell,)
            judged = [r for r in group["run_id"] if r in stalled]
            k = sum(stalled[r] for r in judged)
            row = {key: (LABELS.get(v, v) if key == "method" else v) for key, v in zip(keys, cell, strict=True)}
            low, high = clopper_pearson(k, len(judged)) if judged else (float("nan"), float("nan"))
            row.update({"BN mode": mode, "planned": len(group), "finished": int((group["state"] == "done").sum()),
                        "diverged": int((group["state"] == "diverged").sum()),
                        "stalled": f"{k}/{len(judged)}" if judged else "–",
                        "stall rate [90% CI]": f"{k / len(judged):.2f} [{low:.2f}, {high:.2f}]" if judged else "–"})
            rows.append(row)
    return pd.DataFrame(rows)


def settling_table(curves: pd.DataFrame, swept: list[str], threshold: float = STALL_THRESHOLD) -> pd.DataFrame:
    """How early the stall classifier is reliable: per run, the first curve step from which its answer (its measure
    of f(z) below the threshold) equals its answer at the last step, at every later point; summarised per cell and
    BatchNorm mode, for the runs that end stalled and those that end healthy."""
    data = curves[(curves["metric"] == STALL_METRIC) & (curves["state"] == "done")]
    if data.empty:
        return pd.DataFrame()
    keys = cell_keys(data, swept)
    rows = []
    for (mode, *cell), group in data.groupby(["bn_mode", *keys], sort=False):
        settled = {True: [], False: []}
        for _, run in group.groupby("run_id"):
            run = run.sort_values("step")
            answers = [is_collapsed(v, threshold) for v in run["value"]]
            final = answers[-1]
            first = len(answers) - 1
            while first > 0 and answers[first - 1] == final:
                first -= 1
            settled[final].append(int(run["step"].iloc[first]))
        row = {key: (LABELS.get(v, v) if key == "method" else v) for key, v in zip(keys, cell, strict=True)}
        row["BN mode"] = mode
        for final, name in ((True, "stalled"), (False, "healthy")):
            steps = settled[final]
            row[f"{name} runs"] = len(steps)
            row[f"{name}: settled by step (max)"] = max(steps) if steps else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def classifier_figure(curves: pd.DataFrame, out: Path, name: str, threshold: float = STALL_THRESHOLD) -> list[Figure]:
    """The stall classifier's measure of f(z) during training, one line per run, coloured by the run's final
    class."""
    data = curves[(curves["metric"] == STALL_METRIC) & (curves["state"] == "done")]
    if data.empty:
        return []
    modes = _modes(data)
    methods = sorted(set(data["method"]))
    fig, axes = plt.subplots(len(modes), len(methods), figsize=(4.2 * len(methods), 3.0 * len(modes)),
                             squeeze=False)
    for r, mode in enumerate(modes):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            subset = data[(data["bn_mode"] == mode) & (data["method"] == method)]
            for _, run in subset.groupby("run_id"):
                run = run.sort_values("step")
                stalled = is_collapsed(run["value"].iloc[-1], threshold)
                ax.plot(run["step"], run["value"], color="#c0392b" if stalled else "#2e86c1", alpha=0.6,
                        linestyle="--" if stalled else "-", linewidth=1)
            ax.axhline(threshold, color="black", linewidth=0.8, linestyle=":")
            ax.set_title(f"{LABELS.get(method, method)}, BN {mode}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel("distinct nearest training points")
    fig.suptitle(f"{name}: the stall classifier's measure of f(z) during training (red dashed: ends stalled; "
                 f"dotted: threshold {threshold:g})", y=1.02)
    path = save_figure(fig, out / f"{name}_classifier.png")
    return [(path, "The stall classifier's measure during training: the share of distinct nearest training points "
                   "among the samples f(z), one line per run; red dashed lines end below the threshold (stalled), "
                   "blue ones above it.")]


def collapse_grid(df: pd.DataFrame, store: Store, out: Path, name: str,
                  threshold: float = STALL_THRESHOLD) -> list[Figure]:
    """Samples (x | f(x) | z | f(z) | f(f(z))) of a stalled and a healthy run per method, in eval mode."""
    mode = "eval" if "eval" in _modes(df) else (_modes(df) or ["none"])[0]
    stalled = stalled_runs(df, mode, threshold)
    runs = df[df["state"] == "done"].drop_duplicates("run_id").sort_values("seed")
    panels = []
    for method, group in runs.groupby("method", sort=False):
        for want, title in ((True, "stalled"), (False, "healthy")):
            pick = group[[stalled.get(r) is want for r in group["run_id"]]]
            if len(pick):
                row = pick.iloc[0]
                grid = RunDir(store.root / row["experiment"] / row["run_id"]).eval_dir(row["eval_id"]).file(
                    "samples", mode)
                if grid.exists():
                    panels.append((f"{LABELS.get(method, method)} seed {row['seed']}: {title}", grid))
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 5.0), squeeze=False)
    for ax, (title, grid) in zip(axes[0], panels, strict=True):
        ax.imshow(plt.imread(grid), cmap="gray")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    path = save_figure(fig, out / f"{name}_collapsed_and_healthy.png")
    return [(path, f"A stalled and a healthy run per method (the lowest seed of each), BatchNorm {mode} mode: "
                   "x | f(x) | z | f(z) | f(f(z)). A stalled run maps every z to one output.")]
