"""Slurm executor (submitit). Placeholder seam until the Slurm issue lands: status has nothing to merge."""

from __future__ import annotations


def refresh_slurm_states(runs: list) -> None:
    """Update the store with Slurm's view of runs that were submitted (none without the Slurm executor)."""
