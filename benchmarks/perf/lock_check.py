"""What checking lock ownership costs against a training step (trust round 3: at most 1 % of a cpu-preset step).

Every write of a run (checkpoint, logs, status, evaluation) first reads the run's lock.json and compares its token
(`RunLock.ensure`); every step reads one attribute the heartbeat thread sets (`lock.lost`). Both are timed here
against one step of table1's cpu-preset NAIGN run, measured in the same process.

    python benchmarks/perf/lock_check.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from ignbench.data import load_data
from ignbench.spec import load_spec
from ignbench.store.lock import RunLock
from ignbench.train.trainer import Trainer


def per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    cfg = next(c for c in load_spec("table1").expand("cpu", seeds=1) if c.method == "naign")
    trainer = Trainer([cfg], [load_data(cfg)], torch.device("cpu"))
    for _ in range(3):
        trainer.step()
    step = min(per_call(trainer.step, 5) for _ in range(3))
    with tempfile.TemporaryDirectory() as folder:
        lock = RunLock(Path(folder))
        assert lock.acquire()
        try:
            ensure = min(per_call(lock.ensure, 2000) for _ in range(3))
            flag = min(per_call(lambda: lock.lost, 200000) for _ in range(3))
        finally:
            lock.release()
    per_step = flag + ensure / 500  # the flag every step; ensure at each checkpoint (every 500 steps) and status
    print(f"torch threads {torch.get_num_threads()}; table1 cpu NAIGN step {step * 1e3:.1f} ms")
    print(f"RunLock.ensure (read lock.json, compare the token): {ensure * 1e6:.1f} us = "
          f"{100 * ensure / step:.3f} % of a step")
    print(f"lock.lost (every step): {flag * 1e9:.0f} ns; per step with a checkpoint every 500 steps: "
          f"{100 * per_step / step:.5f} % of a step")


if __name__ == "__main__":
    main()
