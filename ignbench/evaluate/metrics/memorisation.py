"""Few-shot measures (NAIGN §4.3, Fig. 5, which judges FFHQ-100 by eye): memorisation and diversity in pixel space.

Distances are root-mean-square pixel differences (Euclidean over the flattened image / sqrt(pixels)), against the
training images themselves (a few-shot set has no test split).
- nn_distance: mean distance of each sample to its nearest training image;
- nn_ratio: median of that distance over the median distance of a training image to its nearest other training
  image (about 0: samples copy training images; about 1: as far from them as they are from each other);
- copies: share of samples whose nearest training image is less than `copy_ratio` (0.5) times as far as the second
  nearest: a sample that is near one face rather than near all of them (an average face is near all of them,
  so a collapsed model is not counted as copying);
- diversity: mean pairwise distance between samples over that between training images (0: one image for all z).
"""

from __future__ import annotations

import torch


def _rms_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a64, b64 = a.flatten(1).double(), b.flatten(1).double()
    return torch.cdist(a64, b64) / a64.shape[1] ** 0.5


def _mean_pairwise(x: torch.Tensor) -> float:
    d = _rms_distances(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def memorisation(samples: torch.Tensor, train: torch.Tensor, copy_ratio: float) -> dict[str, float]:
    """nn_distance, nn_ratio, copies and diversity of `samples` against the training images."""
    nearest_two = _rms_distances(samples, train).topk(2, dim=1, largest=False).values
    to_train = nearest_two[:, 0]
    between = _rms_distances(train, train).fill_diagonal_(float("inf")).min(1).values
    return {"nn_distance": float(to_train.mean()),
            "nn_ratio": float(to_train.median() / between.median()),
            "copies": float((to_train < copy_ratio * nearest_two[:, 1]).double().mean()),
            "diversity": _mean_pairwise(samples) / _mean_pairwise(train)}


def nearest_training_images(samples: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """The nearest training image of each sample."""
    return train[_rms_distances(samples, train).argmin(1)]
