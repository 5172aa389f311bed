"""Local execution: the groups of runs one after another in this process, or `jobs` at a time in worker processes.

Small models use a CPU better side by side than through one model's intra-op threads, so `--jobs N` runs N groups
at once, each worker with 1/N of this process's torch threads. Runs are locked one by one (`ignbench.store.lock`), so
workers never work on the same run, and a run is resumed from its checkpoint whichever process finished it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ignbench.core.config import RunConfig
from ignbench.launch.job import run_group, run_runs
from ignbench.store import Store
from ignbench.train import stack_groups

_BAR_ROW: int | None = None  # the terminal row of this worker's progress bar (the parent's bar of groups is row 0)


def worker_threads(jobs: int) -> int:
    """torch threads of each of `jobs` workers: an equal share of this process's."""
    return max(1, torch.get_num_threads() // jobs)


def worker_count(jobs: int, groups: int) -> int:
    """Workers that `--jobs` starts for this many groups of runs: never more than the groups."""
    return min(jobs, groups)


def run_local(cfgs: list[RunConfig], store: Store, data_root: Path | None, checkpoint_every: int,
              restart_corrupt: bool, evaluate_only: bool, jobs: int = 1) -> dict[str, str]:
    """Train and evaluate the runs here; each run's final state (as `run_runs`)."""
    groups = stack_groups(cfgs)
    workers = worker_count(jobs, len(groups))
    if workers < 2:
        return run_runs(cfgs, store, data_root, checkpoint_every, restart_corrupt=restart_corrupt,
                        evaluate_only=evaluate_only)
    context = multiprocessing.get_context("spawn")  # a forked copy of a process with OpenMP threads can hang
    rows = context.Queue()
    for row in range(1, workers + 1):
        rows.put(row)
    results: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(worker_threads(workers), rows)) as pool:
        futures = [pool.submit(_run_group, group, store, data_root, checkpoint_every, restart_corrupt,
                               evaluate_only) for group in groups]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc=f"groups ({workers} at a time)",
                               unit="group", position=0):
                results.update(future.result())
        except KeyboardInterrupt:  # the workers got it too, and marked their runs interrupted
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def _start_worker(threads: int, rows) -> None:
    global _BAR_ROW
    torch.set_num_threads(threads)
    _BAR_ROW = rows.get()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent watch", daemon=True).start()


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """A worker whose `ignbench run` was killed stops too, as if it had been killed with it: its run keeps its last
    checkpoint, reads as interrupted once its lock's pid is gone, and the next `run` resumes it. (Left alone, the
    orphan would train on, holding its run's lock.)"""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(3)


def _run_group(group: list[RunConfig], store: Store, data_root: Path | None, checkpoint_every: int,
               restart_corrupt: bool, evaluate_only: bool) -> dict[str, str]:
    return run_group(group, store, data_root, checkpoint_every, restart_corrupt=restart_corrupt,
                     evaluate_only=evaluate_only, bar_row=_BAR_ROW)
