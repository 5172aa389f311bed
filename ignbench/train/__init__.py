"""Run a group of runs to the end: lock, resume, train (stacked when they share a shape), checkpoint, evaluate.

Every run is locked while a process works on it (see `ignbench.store.lock`); a run held by a live process elsewhere is
skipped. A run whose newest checkpoint is unreadable resumes from the previous one; with `restart_corrupt` (the
CLI's --retry-failed) a run with no readable checkpoint restarts from step 0. A non-finite loss ends a run as
`diverged` (a result), while the others of its ensemble go on. A finished run whose evaluation for the current
evaluation settings is missing is only evaluated: its trainer, resumed at the final step, has no step left to do.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import platform
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.data import Data, load_data
from ignbench.methods.noise import Prior
from ignbench.store import EVAL_FIELDS, FAILED, FINISHED, RunDir, RunView, State, Store, atomic_write_bytes, write_eval
from ignbench.store.lock import LockLost, RunLock
from ignbench.train.trainer import Trainer

DEFAULT_CHECKPOINT_EVERY = 500


class Recorder(Protocol):
    """Measures a model during training: (bn_mode, metric, value) rows for the model as it is now."""

    def point(self, model: torch.nn.Module) -> list[tuple[str, str, float]]: ...


@dataclass(frozen=True)
class Scoring:
    """What training hands its models to, composed by the job function (`ignbench.launch.job`): the recorder of a
    run's training curve, and the final evaluation (metrics and the bytes of its files)."""

    curve: Callable[[RunConfig, Data, Prior], Recorder]
    evaluate: Callable[[RunConfig, torch.nn.Module, Data, Prior], tuple[dict, dict[str, bytes]]]
HELD = "held elsewhere"
BLOCKED = "blocked by"  # a run whose lock file is unreadable and still young: "blocked by <path> (unreadable)"
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)  # a full or read-only store: interrupted, not failed


def write_csv(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, out.getvalue().encode())


def pick_device() -> torch.device:
    """The device of this machine's runs: CUDA when there is one (for timing and checks of the plan)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_device(cfg: RunConfig) -> torch.device:
    """Where a run trains: its own `device` field (part of its identity); CUDA asked for where there is none is a
    one-line error."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UserError(f"run {cfg.run_id} is planned for CUDA (device = \"cuda\", its preset's), and this machine "
                        "has none: run it on a GPU machine or through Slurm with a GPU profile")
    return torch.device(cfg.device)


def environment() -> dict[str, str | int]:
    """Where and with what a run trained; the CPU thread count changes float summation order, hence results."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return {"host": socket.gethostname(), "git_sha": sha, "torch": torch.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads()}


class Job:
    """One run inside `run_group`: its config, store paths, lock, scoring and data once loaded."""

    def __init__(self, cfg: RunConfig, store: Store, scoring: Scoring):
        self.cfg = cfg
        self.store = store
        self.scoring = scoring
        self.rd: RunDir = store.run_dir(cfg)
        self.lock = RunLock(self.rd.path)
        self.data: Data | None = None
        self.checkpoint: dict | None = None

    def status(self, **fields) -> None:
        self.lock.ensure()
        self.store.write_status(self.cfg, **fields)

    def fail(self, exc: BaseException) -> State:
        """Record an exception as the run's failure: a UserError's one line, or a crash with its traceback."""
        if isinstance(exc, UserError):
            self.status(state=State.FAILED, error=str(exc), finished=time.time())
        else:
            import traceback

            self.status(state=State.FAILED, error=f"{exc.__class__.__name__}: {exc}", finished=time.time(),
                        traceback="".join(traceback.format_exception(exc)))
        return State.FAILED


MAX_STACK = 64  # runs trained together at most (per-op overhead is shared; beyond this arithmetic dominates)


def stack_groups(cfgs: list[RunConfig], max_stack: int = MAX_STACK) -> list[list[RunConfig]]:
    """Runs that can train as one ensemble: MLP runs equal in every training field but seed, dataset and labels,
    on data of one dimension; at most `max_stack` per group. Image runs train alone."""
    from ignbench.data.toy import get as toy

    groups: dict[tuple, list[RunConfig]] = defaultdict(list)
    for cfg in cfgs:
        if cfg.image:
            key: tuple = ("alone", cfg.experiment, cfg.run_id)
        else:
            shared = {k: v for k, v in cfg.to_dict().items()
                      if k not in ("seed", "dataset", "experiment", "preset") and k not in EVAL_FIELDS}
            key = ("stack", repr(sorted(shared.items())), toy(cfg.dataset).dim)
        groups[key].append(cfg)
    return [group[i : i + max_stack] for group in groups.values() for i in range(0, len(group), max_stack)]


def run_runs(cfgs: list[RunConfig], store: Store, data_root: Path | None = None,
             checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, progress: bool = True,
             extra_status: dict | None = None, restart_corrupt: bool = False, evaluate_only: bool = False,
             on_step: Callable[[int], None] | None = None, *, scoring: Scoring) -> dict[str, str]:
    """Train (stacked where possible) and score the runs, group by group; each run's final state (or HELD)."""
    results: dict[str, str] = {}
    groups = stack_groups(cfgs)
    for group in tqdm(groups, desc="groups", unit="group", disable=not progress or len(groups) < 2):
        results.update(run_group(group, store, data_root, checkpoint_every, progress, extra_status,
                                 restart_corrupt, evaluate_only, on_step, scoring=scoring))
    return results


def run_group(cfgs: list[RunConfig], store: Store, data_root: Path | None = None,
              checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, progress: bool = True,
              extra_status: dict | None = None, restart_corrupt: bool = False, evaluate_only: bool = False,
              on_step: Callable[[int], None] | None = None, bar_row: int | None = None, *,
              scoring: Scoring) -> dict[str, str]:
    """Lock the runs of one stack group, then train and evaluate those this process got.

    evaluate_only: score finished runs again from their final checkpoints, and leave every other run alone.
    bar_row: the terminal row of the progress bar (one per worker when groups run side by side; None: the next).
    """
    results: dict[str, str] = {}
    with ExitStack() as locks:
        jobs = []
        for cfg in cfgs:
            job = Job(cfg, store, scoring)
            if not job.lock.acquire():
                unreadable = job.lock.blocked_by.endswith("(unreadable)")
                results[cfg.run_id] = f"{BLOCKED} {job.lock.blocked_by}" if unreadable else HELD
                continue
            locks.callback(job.lock.release)
            jobs.append(job)
        try:
            ready: dict[int, list[Job]] = defaultdict(list)
            for job in jobs:
                view = store.view(job.cfg)  # again, under the lock: another process may have finished it
                if _leave_alone(view, evaluate_only, restart_corrupt):
                    results[job.cfg.run_id] = view.state
                elif _prepare(job, data_root, {**(extra_status or {}), "stacked_with": _partners(job, cfgs)},
                              restart_corrupt, evaluate_only):
                    ready[job.checkpoint["step"] if job.checkpoint else 0].append(job)
                else:
                    results[job.cfg.run_id] = State.FAILED
            for same_step in ready.values():  # members of one ensemble must resume from one step
                results.update(_train_stack(same_step, checkpoint_every, progress, on_step, bar_row))
        except (KeyboardInterrupt, SystemExit, LockLost):
            _interrupt(jobs, "interrupted; rerun the command to resume")
            raise
        except OSError as exc:
            if exc.errno not in STORAGE_ERRNOS:
                raise
            _interrupt(jobs, f"{exc.strerror}: {exc.filename}")
            raise UserError(f"{exc.filename or store.root}: {exc.strerror}; the runs are left interrupted: make room "
                            "(or make it writable), then rerun the same command to resume them") from None
    return results


def _passes_through(exc: BaseException) -> bool:
    """Not a failure of the run: a lost lock (stop writing at once) or a full or read-only store (interrupted)."""
    return isinstance(exc, LockLost) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS)


def _leave_alone(view: RunView, evaluate_only: bool, restart_corrupt: bool) -> bool:
    """Whether a locked run has nothing to do here: finished, failed (unless restarted), damaged, or not trained
    when only evaluating."""
    trained = view.state in (State.DONE, State.UNSCORED) or view.status.get("submitted_for") == "evaluation"
    if evaluate_only:
        return not trained
    return view.state in FINISHED or view.state == State.DAMAGED or (view.state in FAILED and not restart_corrupt)


def _interrupt(jobs: list[Job], error: str) -> None:
    """Mark the runs this process still owns and was working on as interrupted (best effort: the store may be full
    or read-only)."""
    for job in jobs:
        try:
            if job.lock.owned() and job.store.view(job.cfg).state == State.RUNNING:
                job.status(state=State.INTERRUPTED, error=error)
        except (OSError, UserError):
            pass


def _partners(job: Job, cfgs: list[RunConfig]) -> list[str]:
    """Provenance: the other runs of its stack (a run's numbers do not depend on them; see StackedLinear)."""
    return [f"{c.experiment}/{c.run_id}" for c in cfgs if c is not job.cfg]


def _prepare(job: Job, data_root: Path | None, extra: dict, restart_corrupt: bool, evaluate_only: bool) -> bool:
    """Load data and the newest readable checkpoint, and mark the run running; False if the run failed."""
    try:
        job.data = load_data(job.cfg, data_root)
        state, notes = job.rd.load_checkpoint("cpu")
        if state is None and notes:
            if not restart_corrupt:
                raise UserError(f"{notes[0]}; rerun with --retry-failed to restart the run from step 0")
            job.rd.quarantine_checkpoints()
        elif notes:  # the newest is corrupt, the previous one good: set the corrupt one aside, never rotate it in
            job.lock.ensure()
            job.rd.set_aside_newest()
        if evaluate_only and (state is None or state["step"] != job.cfg.steps):
            raise UserError(f"{job.rd.checkpoint}: no final checkpoint to evaluate (rerun the run with --force)")
    except Exception as exc:  # noqa: BLE001 - one run's failure must not stop the others
        if _passes_through(exc):
            raise
        job.fail(exc)
        return False
    job.checkpoint = state
    attempts = job.store.status(job.cfg).get("attempts", [])
    job.status(state=State.RUNNING, device=str(run_device(job.cfg)), started=time.time(), error=None,
               submitted_for=None, checkpoint_notes=notes, **environment(), **extra,
               attempts=[*attempts, {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time(),
                                     "from_step": state["step"] if state else 0}])
    return True


def _train_stack(jobs: list[Job], checkpoint_every: int, progress: bool,
                 on_step: Callable[[int], None] | None, bar_row: int | None = None) -> dict[str, str]:
    """Train the jobs of one group together to their step count, then evaluate each."""
    try:
        trainer = Trainer([j.cfg for j in jobs], [j.data for j in jobs], run_device(jobs[0].cfg))
        if jobs[0].checkpoint is not None:
            trainer.load_member_states([j.checkpoint for j in jobs])
        curves = {j.cfg.run_id: j.scoring.curve(j.cfg, j.data, trainer.members[e].prior)
                  for e, j in enumerate(jobs) if j.cfg.curve_every}
    except Exception as exc:  # noqa: BLE001
        return _failed(jobs, exc)
    cfg = jobs[0].cfg
    desc = (f"{cfg.method} {cfg.dataset} seed {cfg.seed}" if len(jobs) == 1
            else f"{cfg.method} x {len(jobs)} runs (stacked)")
    bar = tqdm(total=cfg.steps, initial=trainer.step_done, disable=not progress, leave=False, desc=desc, unit="step",
               position=bar_row)
    results: dict[str, str] = {}
    active = list(jobs)
    try:
        while trainer.step_done < cfg.steps and active:
            rows = trainer.step()
            active = _after_all(active, trainer, rows, curves, checkpoint_every, results)
            bar.set_postfix(loss=f"{rows[0]['loss']:.4g}", refresh=False)  # update() redraws at its own pace
            bar.update(1)
            if on_step is not None:
                on_step(trainer.step_done)
    except Exception as exc:  # noqa: BLE001 - a crash fails the runs it was training, not the sweep
        return results | _failed(active, exc)
    finally:
        bar.close()
    for e, job in enumerate(active):
        try:
            results[job.cfg.run_id] = _finish(job, trainer.member_model(e), trainer.members[e].prior)
        except Exception as exc:  # noqa: BLE001
            results |= _failed([job], exc)
    return results


def _failed(jobs: list[Job], exc: Exception) -> dict[str, str]:
    """Record a crash as the runs' failure, unless it is not theirs (a lost lock, a full or read-only store)."""
    if _passes_through(exc):
        raise exc
    return {job.cfg.run_id: job.fail(exc) for job in jobs}


def _after_all(active: list[Job], trainer: Trainer, rows: list[dict], curves: dict, checkpoint_every: int,
               results: dict[str, str]) -> list[Job]:
    """After a step: members whose loss is not finite diverge (and leave the stack), the others log, record their
    curve and checkpoint when their turn comes; the members still training."""
    step, log_every = trainer.step_done, max(1, active[0].cfg.steps // 200)
    gone = [e for e, row in enumerate(rows) if not math.isfinite(row["loss"])]
    for e, (job, row) in enumerate(zip(active, rows, strict=True)):
        job.lock.step = step
        if e in gone:
            results[job.cfg.run_id] = _diverge(job, trainer.members[e].log + [row], row)
        else:
            _after_step(job, trainer, e, row, curves.get(job.cfg.run_id), log_every, checkpoint_every)
    if gone:
        trainer.drop(gone)
    return [j for e, j in enumerate(active) if e not in gone]


def _after_step(job: Job, trainer: Trainer, e: int, row: dict, curve: Recorder | None, log_every: int,
                checkpoint_every: int) -> None:
    """Log, record the curve and checkpoint member e when their turn comes."""
    member, step, steps = trainer.members[e], trainer.step_done, job.cfg.steps
    if step % log_every == 0 or step == steps:
        member.log.append(row)
    if curve is not None and (step % job.cfg.curve_every == 0 or step == steps):
        member.curve += [{"step": step, "bn_mode": mode, "metric": metric, "value": value}
                         for mode, metric, value in curve.point(trainer.member_model(e))]
    if job.lock.lost:  # the heartbeat saw another process take the run: stop at once, write nothing
        job.lock.ensure()
    if step % checkpoint_every == 0 or step == steps:
        state = trainer.member_state(e)
        for write in (lambda: job.rd.save_checkpoint(state), lambda: write_csv(member.log, job.rd.log),
                      lambda: write_csv(member.curve, job.rd.curve)):
            job.lock.ensure()  # before each file: a lock lost mid-checkpoint lets only the file in flight land
            write()
        job.status(step=step)


def _diverge(job: Job, log: list[dict], row: dict) -> str:
    job.lock.ensure()
    write_csv(log, job.rd.log)
    job.status(state=State.DIVERGED, step=row["step"], finished=time.time(),
               error=f"non-finite loss {row['loss']} at step {row['step']}")
    return State.DIVERGED


def _finish(job: Job, model: torch.nn.Module, prior) -> str:
    metrics, files = job.scoring.evaluate(job.cfg, model, job.data, prior)
    job.lock.ensure()
    write_eval(job.store.eval_dir(job.cfg), job.cfg, metrics, files)
    job.status(state=State.DONE, step=job.cfg.steps, finished=time.time(), error=None)
    return State.DONE
