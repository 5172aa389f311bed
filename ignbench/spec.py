"""Load and validate an experiment spec (benchmarks/<name>.toml) and expand it into runs.

Resolution order for each run's fields (later wins):
    RunConfig defaults < [config] < [per_method.<method>] (with its `recipe`) < [presets.<preset>] < [sweep] values
A preset changes sizes (steps, samples, data), never the method.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ignbench.config import FIELD_TYPES, IGN_RECIPES, METHODS, RunConfig, check_keys, check_type
from ignbench.errors import UserError

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
TOP_LEVEL = {"experiment", "sweep", "config", "per_method", "presets"}
EXPERIMENT_KEYS = {"name", "title", "paper", "reference", "report", "seeds", "default_preset", "description", "figures",
                   "same_runs_as"}
LOWDIM_FIGURE_KINDS = ("panels", "density", "projection")
REPORT_KINDS = ("generation", "lowdim", "restoration", "curves", "stability")


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

    def preset_names(self) -> list[str]:
        return list(self.presets)

    def seeds_for(self, preset: str) -> int:
        return int(self.presets[preset].get("seeds", self.seeds))

    def expand(self, preset: str, seeds: int | None = None) -> list[RunConfig]:
        """Cross product sweep x seeds, each resolved into a validated RunConfig."""
        if preset not in self.presets:
            raise UserError(
                f"{self.path.name}: unknown preset {preset!r} (available: {', '.join(self.presets)})"
            )
        n_seeds = self.seeds_for(preset) if seeds is None else seeds
        if n_seeds <= 0:
            raise UserError(f"--seeds must be a positive integer, got {n_seeds}")
        overrides = {k: v for k, v in self.presets[preset].items() if k != "seeds"}
        keys = list(self.sweep)
        runs = []
        for values in itertools.product(*(self.sweep[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            method = point.get("method", self.config.get("method"))
            for seed in range(n_seeds):
                data = {"experiment": self.runs_of, "preset": preset, **self.config}
                data.update(_method_overrides(self.per_method.get(method, {})))
                data.update(overrides)
                data.update(point)
                data["seed"] = seed
                source = f"{self.path.name} [{preset}] {point}"
                runs.append(RunConfig.from_dict(_coerce_floats(data), source))
        return runs


def _method_overrides(block: dict[str, Any]) -> dict[str, Any]:
    out = dict(IGN_RECIPES[block["recipe"]]) if "recipe" in block else {}
    out.update({k: v for k, v in block.items() if k != "recipe"})
    return out


def _coerce_floats(data: dict[str, Any]) -> dict[str, Any]:
    """TOML writes 1 and 1.0 differently; make float fields floats so equal configs hash equally."""
    out = dict(data)
    for key, value in data.items():
        if FIELD_TYPES.get(key) == "float" and isinstance(value, int) and not isinstance(value, bool):
            out[key] = float(value)
        if FIELD_TYPES.get(key) == "list" and isinstance(value, list):
            out[key] = [float(v) if isinstance(v, int) else v for v in value]
    return out


def spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    candidate = BENCHMARKS_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    raise UserError(
        f"unknown experiment {name_or_path!r} (available: {', '.join(available_experiments())})"
    )


def available_experiments() -> list[str]:
    """Spec names in natural order (fig2 < fig16, table1 < table2)."""
    def natural(name: str) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return sorted((p.stem for p in BENCHMARKS_DIR.glob("*.toml")), key=natural)


def load_spec(name_or_path: str) -> Spec:
    path = spec_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path.name}: not valid TOML ({exc})") from None
    return parse_spec(raw, path)


def parse_spec(raw: dict[str, Any], path: Path) -> Spec:
    name = path.name
    _reject_unknown(raw, TOP_LEVEL, name)
    exp = _table(raw, "experiment", name)
    _reject_unknown(exp, EXPERIMENT_KEYS, f"{name} [experiment]")
    for key in ("name", "title", "report"):
        if not isinstance(exp.get(key), str):
            raise UserError(f"{name} [experiment]: {key} must be a string")
    if exp["report"] not in REPORT_KINDS:
        raise UserError(f"{name} [experiment]: report must be one of {', '.join(REPORT_KINDS)}")
    if "same_runs_as" in exp:
        return _sharing_spec(raw, exp, path)
    seeds = exp.get("seeds", 1)
    if not isinstance(seeds, int) or seeds <= 0:
        raise UserError(f"{name} [experiment]: seeds must be a positive integer, got {seeds!r}")

    sweep = _table(raw, "sweep", name)
    check_keys(sweep, f"{name} [sweep]")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{name} [sweep]: {key} must be a non-empty list")
        for v in values:
            check_type(key, float(v) if FIELD_TYPES[key] == "float" and isinstance(v, int) else v,
                       f"{name} [sweep]")

    config = raw.get("config", {})
    check_keys(config, f"{name} [config]")
    per_method = raw.get("per_method", {})
    for method, block in per_method.items():
        if method not in METHODS:
            raise UserError(f"{name} [per_method]: unknown method {method!r}")
        recipe = block.get("recipe")
        if recipe is not None and recipe not in IGN_RECIPES:
            raise UserError(f"{name} [per_method.{method}]: unknown recipe {recipe!r}")
        check_keys({k: v for k, v in block.items() if k != "recipe"}, f"{name} [per_method.{method}]")
    presets = raw.get("presets", {})
    if not presets:
        raise UserError(f"{name}: needs at least one [presets.<name>] table")
    for preset, block in presets.items():
        check_keys({k: v for k, v in block.items() if k != "seeds"}, f"{name} [presets.{preset}]")
    figure_kinds = exp.get("figures", ["panels"])
    if not isinstance(figure_kinds, list) or any(k not in LOWDIM_FIGURE_KINDS for k in figure_kinds):
        raise UserError(f"{name} [experiment]: figures must be a list of {', '.join(LOWDIM_FIGURE_KINDS)}")
    default_preset = exp.get("default_preset", "paper")
    if default_preset not in presets:
        raise UserError(f"{name} [experiment]: default_preset {default_preset!r} is not a preset")

    spec = Spec(
        name=exp["name"], title=exp["title"], paper=exp.get("paper", ""),
        reference=exp.get("reference", ""), report=exp["report"], seeds=seeds,
        default_preset=default_preset, figures=figure_kinds, sweep=sweep, config=config, per_method=per_method,
        presets=presets, path=path, runs_of=exp["name"],
    )
    for preset in presets:  # validate every run of every preset now, not halfway through a sweep
        spec.expand(preset, seeds=1)
    return spec


def _sharing_spec(raw: dict[str, Any], exp: dict[str, Any], path: Path) -> Spec:
    """A spec that reports another spec's runs differently (NAIGN Table 2 scores the models of Table 1)."""
    own = sorted((set(raw) - {"experiment"}) | (set(exp) & {"seeds", "default_preset", "figures"}))
    if own:
        raise UserError(f"{path.name}: {own[0]!r} cannot be set in a spec with same_runs_as "
                        f"(the runs, presets and seeds are those of {exp['same_runs_as']!r})")
    base = load_spec(str(exp["same_runs_as"]))
    if base.runs_of != base.name:
        raise UserError(f"{path.name}: same_runs_as must name a spec with its own runs, not {base.name!r}")
    return Spec(
        name=exp["name"], title=exp["title"], paper=exp.get("paper", ""), reference=exp.get("reference", ""),
        report=exp["report"], seeds=base.seeds, default_preset=base.default_preset, figures=base.figures,
        sweep=base.sweep, config=base.config, per_method=base.per_method, presets=base.presets, path=path,
        runs_of=base.runs_of,
    )


def _table(raw: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise UserError(f"{name}: missing [{key}] table")
    return value


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}")
