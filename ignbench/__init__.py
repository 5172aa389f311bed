"""ignbench: reproducibility suite for idempotent generative networks (IGN, NAIGN).

    import ignbench
    df = ignbench.load_results("table1", preset="cpu")     # one row per run x BatchNorm mode x application x metric
    df[df.metric == "fld"].groupby(["bn_mode", "method", "application"]).value.agg(["mean", "std", "count"])
"""

from __future__ import annotations

from pathlib import Path

from ignbench.core.version import __version__

DEFAULT_STORE = Path("results/runs")


def load_results(spec: str, preset: str | None = None, seeds: int | None = None,
                 root: Path | str = DEFAULT_STORE):
    """The tidy results of a spec's plan (default preset and seeds unless given): a pandas DataFrame."""
    from ignbench.spec import load_spec
    from ignbench.store import Store
    from ignbench.store.frames import results_frame

    loaded = load_spec(spec)
    return results_frame(loaded.expand(preset or loaded.default_preset, seeds), Store(root))


def load_curves(spec: str, preset: str | None = None, seeds: int | None = None,
                root: Path | str = DEFAULT_STORE):
    """The training curves of a spec's plan: a pandas DataFrame."""
    from ignbench.spec import load_spec
    from ignbench.store import Store
    from ignbench.store.frames import curves_frame

    loaded = load_spec(spec)
    return curves_frame(loaded.expand(preset or loaded.default_preset, seeds), Store(root))


__all__ = ["__version__", "load_curves", "load_results"]
