"""Stacked ensembles against the single-run trainer: training steps per second per run, measured in one run.

For E = 1, 3, 9 and 27 low-dimensional runs (2D grids, batch 256, M = 10 x batch, replay 0.5), at the cpu
presets' width (128) and the paper's (512), for each method: the single-run trainer's steps/s, the stack's steps/s
per run (E / time of one stacked step), and their ratio. The two are timed in turns (`common.best_of`), so a busy
phase of the machine hits both alike. `python benchmarks/perf/ensemble.py [--sizes 1 3 9 27] [--widths 128 512]`.
"""

from __future__ import annotations

import argparse

import torch
from common import best_of

from ignbench.core.config import RunConfig
from ignbench.data import load_data
from ignbench.train.trainer import Trainer

DATASETS = ("grids", "2moons", "8gaussians")


def configs(method: str, width: int, n: int) -> list[RunConfig]:
    return [RunConfig(experiment="perf", preset="perf", method=method, dataset=DATASETS[i % 3], seed=i, steps=1,
                      batch_size=256, hidden=width, lr=1e-3, distance="l2", eval_kind="lowdim", imle_chunk=4096)
            for i in range(n)]


STEPS_PER_TIMING = 8  # so that searching and replaying steps average out


def stepper(t: Trainer):
    def run() -> None:
        for _ in range(STEPS_PER_TIMING):
            t.step()

    return run


def trainer(cfgs: list[RunConfig]) -> Trainer:
    t = Trainer(cfgs, [load_data(c) for c in cfgs], torch.device("cpu"), stacked=len(cfgs) > 1)  # 1: the plain MLP
    for _ in range(3):  # fill the replay buffers: steps then mix searching and replaying as in training
        t.step()
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 9, 27])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--methods", nargs="+", default=["ign", "naign", "naign-"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    print("| width | method | E | single run (steps/s) | stacked (steps/s per run) | ratio |")
    print("|---|---|---|---|---|---|")
    for width in args.widths:
        for method in args.methods:
            single = trainer(configs(method, width, 1))
            for n in args.sizes:
                stack = trainer(configs(method, width, n))
                t_single, t_stack = best_of(stepper(single), stepper(stack), repeat=args.repeat)
                per_run_single = STEPS_PER_TIMING / t_single
                per_run_stack = n * STEPS_PER_TIMING / t_stack
                print(f"| {width} | {method} | {n} | {per_run_single:.1f} | {per_run_stack:.1f} | "
                      f"x{per_run_stack / per_run_single:.2f} |", flush=True)


if __name__ == "__main__":
    main()
