"""The four degradations of NAIGN Table 2 (supplement §8), for images in [-1, 1] shaped (N, C, H, W).

- blur: torchvision's Gaussian blur, sigma = the "blur level", kernel size 2 * ceil(3 sigma) + 1 (the paper
  computes the kernel size from the level but does not state the level: `blur_sigma`, see REPRODUCE.md);
- gaussian_noise: x + sigma * N(0, 1), sigma = 1.0 (`noise_sigma`), clipped to the data range [-1, 1];
- salt_pepper: 20 % of the pixels corrupted (`salt_pepper_fraction`), half set to 1 (salt), half to -1 (pepper);
- lines_rows: every row and every column deleted (set to -1) with probability 0.2 (`line_prob`).
Randomness comes only from the generator passed in, so every run is scored on the same degraded images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torchvision.transforms.v2 import functional as tvf

from ignbench.core.config import RunConfig
from ignbench.evaluate.outputs import DEGRADATIONS

Degradation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def blur(x: torch.Tensor, g: torch.Generator, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return x.clone()
    kernel = 2 * math.ceil(3 * sigma) + 1
    return tvf.gaussian_blur(x, [kernel, kernel], [sigma, sigma])


def gaussian_noise(x: torch.Tensor, g: torch.Generator, sigma: float) -> torch.Tensor:
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1.0, 1.0)


def salt_pepper(x: torch.Tensor, g: torch.Generator, fraction: float) -> torch.Tensor:
    shape = (x.shape[0], 1, *x.shape[2:])  # a corrupted pixel is corrupted in every channel
    corrupted = torch.rand(shape, generator=g) < fraction
    salt = torch.rand(shape, generator=g) < 0.5
    return torch.where(corrupted, torch.where(salt, 1.0, -1.0), x)


def lines_rows(x: torch.Tensor, g: torch.Generator, prob: float) -> torch.Tensor:
    n, _, h, w = x.shape
    rows = torch.rand((n, 1, h, 1), generator=g) < prob
    cols = torch.rand((n, 1, 1, w), generator=g) < prob
    return x.masked_fill(rows | cols, -1.0)


def degradations(cfg: RunConfig) -> dict[str, Degradation]:
    """The four degradations of NAIGN Table 2 at the run's levels, in the table's column order."""
    functions = (partial(blur, sigma=cfg.blur_sigma), partial(gaussian_noise, sigma=cfg.noise_sigma),
                 partial(salt_pepper, fraction=cfg.salt_pepper_fraction), partial(lines_rows, prob=cfg.line_prob))
    return dict(zip(DEGRADATIONS, functions, strict=True))
