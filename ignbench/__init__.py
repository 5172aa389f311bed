"""ignbench: reproducibility suite for idempotent generative networks (IGN, NAIGN)."""

from ignbench.store import load_curves, load_results

__all__ = ["load_curves", "load_results"]
