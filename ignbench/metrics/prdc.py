"""Coverage and Density (Naeem et al., 2020), matching the `prdc` package's definitions exactly.

- real radius r_i: Euclidean distance from real i to its k-th nearest real, excluding itself;
- density  = (1/k) * mean over fakes of #{ i : d(real_i, fake) < r_i }   (strict <);
- coverage = fraction of reals i whose nearest fake lies at distance < r_i.

Computed in float64 chunks with torch, without building the fake-fake matrix or the full real-fake matrix.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_K = 5


def _as_tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def real_radii(real: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for start in range(0, len(real), chunk):
        d = torch.cdist(real[start : start + chunk], real)
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def coverage_density(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = DEFAULT_K,
                     chunk: int = 2048) -> dict[str, float]:
    real_t, fake_t = _as_tensor(real), _as_tensor(fake)
    radii = real_radii(real_t, k, chunk)
    inside_count = torch.zeros(len(fake_t), dtype=torch.float64)
    nearest_fake = torch.empty(len(real_t), dtype=torch.float64)
    for start in range(0, len(real_t), chunk):
        d = torch.cdist(real_t[start : start + chunk], fake_t)
        r = radii[start : start + chunk, None]
        inside_count += (d < r).sum(dim=0)
        nearest_fake[start : start + chunk] = d.min(dim=1).values
    density = float(inside_count.mean() / k)
    coverage = float((nearest_fake < radii).double().mean())
    return {"coverage": coverage, "density": density}
