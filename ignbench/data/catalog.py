"""The image datasets by name (`ImageSet`), registered through the entry points of group ignbench.datasets
(pyproject.toml) like a plugin's; reading the catalog loads no image and no torch: `load` does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Labelled = tuple[Any, Any, Any, Any]  # train images, train labels, test images, test labels (tensors)


@dataclass(frozen=True)
class ImageSet:
    """An image dataset: `load(size, data_root)` gives (train images, train labels, test images, test labels), images
    (N, channels, size, size) in [-1, 1]. A few-shot set is scored against its own training images."""

    name: str
    channels: int
    load: Callable[[int, Path], Labelled]
    few_shot: bool = False

    @property
    def kind(self) -> str:
        return "fewshot" if self.few_shot else "image"


def _mnist(size: int, root: Path) -> Labelled:
    from ignbench.data import images

    return images.mnist(size, root)


def _mnist5k(size: int, root: Path) -> Labelled:
    from ignbench.data import images

    return images.mnist5k(size)


def _celeba(size: int, root: Path) -> Labelled:
    from ignbench.data import images

    return images.celeba(size, root)


def _ffhq100(size: int, root: Path) -> Labelled:
    from ignbench.data import images

    return images.few_shot(images.ffhq100(size, root / "ffhq-100"))


def _lfw100(size: int, root: Path) -> Labelled:
    from ignbench.data import images

    return images.few_shot(images.lfw100(size))


MNIST = ImageSet("mnist", 1, _mnist)
MNIST_5K = ImageSet("mnist-5k", 1, _mnist5k)
CELEBA = ImageSet("celeba", 3, _celeba)
FFHQ_100 = ImageSet("ffhq-100", 3, _ffhq100, few_shot=True)
LFW_100 = ImageSet("lfw-100", 1, _lfw100, few_shot=True)
