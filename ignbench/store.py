"""The run store: one folder per run, atomic writes, and a tidy view of everything in it.

    <root>/<experiment>/<run_id>/config.json   resolved RunConfig
                                 status.json   state, step, times, host, device, git sha, error
                                 train_log.csv step-wise losses
                                 checkpoint.pt model + optimizer + RNG + replay buffer
                                 eval.json     {"metrics": {application: {metric: value}}, ...}
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ignbench.config import RunConfig
from ignbench.errors import UserError

DEFAULT_ROOT = Path("results/runs")
FINISHED = ("done", "diverged")
FAILED = ("failed", "timeout", "cancelled", "out-of-memory", "node-fail")


def count_states(states: Iterable[str]) -> str:
    """'2 done, 1 failed': how many runs are in each state, states sorted by name."""
    return ", ".join(f"{n} {state}" for state, n in sorted(Counter(states).items()))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then os.replace: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch  # lazy: `ignbench.load_results` should not pay for importing torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt result file ({exc.__class__.__name__}); "
                        f"delete it or rerun with --force") from None


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's files."""

    path: Path

    config = property(lambda self: self.path / "config.json")
    status = property(lambda self: self.path / "status.json")
    log = property(lambda self: self.path / "train_log.csv")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    eval = property(lambda self: self.path / "eval.json")
    artifacts = property(lambda self: self.path / "artifacts.pt")
    samples = property(lambda self: self.path / "samples.png")
    restoration = property(lambda self: self.path / "restoration.png")
    curve = property(lambda self: self.path / "fld_curve.csv")
    iterates = property(lambda self: self.path / "iterates.png")


class Store:
    def __init__(self, root: Path | str = DEFAULT_ROOT):
        self.root = Path(root)

    def run_dir(self, cfg: RunConfig) -> RunDir:
        return RunDir(self.root / cfg.experiment / cfg.run_id)

    def status(self, cfg: RunConfig) -> dict[str, Any]:
        path = self.run_dir(cfg).status
        return read_json(path) if path.exists() else {"state": "pending"}

    def state(self, cfg: RunConfig) -> str:
        return self.status(cfg).get("state", "pending")

    def write_status(self, cfg: RunConfig, **fields: Any) -> dict[str, Any]:
        """Merge fields into status.json (creating the run folder and config.json on first use)."""
        rd = self.run_dir(cfg)
        if not rd.config.exists():
            atomic_write_json(rd.config, cfg.to_dict())
        current = read_json(rd.status) if rd.status.exists() else {}
        current.update(fields)
        atomic_write_json(rd.status, current)
        return current

    def iter_runs(self, experiment: str | None = None) -> Iterator[tuple[RunDir, dict, dict]]:
        """(run dir, config dict, status dict) for every run folder; corrupt files raise UserError."""
        base = self.root / experiment if experiment else self.root
        if not base.exists():
            return
        pattern = "*/config.json" if experiment else "*/*/config.json"
        for cfg_path in sorted(base.glob(pattern)):
            rd = RunDir(cfg_path.parent)
            config = read_json(cfg_path)
            status = read_json(rd.status) if rd.status.exists() else {"state": "pending"}
            yield rd, config, status

    def experiments(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())


def _resolved_m(config: dict[str, Any]) -> int:
    if config["method"] == "ign":
        return 0
    return RunConfig.from_dict(config, "config.json").resolved_imle_m


def load_curves(experiment: str, root: Path | str = DEFAULT_ROOT) -> pd.DataFrame:
    """FLD during training (runs with curve_every > 0): one row per (run, step) with the run's method, dataset,
    seed, preset and M."""
    frames = []
    for rd, config, _ in Store(root).iter_runs(experiment):
        if rd.curve.exists():
            frame = pd.read_csv(rd.curve)
            frame = frame.assign(run_id=rd.path.name, method=config["method"], dataset=config["dataset"],
                                 seed=config["seed"], preset=config["preset"], M=_resolved_m(config))
            frames.append(frame)
    columns = ["run_id", "method", "dataset", "seed", "preset", "M", "step", "fld"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def load_results(experiment: str | None = None, root: Path | str = DEFAULT_ROOT) -> pd.DataFrame:
    """One tidy row per (run, application, metric); runs without metrics appear once with value NaN.

    Columns: experiment, preset, run_id, method, dataset, seed, state, <config fields>, M (the resolved number
    of IMLE candidates; 0 for IGN), application, metric, value.
    """
    rows = []
    for rd, config, status in Store(root).iter_runs(experiment):
        base = {**config, "run_id": rd.path.name, "state": status.get("state", "pending"), "M": _resolved_m(config)}
        base.pop("betas", None)
        metrics = read_json(rd.eval).get("metrics", {}) if rd.eval.exists() else {}
        if not isinstance(metrics, dict):
            raise UserError(f"{rd.eval}: corrupt result file (metrics is not a table)")
        if not metrics:
            rows.append({**base, "application": None, "metric": None, "value": float("nan")})
        for application, values in metrics.items():
            for metric, value in values.items():
                rows.append({**base, "application": application, "metric": metric,
                             "value": float("nan") if value is None else float(value)})
    return pd.DataFrame(rows)
