"""ignbench: reproducibility suite for idempotent generative networks (IGN, NAIGN)."""

from importlib.metadata import PackageNotFoundError, version

from ignbench.results import load_curves, load_results

try:
    __version__ = version("ignbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__", "load_curves", "load_results"]
