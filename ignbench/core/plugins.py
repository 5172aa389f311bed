"""Plugins: methods, metrics, datasets and claim kinds come from Python entry points, ignbench's own included.

    [project.entry-points."ignbench.methods"]       my-naign = "my_package:METHOD"    # ignbench.methods.Method
    [project.entry-points."ignbench.metrics"]       sharpness = "my_package:SHARP"    # ignbench.core.measures.Measure
    [project.entry-points."ignbench.datasets"]      rings = "my_package:RINGS"        # a ToyDistribution or ImageSet
    [project.entry-points."ignbench.claim_kinds"]   median_greater = "my_pkg:KIND"    # verdict.kinds.ClaimKind

ignbench's built-ins are declared the same way in its pyproject.toml: there is one path in. Each group is loaded
once, lazily, the first time its registry is asked for. A plugin that fails to import, whose object is not of the
group's type, or whose name is already taken (by a built-in or an earlier package) is left out with a one-line
warning naming it and its package; the built-ins and the other plugins still load. A spec that names a plugin left
out gets a one-line error saying why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from ignbench.core.errors import UserError

GROUPS = {"methods": "ignbench.methods", "metrics": "ignbench.metrics", "datasets": "ignbench.datasets",
          "claim_kinds": "ignbench.claim_kinds", "report_kinds": "ignbench.report_kinds"}
HOME = "ignbench"  # the distribution whose entries are the built-ins


@dataclass(frozen=True)
class Plugin:
    kind: str  # methods, metrics, datasets or claim_kinds
    name: str
    target: str  # "module:attribute"
    package: str  # the distribution that declares it
    version: str
    problem: str = ""  # why it was left out ("" when loaded)

    def describe(self) -> str:
        return f"{self.kind[:-1].replace('_', ' ')} {self.name!r} of package {self.package!r} ({self.target})"


def _declared(kind: str) -> list[tuple[str, str, str, str]]:
    """(name, target, package, version) of every entry of the group, the built-ins first."""
    rows = []
    for ep in entry_points(group=GROUPS[kind]):
        dist = ep.dist
        rows.append((ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    return sorted(rows, key=lambda r: (r[2] != HOME, r[2]))  # stable: each package in its declared order


_LOADED: dict[str, tuple[dict[str, Any], list[Plugin]]] = {}


def load(kind: str, check: Callable[[Any], str]) -> dict[str, Any]:
    """The group's registry: name -> object. `check(obj)` returns "" or what is wrong with the object."""
    if kind not in _LOADED:
        _LOADED[kind] = _load(kind, check)
        if not any(p.package == HOME for p in _LOADED[kind][1]):
            raise UserError(f"ignbench's built-in {kind.replace('_', ' ')} are not registered: reinstall ignbench "
                            "(pip install -e . in a checkout), its entry points come with the installation")
    return _LOADED[kind][0]


def _load(kind: str, check: Callable[[Any], str]) -> tuple[dict[str, Any], list[Plugin]]:
    registry: dict[str, Any] = {}
    plugins: list[Plugin] = []
    owners: dict[str, str] = {}
    for name, target, package, version in _declared(kind):
        problem = ""
        if name in owners:
            problem = f"its name is taken by package {owners[name]!r}"
        else:
            try:
                obj = _import(target)
                problem = check(obj)
                if not problem and getattr(obj, "name", name) != name:
                    problem = f"its object is named {obj.name!r}, not {name!r}"
            except Exception as exc:  # noqa: BLE001 - a broken plugin must never take the others down
                problem = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        plugin = Plugin(kind, name, target, package, version, problem)
        plugins.append(plugin)
        if problem:
            sys.stderr.write(f"warning: {plugin.describe()} is left out: {problem}\n")
            continue
        registry[name] = obj
        owners[name] = package
    return registry, plugins


def _import(target: str) -> Any:
    import importlib

    module, _, attribute = target.partition(":")
    obj = importlib.import_module(module)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


def names(kind: str) -> list[str]:
    """The names a group declares, read from the installed metadata without importing anything (a spec is checked
    against them; the objects load where they are used)."""
    return list(dict.fromkeys(name for name, *_ in _declared(kind)))


def plugins(kind: str) -> list[Plugin]:
    """Every entry of a loaded group, left out ones included (with their problem)."""
    return list(_LOADED[kind][1]) if kind in _LOADED else []


def unknown(kind: str, name: str, known: list[str], where: str) -> UserError:
    """The error for a name no registry entry has: why, when a plugin of that name was left out."""
    left_out = [p for p in plugins(kind) if p.name == name and p.problem]
    if left_out:
        p = left_out[0]
        return UserError(f"{where} = {name!r}: the {p.describe()} was left out: {p.problem}")
    return UserError(f"{where} = {name!r} is not one of {', '.join(known)}")

