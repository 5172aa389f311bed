"""Spec x preset x seeds -> the runs to do now, and a rough cost estimate for --dry-run."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from ignbench.config import IMAGE_DATASETS, RunConfig
from ignbench.metrics.stability import FK_SAMPLES, FK_STEPS
from ignbench.models import build_model
from ignbench.spec import Spec
from ignbench.store import FAILED, FINISHED, Store


@dataclass
class Plan:
    spec: Spec
    preset: str
    runs: list[RunConfig]
    states: dict[str, str]
    todo: list[RunConfig] = field(default_factory=list)


def make_plan(spec: Spec, preset: str, seeds: int | None, store: Store, force: bool = False,
              retry_failed: bool = False) -> Plan:
    """Finished runs (done, diverged) are skipped unless --force; failed ones unless --retry-failed."""
    runs = spec.expand(preset, seeds)
    states = {cfg.run_id: store.state(cfg) for cfg in runs}
    todo = []
    for cfg in runs:
        state = states[cfg.run_id]
        if force or (state in FAILED and retry_failed) or (state not in FINISHED and state not in FAILED):
            todo.append(cfg)
    return Plan(spec, preset, runs, states, todo)


def reset_forced(plan: Plan, store: Store) -> None:
    """--force: drop the old folders (checkpoints included) of the runs about to be redone."""
    for cfg in plan.todo:
        shutil.rmtree(store.run_dir(cfg).path, ignore_errors=True)


def forward_passes_per_step(cfg: RunConfig) -> float:
    """Sample-forward-equivalents of one step (a backward pass counted as two forwards)."""
    b = cfg.batch_size
    if cfg.method == "ign":
        return (3 + 2 * 4) * b  # f(x), f(z), one shared f(f(z)); 4 backward passes (the outer one twice)
    grad_passes = 2 + (4 if cfg.method == "naign" else 0)  # rec, f(z*) [+ f(z), f(q), 2 x f_copy]
    search = cfg.resolved_imle_m * (1 - cfg.replay_prob)
    return search + grad_passes * b * 3


@lru_cache(maxsize=8)
def seconds_per_sample_forward(kind: str, image_size: int, width: int, hidden: int, device: str) -> float:
    """Measured here, once: seconds of one sample's forward pass through the run's network."""
    probe = RunConfig(experiment="probe", preset="probe", method="ign",
                      dataset="mnist-5k" if kind == "image" else "2moons", seed=0, steps=1, batch_size=64,
                      image_size=image_size, model_width=width, hidden=hidden,
                      eval_kind="generation" if kind == "image" else "lowdim")
    model = build_model(probe, 2).to(device)
    n = 64 if kind == "image" else 1024  # batches large enough that per-call overhead does not dominate
    x = torch.randn(n, 1, image_size, image_size) if kind == "image" else torch.randn(n, 2)
    x = x.to(device)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        for _ in range(3):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / (3 * n)


def estimate_seconds(cfg: RunConfig, device: str) -> float:
    kind = "image" if cfg.dataset in IMAGE_DATASETS else "toy"
    per_sample = seconds_per_sample_forward(kind, cfg.image_size, cfg.model_width, cfg.hidden, device)
    train = cfg.steps * forward_passes_per_step(cfg) * per_sample
    evaluation = 4 * cfg.eval_n_samples
    if cfg.eval_kind == "generation":  # f(x') for 4 degradations; f^k(z) up to k = 200
        evaluation += 4 * cfg.eval_n_real + max(FK_STEPS) * min(FK_SAMPLES, cfg.eval_n_samples)
    if cfg.curve_every:
        evaluation += cfg.steps // cfg.curve_every * cfg.curve_n_samples
    evaluation *= per_sample
    return train + evaluation


def human_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
