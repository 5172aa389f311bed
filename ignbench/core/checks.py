"""Type checks shared by every TOML-fed dataclass (specs, run configs, cluster profiles)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ignbench.core.errors import UserError


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table; unreadable or invalid TOML is a one-line UserError naming the file."""
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path.name}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc.__class__.__name__})") from None


def type_ok(value: Any, kind: str) -> bool:
    """Whether a TOML value fits a declared field type ("int", "float", "str", "list" or "bool")."""
    if kind == "bool" or isinstance(value, bool):
        return kind == "bool" and isinstance(value, bool)
    return {
        "int": isinstance(value, int),
        "float": isinstance(value, (int, float)),
        "str": isinstance(value, str),
        "list": isinstance(value, list),
    }[kind]


def require_type(where: str, name: str, value: Any, kind: str) -> None:
    if not type_ok(value, kind):
        raise UserError(f"{where}: {name} must be {kind}, got {type(value).__name__} {value!r}")
