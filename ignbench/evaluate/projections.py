"""IGN's out-of-distribution inputs (IGN Fig. 5 and Appendix C), for images in [-1, 1].

- noise: x + n, n ~ N(0, sigma^2), sigma = 0.15 in the paper;
- grayscale: g(x), the channel mean repeated over the channels (the identity on one-channel images, so it is
  left out there);
- sketch: s(x) = g(x + 1) / (gaussian_blur(g(x + 1), 21) + 1e-10) - 1, with torchvision's default sigma for the
  kernel size, 0.3 ((21 - 1) / 2 - 1) + 0.8 = 3.5. The paper prints the 1e-10 after the parenthesis; we read it
  as the guard of the division, where it does something. The result is not clamped (the paper does not say).
"""

from __future__ import annotations

import torch
from torchvision.transforms.functional import gaussian_blur

SKETCH_EPS = 1e-10


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """g(x): every channel replaced by the channel mean."""
    return x.mean(dim=1, keepdim=True).repeat(1, x.shape[1], 1, 1)


def sketch(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """s(x): the grayscale image divided by its blur, in positive values, then shifted back by one."""
    gray = grayscale(x + 1)
    return gray / (gaussian_blur(gray, [kernel, kernel]) + SKETCH_EPS) - 1


def ood_inputs(x: torch.Tensor, noise_sigma: float, sketch_kernel: int,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The inputs f never saw in training, by name: noise, grayscale (RGB only) and sketch of the images x."""
    out = {"noise": x + noise_sigma * torch.randn(x.shape, generator=generator)}
    if x.shape[1] > 1:
        out["grayscale"] = grayscale(x)
    out["sketch"] = sketch(x, sketch_kernel)
    return out


