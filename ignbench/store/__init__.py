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
from ignbench.store.lock import holder, is_stale, read_lock

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
    UNSCORED = "done, not evaluated"  # trained, without an evaluation under the plan's evaluation settings
    DAMAGED = "damaged"  # a file of the run cannot be read or is incomplete: named, and --force redoes the run


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


def write_text(path: Path, text: str) -> None:
    """A text file written atomically (reports: a reader, or a second report, never sees half a file)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path, kind: type = dict) -> Any:
    """A JSON file of the store; anything unreadable is a one-line UserError naming the file."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: damaged ({exc.__class__.__name__}); --force redoes the run") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(value, kind):
        raise UserError(f"{path}: damaged (expected a JSON {kind.__name__}); --force redoes the run")
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

    def set_aside_newest(self) -> None:
        """The newest checkpoint is corrupt and the previous one good: move the corrupt one aside (`*.corrupt`), so
        that the next save cannot rotate it over the good backup."""
        if self.checkpoint.exists():
            os.replace(self.checkpoint, self.checkpoint.with_name(self.checkpoint.name + ".corrupt"))
            if self.previous_checkpoint.exists():
                os.replace(self.previous_checkpoint, self.checkpoint)

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
        """The run's state for its plan (`view_run`)."""
        return self.view(cfg).state

    def view(self, cfg: RunConfig) -> RunView:
        return view_run(self.run_dir(cfg), cfg.eval_id, curve=cfg.curve_every > 0)

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

    def iter_runs(self, experiment: str) -> Iterator[tuple[RunDir, dict, RunView]]:
        """(run dir, config dict ({} when damaged), view) for every run folder of an experiment; damaged runs are
        yielded too, never raised."""
        base = self.root / experiment
        if not base.is_dir():
            return
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            rd = RunDir(folder)
            view = view_run(rd, curve=True)
            try:
                config = read_json(rd.config) if rd.config.exists() else {}
            except UserError:
                config = {}
            yield rd, config, view

    def experiments(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))


def parse_state(value: Any, path: Path) -> State:
    try:
        return State(value)
    except ValueError:
        raise UserError(f"{path}: damaged (unknown state {value!r}); --force redoes the run") from None


@dataclass(frozen=True)
class RunView:
    """What a run's folder says, read in one place (`view_run`): its state for a plan, what was stored, and why
    it is damaged or who holds it."""

    state: State
    status: dict[str, Any]
    problem: str = ""  # DAMAGED: the file and what is wrong with it
    holder: str = ""  # RUNNING: host:pid of the live lock
    live_step: int | None = None
    last_beat: float | None = None  # INTERRUPTED: the last heartbeat seen


REQUIRED_CONFIG = ("experiment", "preset", "method", "dataset", "seed", "steps", "batch_size")


def view_run(rd: RunDir, eval_id: str | None = None, curve: bool = False) -> RunView:
    """The one reading of a run's state from its folder. Damaged files (status, config, the evaluation under
    `eval_id` (every evaluation when None), the training curve when `curve`) make it DAMAGED, naming the file; a DONE
    run without an evaluation under `eval_id` is UNSCORED; a RUNNING run whose lock is stale (`lock.is_stale`) is
    INTERRUPTED."""
    try:
        status = read_json(rd.status) if rd.status.exists() else {"state": State.PENDING}
        state = parse_state(status.get("state", State.PENDING), rd.status)
        if rd.status.exists():
            config = read_json(rd.config) if rd.config.exists() else {}
            missing = [k for k in REQUIRED_CONFIG if k not in config]
            if missing:
                raise UserError(f"{rd.config}: damaged ({'missing' if not config else 'no ' + missing[0]})")
        if state == State.DONE and eval_id is not None and not rd.eval_dir(eval_id).eval.exists():
            return RunView(State.UNSCORED, status)
        evals = [rd.eval_dir(eval_id)] if eval_id else [EvalDir(p.parent) for p in rd.path.glob("evals/*/eval.json")]
        for ed in evals if state == State.DONE else []:
            read_metrics(ed)
        if state == State.DONE and curve:
            read_curve(rd.curve)
    except UserError as exc:
        return RunView(State.DAMAGED, {}, problem=str(exc))
    if state != State.RUNNING:
        return RunView(state, status)
    lock = read_lock(rd.lock)
    if lock is None or is_stale(lock):
        beat = lock.get("heartbeat") if lock else status.get("heartbeat", status.get("started"))
        return RunView(State.INTERRUPTED, status, last_beat=beat)
    return RunView(State.RUNNING, status, holder=holder(lock), live_step=int(lock.get("step", 0)))


CURVE_HEADER = "step,bn_mode,metric,value"


def read_curve(path: Path) -> list[tuple[int, str, str, float]]:
    """A training curve's rows, checked: the header, four fields a row, an integer step, a number, the file's
    last line complete, and every step with the same (BatchNorm mode, metric) pairs. A damaged curve is a
    UserError naming the file; an absent one is no rows."""
    if not path.exists():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: damaged curve ({exc.__class__.__name__})") from None
    lines = text.splitlines()
    if not lines or lines[0] != CURVE_HEADER:
        raise UserError(f"{path}: damaged curve (its header is not {CURVE_HEADER})")
    if not text.endswith("\n"):
        raise UserError(f"{path}: damaged curve (its last row is cut short)")
    rows, pairs = [], {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        try:
            step, mode, metric, value = int(fields[0]), fields[1], fields[2], float(fields[3])
        except (ValueError, IndexError):
            raise UserError(f"{path}: damaged curve (line {number}: {line[:60]!r})") from None
        if len(fields) != 4:
            raise UserError(f"{path}: damaged curve (line {number} has {len(fields)} fields)")
        rows.append((step, mode, metric, value))
        pairs.setdefault(step, set()).add((mode, metric))
    if len({frozenset(p) for p in pairs.values()}) > 1:
        raise UserError(f"{path}: damaged curve (its steps do not all have the same metrics)")
    return rows


def write_eval(ed: EvalDir, cfg: RunConfig, metrics: dict, files: dict[str, bytes]) -> None:
    """An evaluation's files, then its eval.json last: an eval.json always has complete companions."""
    for name, data in files.items():
        atomic_write_bytes(ed.path / name, data)
    eval_config = {k: v for k, v in cfg.to_dict().items() if k in EVAL_FIELDS}
    atomic_write_json(ed.eval, {"config": eval_config, "metrics": metrics, "written": time.time()})


def read_metrics(ed: EvalDir) -> dict[str, dict[str, dict[str, float | None]]]:
    """{bn_mode: {application: {metric: value}}} of an evaluation; malformed content is a UserError."""
    metrics = read_json(ed.eval).get("metrics")
    ok = isinstance(metrics, dict) and metrics and all(vals for apps in metrics.values() for vals in apps.values())
    ok = ok and all(
        isinstance(apps, dict) and all(isinstance(vals, dict) and all(
            v is None or isinstance(v, (int, float)) for v in vals.values()) for vals in apps.values())
        for apps in metrics.values())
    if not ok:
        raise UserError(f"{ed.eval}: damaged evaluation (metrics is not a complete table of numbers)")
    return metrics


def _eval_fields() -> frozenset[str]:
    from ignbench.core.config import EVAL, FIELDS

    return frozenset(name for name, f in FIELDS.items() if f.metadata["group"] == EVAL)


EVAL_FIELDS = _eval_fields()
