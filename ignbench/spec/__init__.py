"""Load and validate an experiment spec (benchmarks/<name>.toml, or any spec file) and expand it into runs.

Resolution order for each run's fields (later wins):
    RunConfig defaults < [config] < [per_method.<method>] (with its `recipe`) < [presets.<preset>]
    < [presets.<preset>.per_method.<method>] (sizes that differ by method, e.g. a warm start) < [sweep] values
A preset changes sizes (steps, samples, data), never the method. `[[claims]]` (see ignbench.spec.claims) lists the
paper's claims that the spec's runs decide. Specs are found by name in --spec-dir folders, IGNBENCH_SPEC_PATH and
the shipped specs, or given as a path to a .toml file.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ignbench.core import plugins
from ignbench.core.checks import read_toml
from ignbench.core.config import IGN_RECIPES, RunConfig, check_keys, check_type, coerce_floats
from ignbench.core.errors import UserError
from ignbench.core.resources import shipped, spec_dirs
from ignbench.evaluate.metrics.collapse import STALL_THRESHOLD
from ignbench.methods import METHODS, check_method
from ignbench.spec.claims import Claim, parse_claims

PRESET_ONLY = ("seeds", "per_method", "cells")  # preset keys that are not run fields
TOP_LEVEL = {"experiment", "sweep", "config", "per_method", "presets", "claims"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
EXPERIMENT_KEYS = {"name", "title", "paper", "reference", "report", "seeds", "default_preset", "description", "figures",
                   "same_runs_as", "select", "stall_threshold"}
LOWDIM_FIGURE_KINDS = ("panels", "density", "projection")


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    paper: str
    reference: str
    report: str
    seeds: int
    default_preset: str
    figures: list[str]
    sweep: dict[str, list]
    config: dict[str, Any]
    per_method: dict[str, dict[str, Any]]
    presets: dict[str, dict[str, Any]]
    path: Path
    runs_of: str  # the experiment whose runs this spec trains and reports (itself, or `same_runs_as`)
    claims: list[Claim]
    select: dict[str, list] = field(default_factory=dict)  # with same_runs_as: only the runs with these values
    stall_threshold: float = STALL_THRESHOLD  # run health: below it, a run's f(z) has collapsed

    def preset_names(self) -> list[str]:
        return list(self.presets)

    def seeds_for(self, preset: str) -> int:
        return int(self.presets[preset].get("seeds", self.seeds))

    def expand(self, preset: str, seeds: int | None = None) -> list[RunConfig]:
        """Cross product sweep x seeds, each resolved into a validated RunConfig. A preset with `cells` runs only
        the sweep points of its cells, each with its cell's seeds; `seeds` (--seeds) gives every cell that many."""
        if preset not in self.presets:
            raise UserError(
                f"{self.path.name}: unknown preset {preset!r} (available: {', '.join(self.presets)})"
            )
        if seeds is not None:
            check_seeds(seeds, "--seeds")
        return [self._resolve(preset, point, seed) for point, n_seeds in self.design(preset, seeds)
                for seed in range(n_seeds)]

    def design(self, preset: str, seeds: int | None = None) -> list[tuple[dict[str, Any], int]]:
        """(sweep point, seeds) of every point the preset runs."""
        cells = self.presets[preset].get("cells")
        if cells is None:
            n = self.seeds_for(preset) if seeds is None else seeds
            return [(point, n) for point in self.points()]
        out = []
        for point in self.points():
            cell = next((c for c in cells if all(point.get(k) == v for k, v in c.items() if k != "seeds")), None)
            if cell is not None:
                out.append((point, cell["seeds"] if seeds is None else seeds))
        return out

    def points(self) -> list[dict[str, Any]]:
        """The sweep's points (one dict of swept values each), restricted to `select`."""
        keys = list(self.sweep)
        points = [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.sweep.values())]
        return [p for p in points if all(p[k] in allowed for k, allowed in self.select.items())]

    def _resolve(self, preset: str, point: dict[str, Any], seed: int) -> RunConfig:
        method = point.get("method", self.config.get("method"))
        data = {"experiment": self.runs_of, "preset": preset, **self.config}
        data.update(_method_overrides(self.per_method.get(method, {})))
        data.update({k: v for k, v in self.presets[preset].items() if k not in PRESET_ONLY})
        data.update(self.presets[preset].get("per_method", {}).get(method, {}))
        data.update(point)
        data["seed"] = seed
        source = f"{self.path.name} [{preset}] {point}"
        cfg = RunConfig.from_dict(data, source)
        check_method(cfg, source)
        return cfg


def _method_overrides(block: dict[str, Any]) -> dict[str, Any]:
    out = dict(IGN_RECIPES[block["recipe"]]) if "recipe" in block else {}
    out.update({k: v for k, v in block.items() if k != "recipe"})
    return out


def spec_path(name_or_path: str) -> Path:
    """A spec file: a path to a .toml, or a name looked up in the spec folders."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise UserError(f"{name_or_path}: no such spec file")
        return path
    if NAME.match(name_or_path):
        for folder in spec_dirs():
            if (folder / f"{name_or_path}.toml").is_file():
                return folder / f"{name_or_path}.toml"
    raise UserError(f"unknown experiment {name_or_path!r} (available: {', '.join(available_experiments())})")


def available_experiments() -> list[str]:
    """Spec names of every spec folder, in natural order (fig2 < fig16, table1 < table2)."""
    def natural(name: str) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return sorted({p.stem for folder in spec_dirs() for p in folder.glob("*.toml")}, key=natural)


def load_spec(name_or_path: str, _chain: tuple[Path, ...] = ()) -> Spec:
    path = spec_path(name_or_path)
    return parse_spec(read_toml(path), path, _chain)


def parse_spec(raw: dict[str, Any], path: Path, _chain: tuple[Path, ...] = ()) -> Spec:
    name = path.name
    _reject_unknown(raw, TOP_LEVEL, name)
    exp = _table(raw, "experiment", name)
    _check_experiment(exp, name)
    if "same_runs_as" in exp:
        return _sharing_spec(raw, exp, path, (*_chain, path.resolve()))
    seeds = exp.get("seeds", 1)
    check_seeds(seeds, f"{name} [experiment]")
    sweep = _parse_sweep(raw, name)
    config = _table(raw, "config", name, required=False)
    check_keys(config, f"{name} [config]")
    per_method = _parse_per_method(raw, name)
    presets = _parse_presets(raw, sweep, name)
    default_preset = exp.get("default_preset", "paper")
    if default_preset not in presets:
        raise UserError(f"{name} [experiment]: default_preset {default_preset!r} is not a preset")
    spec = Spec(
        name=exp["name"], title=exp["title"], paper=exp.get("paper", ""),
        reference=exp.get("reference", ""), report=exp["report"], seeds=seeds,
        default_preset=default_preset, figures=_figure_kinds(exp, ["panels"], name), sweep=sweep, config=config,
        per_method=per_method, presets=presets, path=path, runs_of=exp["name"], claims=[],
        stall_threshold=_stall_threshold(exp, name),
    )
    every_run = [cfg for preset in presets for cfg in spec.expand(preset, seeds=1)]  # validated now, not mid-sweep
    spec.claims.extend(parse_claims(raw.get("claims"), name, every_run, list(sweep), spec.stall_threshold))
    return spec


def _check_experiment(exp: dict[str, Any], name: str) -> None:
    _reject_unknown(exp, EXPERIMENT_KEYS, f"{name} [experiment]")
    for key in ("name", "title", "report"):
        if not isinstance(exp.get(key), str):
            raise UserError(f"{name} [experiment]: {key} must be a string")
    for key in ("paper", "reference", "description"):
        if key in exp and not isinstance(exp[key], str):
            raise UserError(f"{name} [experiment]: {key} must be a string")
    if not NAME.match(exp["name"]) or ".." in exp["name"]:
        raise UserError(f"{name} [experiment]: name {exp['name']!r} must be letters, digits, '_', '-' or '.' "
                        "(it names a folder of the run store)")
    report_kinds = plugins.names("report_kinds")
    if exp["report"] not in report_kinds:
        raise UserError(f"{name} [experiment]: report must be one of {', '.join(report_kinds)}")
    if exp.get("reference") and not (shipped("paper") / exp["reference"]).is_file():
        raise UserError(f"{name} [experiment]: reference {exp['reference']!r} is not a table of {shipped('paper')}")


def _stall_threshold(exp: dict[str, Any], name: str) -> float:
    """The stall classifier's threshold (a share of distinct nearest training points): strictly between 0 and 1."""
    value = exp.get("stall_threshold", STALL_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UserError(f"{name} [experiment]: stall_threshold must lie strictly between 0 and 1, got {value!r}")
    return float(value)


def _parse_sweep(raw: dict[str, Any], name: str) -> dict[str, list]:
    sweep = _table(raw, "sweep", name)
    check_keys(sweep, f"{name} [sweep]")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{name} [sweep]: {key} must be a non-empty list")
        if key in ("experiment", "preset", "seed"):
            raise UserError(f"{name} [sweep]: {key} cannot be swept (seeds come from --seeds)")
        sweep[key] = [coerce_floats({key: v})[key] for v in values]
        for v in sweep[key]:
            check_type(key, v, f"{name} [sweep]")
    return sweep


def _parse_per_method(raw: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    per_method = _table(raw, "per_method", name, required=False)
    for method, block in per_method.items():
        if not isinstance(block, dict):
            raise UserError(f"{name} [per_method.{method}]: must be a table")
        if method not in METHODS:
            raise UserError(f"{name} [per_method]: unknown method {method!r}")
        recipe = block.get("recipe")
        if recipe is not None and recipe not in IGN_RECIPES:
            raise UserError(f"{name} [per_method.{method}]: unknown recipe {recipe!r}")
        check_keys({k: v for k, v in block.items() if k != "recipe"}, f"{name} [per_method.{method}]")
    return per_method


def _parse_presets(raw: dict[str, Any], sweep: dict[str, list], name: str) -> dict[str, dict[str, Any]]:
    presets = _table(raw, "presets", name, required=False)
    if not presets:
        raise UserError(f"{name}: needs at least one [presets.<name>] table")
    for preset, block in presets.items():
        where = f"{name} [presets.{preset}]"
        if not isinstance(block, dict):
            raise UserError(f"{where}: must be a table")
        check_keys({k: v for k, v in block.items() if k not in PRESET_ONLY}, where)
        _check_method_sizes(block.get("per_method", {}), where)
        if "seeds" in block:
            check_seeds(block["seeds"], where)
        if "cells" in block:
            _check_cells(block["cells"], sweep, where)
    return presets


def _check_method_sizes(per_method_sizes: Any, where: str) -> None:
    if not isinstance(per_method_sizes, dict):
        raise UserError(f"{where[:-1]}.per_method]: must be a table")
    for method, sizes in per_method_sizes.items():
        here = f"{where[:-1]}.per_method.{method}]"
        if method not in METHODS:
            raise UserError(f"{here}: unknown method {method!r}")
        if not isinstance(sizes, dict):
            raise UserError(f"{here}: must be a table")
        check_keys(sizes, here)


def _figure_kinds(exp: dict[str, Any], default: list[str], name: str) -> list[str]:
    figure_kinds = exp.get("figures", default)
    if not isinstance(figure_kinds, list) or any(k not in LOWDIM_FIGURE_KINDS for k in figure_kinds):
        raise UserError(f"{name} [experiment]: figures must be a list of {', '.join(LOWDIM_FIGURE_KINDS)}")
    return figure_kinds


def _check_cells(cells: Any, sweep: dict[str, list], where: str) -> None:
    """A designed preset: [[presets.<p>.cells]] pin swept values and give each cell its seeds (at least 2)."""
    if not isinstance(cells, list) or not cells or not all(isinstance(c, dict) for c in cells):
        raise UserError(f"{where}: cells must be a non-empty array of tables ([[presets.<name>.cells]])")
    for i, cell in enumerate(cells, start=1):
        here = f"{where} cell {i}"
        seeds = cell.get("seeds")
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 2 <= seeds <= MAX_SEEDS:
            raise UserError(f"{here}: seeds must be an integer in [2, {MAX_SEEDS}] (a cell's rate needs seeds), "
                            f"got {seeds!r}")
        for key, value in cell.items():
            if key == "seeds":
                continue
            if key not in sweep:
                raise UserError(f"{here}: {key!r} is not a swept field (swept: {', '.join(sweep)})")
            if value not in sweep[key]:
                raise UserError(f"{here}: {key} = {value!r} is not one of the swept levels {sweep[key]}")


MAX_SEEDS = 1000  # more seeds than any study here needs, and a plan that still costs in seconds


def check_seeds(seeds: Any, where: str) -> None:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 0 < seeds <= MAX_SEEDS:
        raise UserError(f"{where}: seeds must be an integer in [1, {MAX_SEEDS}], got {seeds!r}")


def _sharing_spec(raw: dict[str, Any], exp: dict[str, Any], path: Path, chain: tuple[Path, ...]) -> Spec:
    """A spec that reports another spec's runs differently (NAIGN Table 2 scores the models of Table 1)."""
    own = sorted((set(raw) - {"experiment", "claims"}) | (set(exp) & {"seeds", "default_preset"}))
    if own:
        raise UserError(f"{path.name}: {own[0]!r} cannot be set in a spec with same_runs_as "
                        f"(the runs, presets and seeds are those of {exp['same_runs_as']!r})")
    target = exp["same_runs_as"]
    if not isinstance(target, str):
        raise UserError(f"{path.name} [experiment]: same_runs_as must be a spec name")
    target_path = spec_path(target).resolve()
    if target_path in chain:  # cycles by resolved file: a name, a path to itself, or a loop of paths
        names = " -> ".join(p.name for p in (*chain, target_path))
        raise UserError(f"{path.name} [experiment]: same_runs_as cycle {names}")
    base = load_spec(str(target_path), chain)
    if base.runs_of != base.name:
        raise UserError(f"{path.name}: same_runs_as must name a spec with its own runs, not {base.name!r}")
    select = exp.get("select", {})
    if not isinstance(select, dict):
        raise UserError(f"{path.name} [experiment]: select must be a table of swept field = [values]")
    for key, values in select.items():
        if key not in base.sweep:
            raise UserError(f"{path.name} [experiment]: select {key!r} is not swept by {target!r} "
                            f"(swept: {', '.join(base.sweep)})")
        if not isinstance(values, list) or not values or any(v not in base.sweep[key] for v in values):
            raise UserError(f"{path.name} [experiment]: select {key} must list values swept by {target!r} "
                            f"({base.sweep[key]})")
    figure_kinds = _figure_kinds(exp, base.figures, path.name)
    spec = Spec(
        name=exp["name"], title=exp["title"], paper=exp.get("paper", ""), reference=exp.get("reference", ""),
        report=exp["report"], seeds=base.seeds, default_preset=base.default_preset, figures=figure_kinds,
        sweep=base.sweep, config=base.config, per_method=base.per_method, presets=base.presets, path=path,
        runs_of=base.runs_of, claims=[], select=select, stall_threshold=_stall_threshold(exp, path.name),
    )
    every_run = [cfg for preset in spec.presets for cfg in spec.expand(preset, seeds=1)]
    spec.claims.extend(parse_claims(raw.get("claims"), path.name, every_run, list(base.sweep),
                                    spec.stall_threshold))
    return spec


def _table(raw: dict[str, Any], key: str, name: str, required: bool = True) -> dict[str, Any]:
    value = raw.get(key, None if required else {})
    if not isinstance(value, dict):
        raise UserError(f"{name}: {'missing' if key not in raw else 'malformed'} [{key}] table")
    return value


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}")
