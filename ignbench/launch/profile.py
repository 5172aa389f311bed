"""Cluster profiles: slurm/profiles/<name>.toml, validated field by field."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ignbench.checks import require_type
from ignbench.errors import UserError

PROFILES_DIR = Path(__file__).resolve().parents[2] / "slurm" / "profiles"


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
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise UserError(f"unknown Slurm profile {name_or_path!r} (available: {known})")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path.name}: not valid TOML ({exc})") from None
    known_fields = {f.name: f for f in fields(Profile) if f.name != "name"}
    for key, value in raw.items():
        if key not in known_fields:
            raise UserError(f"{path.name}: unknown key {key!r}")
        require_type(path.name, key, value, known_fields[key].type)
    if "partition" not in raw:
        raise UserError(f"{path.name}: missing required key 'partition'")
    if any(not isinstance(line, str) for line in raw.get("setup", [])):
        raise UserError(f"{path.name}: setup must be a list of shell lines (strings)")
    for key in ("cpus_per_task", "timeout_min", "array_parallelism", "max_array_size"):
        if raw.get(key, 1) <= 0:
            raise UserError(f"{path.name}: {key} must be positive")
    for key in ("gpus_per_node", "max_requeues", "mem_gb"):
        if raw.get(key, 0) < 0:
            raise UserError(f"{path.name}: {key} must be >= 0")
    return Profile(name=path.stem, **raw)
