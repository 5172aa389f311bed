"""Shared helpers: small configs and the CLI runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ignbench.core.config import RunConfig, dataset_entry

MINI_SPEC = """
[experiment]
name = "mini"
title = "mini"
report = "lowdim"
seeds = 1

[sweep]
method = ["naign"]

[config]
dataset = "2moons"
distance = "l2"
eval_kind = "lowdim"
batch_size = 8
steps = 3
hidden = 16
eval_n_samples = 64
eval_n_real = 64

[presets.paper]

[presets.smoke]
"""


def small_config(**overrides) -> RunConfig:
    base = dict(experiment="test", preset="smoke", method="naign", dataset="mnist-5k", seed=0, steps=6,
                batch_size=8, model_width=8, latent_dim=16, eval_n_samples=32, eval_n_real=32,
                imle_chunk=16, replay_capacity=4, fk_steps=[1, 2, 3], fk_samples=16)
    base.update(overrides)
    kind = dataset_entry(base["dataset"]).kind
    if kind == "fewshot":
        base.setdefault("eval_kind", "fewshot")
    elif kind == "lowdim":
        base.setdefault("eval_kind", "lowdim")
        base.setdefault("distance", "l2")
        base.setdefault("hidden", 32)
    return RunConfig(**base)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
