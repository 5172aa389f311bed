"""Cluster profiles: a name of a shipped profile (slurm/profiles/<name>.toml) or a path, validated field by field."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ignbench.core.checks import read_toml, require_type
from ignbench.core.errors import UserError
from ignbench.core.resources import shipped


@dataclass(frozen=True)
class Profile:
    name: str
    partition: str
    account: str = ""
    qos: str = ""
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    timeout_min: int = 60
    array_parallelism: int = 64
    max_array_size: int = 1000
    max_requeues: int = 3
    setup: list = field(default_factory=list)


def load_profile(name_or_path: str) -> Profile:
    path = _profile_path(name_or_path)
    raw = read_toml(path)
    _check_profile(raw, path.name)
    return Profile(name=path.stem, **raw)


def _profile_path(name_or_path: str) -> Path:
    """A path to a .toml, or the shipped profile of that name."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise UserError(f"{name_or_path}: no such Slurm profile file")
    else:
        path = shipped("profiles") / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in shipped("profiles").glob("*.toml")))
        raise UserError(f"unknown Slurm profile {name_or_path!r} (available: {known}; or a path to a .toml)")
    return path


def _check_profile(raw: dict, where: str) -> None:
    known_fields = {f.name: f for f in fields(Profile) if f.name != "name"}
    for key, value in raw.items():
        if key not in known_fields:
            raise UserError(f"{where}: unknown key {key!r}")
        require_type(where, key, value, known_fields[key].type)
    if "partition" not in raw:
        raise UserError(f"{where}: missing required key 'partition'")
    if any(not isinstance(line, str) for line in raw.get("setup", [])):
        raise UserError(f"{where}: setup must be a list of shell lines (strings)")
    for key in ("cpus_per_task", "timeout_min", "array_parallelism", "max_array_size"):
        if raw.get(key, 1) <= 0:
            raise UserError(f"{where}: {key} must be positive")
    for key in ("gpus_per_node", "max_requeues", "mem_gb"):
        if not raw.get(key, 0) >= 0:  # also catches nan
            raise UserError(f"{where}: {key} must be a number >= 0")
    if "mem_gb" in raw and raw["mem_gb"] == float("inf"):
        raise UserError(f"{where}: mem_gb must be finite")
