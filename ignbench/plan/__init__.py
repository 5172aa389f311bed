"""Spec x preset x seeds -> the runs to do now, and what they will cost on this machine.

The cost is calibrated, not modelled: for each distinct group of runs that trains together (one image run, or
a stack of low-dimensional runs), a few real steps are timed here (the fastest of three rounds), once with the
IMLE search and once with the replay buffer, and combined by the replay probability. The final evaluation is
timed on a scaled-down copy of the run's evaluation, and one point of the training curve as it runs. Timings are
cached per machine (host, device, torch threads) in ~/.cache/ignbench/step_times.json, so a second dry run is
instant.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.data import Data
from ignbench.methods import METHODS
from ignbench.spec import Spec
from ignbench.store import FAILED, FINISHED, State, Store
from ignbench.store.lock import RunLock
from ignbench.train import stack_groups

TIMED_STEPS = 3  # at least this many steps per timing round ...
ROUND_SECONDS = 0.5  # ... and at least this long: fast (low-dimensional) steps are timed over many steps
STAND_IN_IMAGES = 1000  # random images timed in place of a missing image set
CALIBRATION = 4  # part of the cache key: timings of an older calibration (or slower kernels) are measured again
TIMING_ROUNDS = 3  # the fastest round is kept: a load spike on a shared machine should not stick in the cache


@dataclass
class Plan:
    spec: Spec
    preset: str
    runs: list[RunConfig]
    states: dict[str, str]
    todo: list[RunConfig] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # run id -> what is wrong (left alone unless --force)


def make_plan(spec: Spec, preset: str, seeds: int | None, store: Store, force: bool = False,
              retry_failed: bool = False) -> Plan:
    """Finished runs (done and evaluated, diverged) are skipped unless --force; failed ones unless
    --retry-failed; runs held by a live process elsewhere are left to it."""
    if force and retry_failed:
        raise UserError("--force and --retry-failed exclude each other (--force redoes every run)")
    runs = spec.expand(preset, seeds)
    views = {cfg.run_id: store.view(cfg) for cfg in runs}
    todo = [cfg for cfg in runs if force or _to_do(views[cfg.run_id].state, retry_failed)]
    damaged = {cfg.run_id: views[cfg.run_id].problem for cfg in runs
               if views[cfg.run_id].state == State.DAMAGED and not force}
    return Plan(spec, preset, runs, {r: str(v.state) for r, v in views.items()}, todo, damaged)


def _to_do(state: State, retry_failed: bool) -> bool:
    """Left to do by a plain run: everything but finished, failed (unless retried), live and damaged runs."""
    if state in FAILED:
        return retry_failed
    return state not in FINISHED | {State.RUNNING, State.DAMAGED}


def reset_forced(plans: list[Plan], store: Store) -> None:
    """--force: drop the old files (checkpoints included) of the runs about to be redone, each under its lock. A
    run held by a live process is refused, naming it, before anything is deleted."""
    locks: list[RunLock] = []
    try:
        for cfg in (c for p in plans for c in p.todo):
            lock = RunLock(store.run_dir(cfg).path)
            if not lock.acquire():
                raise UserError(f"{store.run_dir(cfg).path}: being trained by {lock.blocked_by or 'another process'}"
                                "; stop it first")
            locks.append(lock)
        for lock in locks:
            for path in lock.path.parent.iterdir():
                if path != lock.path:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    finally:
        for lock in locks:
            lock.release()


def _machine() -> str:
    device = "cuda:" + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return f"{socket.gethostname()}|{device}|threads={torch.get_num_threads()}|torch={torch.__version__}"


def cache_path() -> Path:
    """Where measured step times are kept: $IGNBENCH_CACHE or ~/.cache/ignbench, file step_times.json."""
    return Path(os.environ.get("IGNBENCH_CACHE", Path.home() / ".cache" / "ignbench")) / "step_times.json"


def _load_cache() -> dict:
    try:
        cache = json.loads(cache_path().read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def _save_cache(cache: dict) -> None:
    try:
        path = cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a re-measurement next time


def _timing_key(group: list[RunConfig]) -> str:
    cfg = group[0]
    shared = {k: v for k, v in cfg.to_dict().items() if k not in ("experiment", "preset", "seed", "steps")}
    return f"{_machine()}|v{CALIBRATION}|E={len(group)}|{json.dumps(shared, sort_keys=True)}"


def timing_data(cfg: RunConfig, notes: set[str]) -> Data:
    """The run's data, or random images of its shape when its image set is not on this machine: the time of a step
    or an evaluation does not depend on pixel values, so a plan can be costed before the data is fetched."""
    from ignbench.data import load_data

    try:
        return load_data(cfg)
    except UserError:
        if not cfg.image:
            raise
    notes.add(f"{cfg.dataset} is not on this machine: timed on random images of its shape")
    n = max(STAND_IN_IMAGES, cfg.batch_size, cfg.eval_n_real)
    images = torch.rand(n, cfg.channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    images = images * 2 - 1
    return Data(train=images, test=images[: cfg.eval_n_real], test_all=images)


def _time_steps(group: list[RunConfig], replay_prob: float, notes: set[str]) -> float:
    """Seconds per step of the group's trainer with every step searching (0) or replaying (1)."""
    from ignbench.train import pick_device
    from ignbench.train.trainer import Trainer

    cfgs = [c.replace(replay_prob=replay_prob, curve_every=0) for c in group]
    trainer = Trainer(cfgs, [timing_data(c, notes) for c in cfgs], pick_device())
    trainer.step()  # warm-up (and, for replay, fills the buffer)
    rounds = []
    for _ in range(TIMING_ROUNDS):
        start, steps = time.perf_counter(), 0
        while steps < TIMED_STEPS or time.perf_counter() - start < ROUND_SECONDS:
            trainer.step()
            steps += 1
            if torch.cuda.is_available():
                torch.cuda.synchronize()
        rounds.append((time.perf_counter() - start) / steps)
    return min(rounds)


def _time_evaluation(cfg: RunConfig, notes: set[str]) -> float | None:
    """Seconds of one evaluation, from a copy at about a tenth of the sample counts (evaluation is linear in them);
    None when it cannot run here (FID without the InceptionV3 weights)."""
    from ignbench.evaluate.run import evaluate_run
    from ignbench.train import pick_device
    from ignbench.train.trainer import Trainer

    scale = 10
    small = cfg.replace(eval_n_samples=max(50, cfg.eval_n_samples // scale),
                        eval_n_real=max(50, cfg.eval_n_real // scale), fk_samples=max(10, cfg.fk_samples // scale),
                        grid_points=max(100, cfg.grid_points // scale), eval_fid=cfg.channels > 1)
    trainer = Trainer([small], [timing_data(small, notes)], pick_device())
    start = time.perf_counter()
    try:
        evaluate_run(small, trainer.member_model(0), trainer.members[0].data, trainer.members[0].prior)
    except UserError as exc:
        notes.add(f"evaluation not timed, the estimate leaves it out ({exc})")
        return None
    return (time.perf_counter() - start) * cfg.eval_n_samples / small.eval_n_samples


def _time_curve_point(cfg: RunConfig, notes: set[str]) -> float:
    """Seconds of one point of the training curve, timed as it runs (it is small: `curve_n_samples` samples)."""
    from ignbench.evaluate.run import Curve
    from ignbench.train import pick_device
    from ignbench.train.trainer import Trainer

    trainer = Trainer([cfg], [timing_data(cfg, notes)], pick_device())
    member = trainer.members[0]
    curve = Curve(cfg, member.data, member.prior)
    model = trainer.member_model(0)
    curve.point(model)  # warm-up
    start = time.perf_counter()
    curve.point(model)
    return time.perf_counter() - start


def group_seconds(group: list[RunConfig], cache: dict, notes: set[str]) -> float:
    """Estimated wall time of training one group (stacked) and evaluating its runs."""
    key = _timing_key(group)
    if key not in cache:
        cfg = group[0]
        measured: set[str] = set()
        search = _time_steps(group, 0.0, measured) if METHODS[cfg.method].imle else None
        replay = _time_steps(group, 1.0, measured)
        evaluation = _time_evaluation(cfg, measured)
        curve_point = _time_curve_point(cfg, measured) if cfg.curve_every else 0.0
        notes |= measured
        timing = {"search": search, "replay": replay, "evaluation": evaluation, "curve_point": curve_point}
        if measured:  # timed on stand-ins: not cached, so the real data is timed once it is here
            return _seconds(group, {**timing, "evaluation": evaluation or 0.0})
        cache[key] = timing
    return _seconds(group, cache[key])


def _seconds(group: list[RunConfig], timing: dict) -> float:
    cfg = group[0]
    per_step = timing["replay"] if timing["search"] is None else (
        cfg.replay_prob * timing["replay"] + (1 - cfg.replay_prob) * timing["search"])
    points = math.ceil(cfg.steps / cfg.curve_every) if cfg.curve_every else 0
    curve = points * timing["curve_point"] * len(group)
    return cfg.steps * per_step + len(group) * (timing["evaluation"] or 0.0) + curve


def estimate(runs: list[RunConfig], notes: set[str] | None = None,
             threads: int | None = None) -> list[tuple[list[RunConfig], float]]:
    """(group, seconds) for the runs about to be done, measured on this machine (cached) with `threads` torch
    threads (default: this process's); what could not be measured as such is added to `notes`."""
    cache = _load_cache()
    notes = set() if notes is None else notes
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        out = [(group, group_seconds(group, cache, notes)) for group in stack_groups(runs)]
    finally:
        torch.set_num_threads(previous)
    _save_cache(cache)
    return out


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of tasks taken in order, each by the first free of `workers` (as a process pool does)."""
    free = [0.0] * max(1, workers)
    for task in seconds:
        first = free.index(min(free))
        free[first] += task
    return max(free)


def human_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

