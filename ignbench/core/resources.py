"""Files ignbench ships: experiment specs, the papers' numbers and Slurm profiles.

In a wheel they are package data (`ignbench/specs`, `ignbench/paper`, `ignbench/profiles`, mapped from the source
tree's `benchmarks/`, `results/paper/` and `slurm/profiles/` by pyproject.toml); in a source checkout or an
editable install they are read from those folders directly.
"""

from __future__ import annotations

import os
from pathlib import Path

from ignbench.core.errors import UserError

PACKAGE = Path(__file__).resolve().parents[1]  # ignbench/
SOURCES = {"specs": "benchmarks", "paper": "results/paper", "profiles": "slurm/profiles"}
SPEC_PATH_ENV = "IGNBENCH_SPEC_PATH"
_cli_spec_dirs: list[Path] = []  # --spec-dir of the running command


def set_cli_spec_dirs(folders: list[Path]) -> None:
    """The --spec-dir folders of this invocation (each command sets them anew)."""
    _cli_spec_dirs[:] = folders


def shipped(kind: str) -> Path:
    """The folder of one kind of shipped file."""
    for folder in (PACKAGE / kind, PACKAGE.parent / SOURCES[kind]):
        if folder.is_dir():
            return folder
    raise UserError(f"ignbench's {kind} are missing from this installation ({PACKAGE}); reinstall ignbench")


def spec_dirs() -> list[Path]:
    """Where specs are looked up, in order: --spec-dir folders, IGNBENCH_SPEC_PATH, then the shipped specs."""
    from_env = [Path(p) for p in os.environ.get(SPEC_PATH_ENV, "").split(os.pathsep) if p]
    for source, folders in (("--spec-dir", _cli_spec_dirs), (SPEC_PATH_ENV, from_env)):
        for folder in folders:
            if not folder.is_dir():
                raise UserError(f"{source}: {folder} is not a folder")
    return [*_cli_spec_dirs, *from_env, shipped("specs")]
