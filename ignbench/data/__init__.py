"""Datasets: image sets (MNIST, the offline 5k MNIST) and the low-dimensional toy distributions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ignbench.config import IMAGE_DATASETS, RunConfig
from ignbench.data import images, toy


@dataclass
class Data:
    """Training and held-out data for one run. `train` is a finite tensor; toy sets also sample afresh."""

    train: torch.Tensor
    test: torch.Tensor
    toy: toy.ToyDistribution | None = None


def load_data(cfg: RunConfig, data_root: Path | None = None) -> Data:
    """Load the run's dataset; a missing image set raises UserError saying how to provide it."""
    if cfg.dataset in IMAGE_DATASETS:
        train, test = images.load_images(cfg.dataset, cfg.image_size, data_root)
        return Data(train=train, test=test[: cfg.eval_n_real])
    dist = toy.get(cfg.dataset)
    return Data(train=dist.sample(cfg.eval_n_real, toy.generator(toy.TRAIN_SEED)),
                test=dist.sample(cfg.eval_n_real, toy.generator(toy.TEST_SEED)), toy=dist)
