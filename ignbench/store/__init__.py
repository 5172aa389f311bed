"""The run store: one folder per run, atomic writes, run states, and a tidy view of the results.

    <root>/<experiment>/<run_id>/config.json          the run's resolved RunConfig
                                 status.json          state, step, times, host, device, git sha, error
                                 lock.json            while a process holds the run (host, pid, heartbeat)
                                 train_log.csv        step-wise loss terms
                                 curve.csv            metrics during training (step, bn_mode, metric, value)
                                 checkpoint.pt        model + optimizer + RNG + replay buffer (+ checkpoint.prev.pt)
                                 evals/<eval_id>/     one folder per evaluation setting:
                                     eval.json        {"config", "metrics": {bn_mode: {application: {metric: v}}}}
                                     samples_<bn_mode>.png, restoration_*, iterates_*, artifacts_<bn_mode>.pt
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.core.serial import torch_bytes
from ignbench.store.lock import is_stale, read_lock

DEFAULT_ROOT = Path("results/runs")


class State(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    DONE = "done"
    DIVERGED = "diverged"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    OUT_OF_MEMORY = "out-of-memory"
    NODE_FAIL = "node-fail"


FINISHED = frozenset({State.DONE, State.DIVERGED})
FAILED = frozenset({State.FAILED, State.TIMEOUT, State.CANCELLED, State.OUT_OF_MEMORY, State.NODE_FAIL})
ACTIVE = frozenset({State.SUBMITTED, State.RUNNING})


def count_states(states: Iterable[str]) -> str:
    """'2 done, 1 failed': how many runs are in each state, states sorted by name."""
    return ", ".join(f"{n} {state}" for state, n in sorted(Counter(map(str, states)).items()))


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


def read_json(path: Path, kind: type = dict) -> Any:
    """A JSON file of the store; anything unreadable is a one-line UserError naming the file."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt result file ({exc.__class__.__name__}); "
                        f"delete it or rerun with --force") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(value, kind):
        raise UserError(f"{path}: corrupt result file (expected a JSON {kind.__name__})")
    return value


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's files."""

    path: Path

    config = property(lambda self: self.path / "config.json")
    status = property(lambda self: self.path / "status.json")
    lock = property(lambda self: self.path / "lock.json")
    log = property(lambda self: self.path / "train_log.csv")
    curve = property(lambda self: self.path / "curve.csv")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    previous_checkpoint = property(lambda self: self.path / "checkpoint.prev.pt")

    def eval_dir(self, eval_id: str) -> EvalDir:
        return EvalDir(self.path / "evals" / eval_id)

    def save_checkpoint(self, state: dict) -> None:
        """Write the new checkpoint beside the old one, keep the old one as checkpoint.prev.pt."""
        data = torch_bytes(state)
        tmp = self.path / ".checkpoint.pt.new"
        atomic_write_bytes(tmp, data)
        if self.checkpoint.exists():
            os.replace(self.checkpoint, self.previous_checkpoint)
        os.replace(tmp, self.checkpoint)

    def load_checkpoint(self, device: Any) -> tuple[dict | None, list[str]]:
        """(state of the newest readable checkpoint or None, one note per unreadable one, newest first)."""
        import pickle

        import torch

        notes = []
        for path in (self.checkpoint, self.previous_checkpoint):
            if not path.exists():
                continue
            try:
                state = torch.load(path, map_location=device, weights_only=False)
                if not isinstance(state, dict) or "step" not in state:
                    raise ValueError("not a training checkpoint")
                return state, notes
            except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
                notes.append(f"{path}: corrupt checkpoint ({str(exc).splitlines()[0][:120]})")
        return None, notes

    def quarantine_checkpoints(self) -> None:
        """Move unreadable checkpoints aside (`*.corrupt`) so that the run restarts from step 0."""
        for path in (self.checkpoint, self.previous_checkpoint):
            if path.exists():
                os.replace(path, path.with_name(path.name + ".corrupt"))


@dataclass(frozen=True)
class EvalDir:
    """Paths of one evaluation of a run."""

    path: Path

    eval = property(lambda self: self.path / "eval.json")

    def file(self, kind: str, bn_mode: str) -> Path:
        """samples / restoration / iterates (PNG) or artifacts (toy data, .pt) of one BatchNorm mode."""
        return self.path / f"{kind}_{bn_mode}.{'pt' if kind == 'artifacts' else 'png'}"


class Store:
    def __init__(self, root: Path | str = DEFAULT_ROOT):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--store {self.root}: exists and is not a folder")

    def check_writable(self) -> None:
        """Fail before any run starts when runs cannot be written here: try it (permissions alone say nothing to
        root, nor about read-only mounts)."""
        probe = self.root
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise UserError(f"--store {self.root}: {probe} is not a folder")
        try:
            fd, tmp = tempfile.mkstemp(dir=probe, prefix=".ignbench-probe-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise UserError(f"--store {self.root}: not writable ({probe}: {exc.strerror})") from None

    def run_dir(self, cfg: RunConfig) -> RunDir:
        return RunDir(self.root / cfg.experiment / cfg.run_id)

    def eval_dir(self, cfg: RunConfig) -> EvalDir:
        return self.run_dir(cfg).eval_dir(cfg.eval_id)

    def status(self, cfg: RunConfig) -> dict[str, Any]:
        path = self.run_dir(cfg).status
        return read_json(path) if path.exists() else {"state": State.PENDING}

    def state(self, cfg: RunConfig) -> State:
        """The run's state, as stored (see `live_state` for what a lock says about a running run)."""
        return parse_state(self.status(cfg).get("state", State.PENDING), self.run_dir(cfg).status)

    def has_eval(self, cfg: RunConfig) -> bool:
        return self.eval_dir(cfg).eval.exists()

    def write_status(self, cfg: RunConfig, **fields: Any) -> dict[str, Any]:
        """Merge fields into status.json (creating the run folder and config.json on first use)."""
        rd = self.run_dir(cfg)
        if not rd.config.exists():
            atomic_write_json(rd.config, cfg.to_dict())
        current = read_json(rd.status) if rd.status.exists() else {}
        current.update(fields)
        atomic_write_json(rd.status, current)
        return current

    def iter_runs(self, experiment: str) -> Iterator[tuple[RunDir, dict, dict]]:
        """(run dir, config dict, status dict) for every run folder of an experiment."""
        base = self.root / experiment
        if not base.is_dir():
            return
        for cfg_path in sorted(base.glob("*/config.json")):
            rd = RunDir(cfg_path.parent)
            status = read_json(rd.status) if rd.status.exists() else {"state": State.PENDING}
            yield rd, read_json(cfg_path), status

    def experiments(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))


def parse_state(value: Any, path: Path) -> State:
    try:
        return State(value)
    except ValueError:
        raise UserError(f"{path}: corrupt result file (unknown state {value!r})") from None


def live_state(rd: RunDir, status: dict[str, Any]) -> tuple[str, int | None]:
    """What `status` shows: the stored state, except that a running run whose lock has no recent heartbeat is
    `interrupted (no heartbeat since ...)`, and a live lock gives the live step."""
    state = parse_state(status.get("state", State.PENDING), rd.status)
    lock = read_lock(rd.lock)
    if state != State.RUNNING:
        return str(state), None
    if lock is None or is_stale(lock):
        beat = lock.get("heartbeat") if lock else status.get("heartbeat", status.get("started"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(beat)) if beat else "?"
        return f"interrupted (no heartbeat since {since})", None
    return f"running on {lock.get('host')}:{lock.get('pid')}", int(lock.get("step", 0))


def write_eval(ed: EvalDir, cfg: RunConfig, metrics: dict, files: dict[str, bytes]) -> None:
    """An evaluation's files, then its eval.json last: an eval.json always has complete companions."""
    for name, data in files.items():
        atomic_write_bytes(ed.path / name, data)
    eval_config = {k: v for k, v in cfg.to_dict().items() if k in EVAL_FIELDS}
    atomic_write_json(ed.eval, {"config": eval_config, "metrics": metrics, "written": time.time()})


def read_metrics(ed: EvalDir) -> dict[str, dict[str, dict[str, float | None]]]:
    """{bn_mode: {application: {metric: value}}} of an evaluation; malformed content is a UserError."""
    metrics = read_json(ed.eval).get("metrics")
    ok = isinstance(metrics, dict) and all(
        isinstance(apps, dict) and all(isinstance(vals, dict) and all(
            v is None or isinstance(v, (int, float)) for v in vals.values()) for vals in apps.values())
        for apps in metrics.values())
    if not ok:
        raise UserError(f"{ed.eval}: corrupt result file (metrics is not a table of numbers)")
    return metrics


def _eval_fields() -> frozenset[str]:
    from ignbench.core.config import EVAL, FIELDS

    return frozenset(name for name, f in FIELDS.items() if f.metadata["group"] == EVAL)


EVAL_FIELDS = _eval_fields()
