"""Datasets: image sets (MNIST, the offline 5k MNIST) and the low-dimensional toy distributions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError

if TYPE_CHECKING:  # this package is imported to look datasets up; torch is loaded when data is
    import torch

    from ignbench.data import toy


@dataclass
class Data:
    """One run's data. `train` is a finite tensor (toy sets also sample afresh each step); `test` is the part of the
    test split that evaluation scores against (its first eval_n_real points); `test_all` the whole split."""

    train: torch.Tensor
    test: torch.Tensor
    test_all: torch.Tensor
    toy: toy.ToyDistribution | None = None


def load_data(cfg: RunConfig, data_root: Path | None = None) -> Data:
    """Load the run's dataset; a missing image set, or one too small for the config, is a one-line UserError."""
    from ignbench.data import images, toy

    if cfg.image:
        train, test = images.load_images(cfg.dataset, cfg.image_size, data_root)
        if cfg.batch_size > len(train):
            raise UserError(f"batch_size {cfg.batch_size} is larger than the {len(train)} training images of "
                            f"{cfg.dataset}")
        return Data(train=train, test=test[: cfg.eval_n_real], test_all=test)
    dist = toy.get(cfg.dataset)
    n = max(cfg.eval_n_real, cfg.curve_n_samples)
    test = dist.sample(n, toy.generator(toy.TEST_SEED))
    return Data(train=dist.sample(cfg.eval_n_real, toy.generator(toy.TRAIN_SEED)), test=test[: cfg.eval_n_real],
                test_all=test, toy=dist)
