"""Figures (PNG) regenerated from the run store with matplotlib/seaborn."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from ignbench.core.measures import label  # noqa: E402
from ignbench.evaluate.metrics.lowdim import energy_density  # noqa: E402
from ignbench.methods import LABELS, method_order  # noqa: E402
from ignbench.report.png import save_figure  # noqa: E402
from ignbench.report.tables import curve_label, iterate_order, label_order, varies_m  # noqa: E402
from ignbench.store import EvalDir, RunDir, Store  # noqa: E402

PANELS = ["x", "f(x)", "z", "f(z)", "f(f(z))"]
PANEL_TITLES = {"x": "data x", "f(x)": "f(x)", "z": "z ~ p_Z", "f(z)": "f(z)", "f(f(z))": "f(f(z))"}
Figure = tuple[Path, str]


def _first_seed_runs(df: pd.DataFrame) -> pd.DataFrame:
    """One finished run (the lowest seed) per (dataset, method)."""
    runs = df[df["state"] == "done"].drop_duplicates("run_id").sort_values("seed")
    return runs.drop_duplicates(["dataset", "method"])


def _run_dir(store: Store, row: pd.Series) -> RunDir:
    return RunDir(store.root / row["experiment"] / row["run_id"])


def _eval_dir(store: Store, row: pd.Series) -> EvalDir:
    return _run_dir(store, row).eval_dir(row["eval_id"])


def _modes(df: pd.DataFrame) -> list[str]:
    return [m for m in ("eval", "train", "none") if m in set(df["bn_mode"].dropna())]


def _save(fig: plt.Figure, path: Path) -> Path:
    return save_figure(fig, path)


def training_curves(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    logs = []
    for _, row in df.drop_duplicates("run_id").iterrows():
        log = _run_dir(store, row).log
        if log.exists():
            frame = pd.read_csv(log)
            frame["method"] = LABELS[row["method"]]
            frame["dataset"] = row["dataset"]
            logs.append(frame)
    if not logs:
        return []
    data = pd.concat(logs, ignore_index=True)
    terms = [c for c in ("rec", "idem", "tight", "imle") if c in data.columns]
    hue_order = [LABELS[m] for m in LABELS if LABELS[m] in set(data["method"])]
    style = "dataset" if data["dataset"].nunique() > 1 else None
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    for i, (ax, term) in enumerate(zip(axes[0], terms, strict=True)):
        sns.lineplot(data=data.dropna(subset=[term]), x="step", y=term, hue="method", hue_order=hue_order,
                     style=style, errorbar=("pi", 100), ax=ax, legend=i == 0)
        ax.set_title(term)
    fig.suptitle(f"{name}: loss terms during training (line: mean over seeds, band: min-max)", y=1.04)
    path = _save(fig, out / f"{name}_curves.png")
    return [(path, "Training curves of every loss term, mean over seeds with the min-max band.")]


def curve_figure(curves: pd.DataFrame, out: Path, name: str) -> list[Figure]:
    """Metrics during training, mean and min-max band over seeds: NAIGN Fig. 4 (per method) and Fig. 9 (per M) for
    FLD on MNIST, one panel per BatchNorm mode; on toy data one panel per dataset and metric."""
    if curves.empty:
        return []
    vary_m = varies_m(curves)
    data = curves.assign(run=[curve_label(m, k, vary_m) for m, k in zip(curves.method, curves.M, strict=True)],
                         panel=[f"{label(m, arrow=True)}" + (f", BN {b}" if b != "none" else "")
                                for m, b in zip(curves.metric, curves.bn_mode, strict=True)])
    order = sorted(set(data["run"]), key=label_order)
    row = "dataset" if data["dataset"].nunique() > 1 else None
    grid = sns.relplot(data=data, kind="line", x="step", y="value", hue="run", hue_order=order, col="panel",
                       row=row, errorbar=("pi", 100), facet_kws={"sharey": False}, height=3.0, aspect=1.3)
    grid.set_titles(row_template="{row_name}", col_template="{col_name}")
    grid.figure.suptitle(f"{name}: during training (line: mean over seeds, band: min-max)", y=1.02)
    path = _save(grid.figure, out / f"{name}_during_training.png")
    return [(path, "Metrics of f(z) during training (FLD against the test images: NAIGN Fig. 4 per method, Fig. 9 "
                   "per M; on toy data the measures the claims use), mean over seeds with the min-max band.")]


def stability_figures(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """IGN Fig. 16: the three f^k measures against k (mean, min-max band), and the iterates of one run each."""
    data = df[df.application.fillna("").str.startswith("f^") & (df.state == "done")].copy()
    if data.empty:
        return []
    data["k"] = data["application"].map(iterate_order)
    data["method"] = data["method"].map(LABELS)
    hue_order = [name for name in LABELS.values() if name in set(data["method"])]
    fd = "fld" if (data.metric == "fld").any() else "fid"  # digits: FLD; RGB faces: FID
    panels = [("mae_to_fz", "|f^k(z) - f(z)|, mean L1"), ("drift", "drift |f^(k+1)(z) - f^k(z)|"),
              (fd, f"{fd.upper()} of f^k(z)")]
    modes = _modes(data)
    fig, axes = plt.subplots(len(modes), len(panels), figsize=(4.2 * len(panels), 3.4 * len(modes)), squeeze=False)
    for r, mode in enumerate(modes):
        for i, (ax, (metric, title)) in enumerate(zip(axes[r], panels, strict=True)):
            sns.lineplot(data=data[(data.metric == metric) & (data.bn_mode == mode)], x="k", y="value", hue="method",
                         hue_order=hue_order, errorbar=("pi", 100), marker="o", ax=ax, legend=i == 0 and r == 0)
            ax.set_xscale("log")
            ax.set_title(f"{title} (BN {mode})", fontsize=10)
            ax.set_ylabel("")
    path = _save(fig, out / f"{name}_fk.png")
    figs = [(path, "Repeated application f^k(z) (IGN Fig. 16's stress test): distance to f(z), drift and FLD per "
                   "BatchNorm mode; mean over seeds with the min-max band.")]
    ks = ", ".join(map(str, sorted(set(data["k"]))))
    return figs + _per_mode_images(df, store, out, name, "iterates", f"k = {ks}", (3.6, 4.0),
                                   "f^k(z) of the lowest seed per method, one column per k (as IGN Fig. 16)")


def _per_method_images(df: pd.DataFrame, store: Store, path: Path, kind: str, mode: str, subtitle: str,
                       size: tuple[float, float], caption: str) -> list[Figure]:
    """One panel per method showing a PNG grid its lowest-seed run saved at evaluation."""
    runs = _first_seed_runs(df)
    grids = [(LABELS[r["method"]], _eval_dir(store, r).file(kind, mode)) for _, r in runs.iterrows()]
    grids = [(title, grid) for title, grid in grids if grid.exists()]
    if not grids:
        return []
    fig, axes = plt.subplots(1, len(grids), figsize=(size[0] * len(grids), size[1]), squeeze=False)
    for ax, (title, grid) in zip(axes[0], grids, strict=True):
        ax.imshow(plt.imread(grid), cmap="gray")
        ax.set_title(f"{title}\n{subtitle}", fontsize=9)
        ax.axis("off")
    return [(_save(fig, path), caption)]


def _per_mode_images(df: pd.DataFrame, store: Store, out: Path, name: str, kind: str, columns: str,
                     size: tuple[float, float], caption: str) -> list[Figure]:
    """`_per_method_images` once per BatchNorm mode the runs were scored in."""
    figs = []
    for mode in _modes(df):
        figs += _per_method_images(df, store, out / f"{name}_{kind}_{mode}.png", kind, mode,
                                   f"{columns} (BN {mode})", size, f"{caption}; BatchNorm in {mode} mode.")
    return figs


def generation_figures(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    return _per_mode_images(df, store, out, name, "samples", "x | f(x) | z | f(z) | f(f(z))", (3.2, 5.5),
                            "Samples of the lowest seed per method (as NAIGN Fig. 10): test images x, f(x), noise z, "
                            "f(z), f(f(z))") + training_curves(df, store, out, name)


def restoration_figure(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """NAIGN Fig. 11 layout: per method, test images x, then x' and f(x') for each degradation."""
    return _per_mode_images(df, store, out, name, "restoration", "x | blur, f | noise, f | s&p, f | rows/cols, f",
                            (4.6, 4.6), "Restoration by the lowest seed per method (as NAIGN Fig. 11): test image x, "
                            "then for each degradation the degraded x' and f(x')")


def _scatter(ax: plt.Axes, pts: torch.Tensor, bounds: float, color: str, ref: torch.Tensor | None) -> None:
    if pts.shape[1] == 1:
        if ref is not None:
            ax.hist(ref[:, 0].numpy(), bins=80, range=(-bounds, bounds), color="0.85", density=True)
        ax.hist(pts[:, 0].numpy(), bins=80, range=(-bounds, bounds), color=color, density=True, alpha=0.8)
        return
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=color)
    ax.set_xlim(-bounds, bounds)
    ax.set_ylim(-bounds, bounds)
    ax.set_aspect("equal")


def _artifacts(runs: pd.DataFrame, store: Store, dims: tuple[int, ...]) -> list[tuple[pd.Series, dict]]:
    """(run, artifacts) of the runs whose data has one of `dims`, ordered by dataset, then method."""
    paths = [(r, _eval_dir(store, r).file("artifacts", "none")) for _, r in runs.iterrows()]
    loaded = [(r, torch.load(path, weights_only=False)) for r, path in paths if path.exists()]
    loaded = [(r, a) for r, a in loaded if a["grid"].shape[1] in dims]
    return sorted(loaded, key=lambda item: (item[0]["dataset"], method_order(item[0]["method"])))


def panels_figure(runs: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """NAIGN Figs 2/3 layout: per dataset and method, the panels data, f(x), z, f(z), f(f(z))."""
    rows = _artifacts(runs, store, dims=(1, 2))
    if not rows:
        return []
    fig, axes = plt.subplots(len(rows), len(PANELS), figsize=(2.4 * len(PANELS), 2.3 * len(rows)),
                             squeeze=False)
    colors = {"x": "tab:blue", "f(x)": "tab:blue", "z": "tab:gray", "f(z)": "tab:red", "f(f(z))": "tab:red"}
    for ax_row, (run, art) in zip(axes, rows, strict=True):
        bounds = float(art["grid"].abs().max())
        for ax, panel in zip(ax_row, PANELS, strict=True):
            ref = art["x"] if panel in ("f(z)", "f(f(z))") else None
            _scatter(ax, art[panel], bounds, colors[panel], ref)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(f"{run['dataset']}\n{LABELS[run['method']]}", fontsize=9)
    for ax, panel in zip(axes[0], PANELS, strict=True):
        ax.set_title(PANEL_TITLES[panel], fontsize=10)
    path = _save(fig, out / f"{name}_panels.png")
    return [(path, "Per dataset and method (lowest seed): data, f(x), z, f(z), f(f(z)); in 1D the grey "
                   "histogram is the data, as in NAIGN Figs 2-3.")]


def density_figure(runs: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """NAIGN Fig 6 layout: exp(-E) from the true distance, then from each method's drift."""
    arts = _artifacts(runs, store, dims=(2,))
    if not arts:
        return []
    n = int(round(len(arts[0][1]["grid"]) ** 0.5))
    bounds = float(arts[0][1]["grid"].abs().max())
    maps = [("true distance d_M", arts[0][1]["true_distance"])]
    maps += [(LABELS[r["method"]], a["drift"]) for r, a in arts]
    fig, axes = plt.subplots(1, len(maps), figsize=(3.3 * len(maps), 3.3), squeeze=False)
    for ax, (title, dist) in zip(axes[0], maps, strict=True):
        ax.imshow(energy_density(dist.float()).reshape(n, n).numpy(), origin="lower", cmap="viridis",
                  extent=(-bounds, bounds, -bounds, bounds), vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{name}: unnormalised density exp(-(exp(2δ) - 1))")
    path = _save(fig, out / f"{name}_density.png")
    return [(path, "Unnormalised density exp(-E), E = exp(kδ) - 1, k = 2 (NAIGN Fig. 6): left from the exact "
                   "manifold distance, then from each method's drift δ(z) = ||z - f(z)||.")]


def projection_figure(runs: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """NAIGN Fig 7 layout: grid points (red) and arrows (green) to f(point); data in blue."""
    arts = _artifacts(runs, store, dims=(2,))
    if not arts:
        return []
    fig, axes = plt.subplots(1, len(arts), figsize=(4.2 * len(arts), 4.2), squeeze=False)
    for ax, (run, art) in zip(axes[0], arts, strict=True):
        start, end = art["coarse"], art["coarse_projection"]
        ax.scatter(art["x"][:, 0], art["x"][:, 1], s=2, color="tab:blue", alpha=0.5)
        ax.scatter(start[:, 0], start[:, 1], s=4, color="tab:red")
        ax.quiver(start[:, 0], start[:, 1], end[:, 0] - start[:, 0], end[:, 1] - start[:, 1], angles="xy",
                  scale_units="xy", scale=1, color="tab:green", width=0.003, alpha=0.8)
        ax.set_title(LABELS[run["method"]])
        ax.set_aspect("equal")
    path = _save(fig, out / f"{name}_projection.png")
    return [(path, "Projection map (NAIGN Fig. 7): grid points (red) and arrows (green) to f(point); "
                   "data in blue.")]


LOWDIM_FIGURES = {"panels": panels_figure, "density": density_figure, "projection": projection_figure}


def lowdim_figures(df: pd.DataFrame, store: Store, out: Path, name: str, kinds: list[str]) -> list[Figure]:
    runs = _first_seed_runs(df)
    figs: list[Figure] = []
    for kind in kinds:
        if kind == "density" or kind == "projection":
            for dataset, group in runs.groupby("dataset"):
                figs += LOWDIM_FIGURES[kind](group, store, out, f"{name}_{dataset}")
        else:
            figs += LOWDIM_FIGURES[kind](runs, store, out, name)
    return figs + training_curves(df, store, out, name)


def projector_figures(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """IGN Figs 4-8 from the lowest seed: iterates, projections of unseen inputs, interpolation and arithmetic."""
    return (stability_figures(df, store, out, name)
            + _per_mode_images(df, store, out, name, "projections", "x | noise: x', f, f∘f | sketch: x', f, f∘f",
                               (4.6, 4.6), "Projections of inputs f never saw (as IGN Fig. 5): test image x, then "
                               "for each input x' its f(x') and f(f(x'))")
            + _per_mode_images(df, store, out, name, "interpolation", "4 paths between noises, then 4 between "
                               "codes of real images", (4.6, 4.6), "Interpolation (as IGN's videos): f of linear "
                               "paths between two noises, then decoded linear paths between the codes of two test "
                               "images")
            + _per_mode_images(df, store, out, name, "arithmetic", "f(z+ - z- + z) | control f(z' - z- + z)",
                               (2.6, 4.6), "Latent arithmetic (as IGN Fig. 6), the attribute being the digit class "
                               "of f(z+)"))


def fewshot_figures(df: pd.DataFrame, store: Store, out: Path, name: str) -> list[Figure]:
    """NAIGN Fig. 5 from the lowest seed: samples, and each sample beside its nearest training image."""
    data = ", ".join(sorted(set(df["dataset"])))
    stand_in = " (lfw-100 is an offline stand-in for FFHQ-100)" if "lfw-100" in data else ""
    return (_per_mode_images(df, store, out, name, "samples", "x | f(x) | z | f(z) | f(f(z))", (3.2, 5.5),
                             f"Few-shot samples on {data}{stand_in}, lowest seed per method (as NAIGN Fig. 5): "
                             "training images x, f(x), noise z, f(z), f(f(z))")
            + _per_mode_images(df, store, out, name, "nearest", "f(z) | nearest training image", (2.2, 8.0),
                               f"Memorisation on {data}{stand_in}: each sample f(z) beside its nearest training "
                               "image"))
