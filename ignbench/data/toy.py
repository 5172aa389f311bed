"""Low-dimensional toy distributions of NAIGN §4 (Figs 2, 3, 6, 7), each with its exact manifold.

| name          | dim | definition                                                                   |
|---------------|-----|------------------------------------------------------------------------------|
| trimodal      | 1   | equal mixture of N(-3, 0.3²), N(0, 0.3²), N(3, 0.3²)                         |
| grids         | 2   | 25 Gaussians on the 5x5 grid {-4,-2,0,2,4}², σ = 0.1                         |
| 8gaussians    | 2   | FFJORD's: 8 Gaussians on a circle of radius 4/√2, σ = 0.5/√2                 |
| 2moons        | 2   | FFJORD's two moons (sklearn make_moons ×2, shifted by (-1, -0.2)), no noise  |
| fuzzy-2moons  | 2   | the same with Gaussian noise 0.1 (before ×2), FFJORD's default               |

The manifold of a mixture is its set of centres; the manifold of (fuzzy) 2moons is the two noiseless arcs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ignbench.core.errors import UserError

if TYPE_CHECKING:  # torch is loaded when points are drawn, not when the registry is read
    import torch

TRAIN_SEED = 1234
TEST_SEED = 4321
MOON_SCALE = 2.0
MOON_SHIFT = (-1.0, -0.2)


def generator(seed: int) -> torch.Generator:
    import torch

    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class ToyDistribution:
    name: str
    dim: int
    centers_from: Callable[[], torch.Tensor] | None  # builds the mixture centres (modes); None for the moons
    sigma: float  # per-mode std (mixtures) or data noise (moons, before scaling)
    bounds: float  # half-width of the square shown in figures
    kind = "lowdim"  # what the run config needs to know of a dataset (see ignbench.core.config.datasets)

    @property
    def has_modes(self) -> bool:
        return self.centers_from is not None

    @cached_property
    def centers(self) -> torch.Tensor | None:
        return None if self.centers_from is None else self.centers_from()

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        """n points, drawn with (and on the device of) the generator g."""
        import torch

        if self.centers is not None:
            idx = torch.randint(len(self.centers), (n,), generator=g, device=g.device)
            return self.centers.to(g.device)[idx] + self.sigma * torch.randn(n, self.dim, generator=g, device=g.device)
        return _moons(n, self.sigma, g)

    def manifold_distance(self, points: torch.Tensor) -> torch.Tensor:
        """Exact Euclidean distance from each point to the generating manifold."""
        import torch

        if self.centers is not None:
            return torch.cdist(points.double(), self.centers.double()).min(dim=1).values
        return _moons_distance(points.double())


def _moons(n: int, noise: float, g: torch.Generator) -> torch.Tensor:
    import torch

    n_outer = n // 2
    t = torch.rand(n, generator=g, device=g.device) * math.pi
    outer = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    inner = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    pts = torch.cat([outer[:n_outer], inner[n_outer:]])
    pts = pts + noise * torch.randn(n, 2, generator=g, device=g.device)
    return pts * MOON_SCALE + torch.tensor(MOON_SHIFT, device=g.device)


def _arc_distance(p: torch.Tensor, center: tuple[float, float], upper: bool) -> torch.Tensor:
    """Distance from points to a unit half circle (upper or lower half) around `center`, in data units."""
    import torch

    c = torch.tensor(center, dtype=p.dtype)
    d = p - c
    on_side = d[:, 1] >= 0 if upper else d[:, 1] <= 0
    radial = (d.norm(dim=1) - 1).abs()
    ends = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=p.dtype) + c
    to_ends = torch.cdist(p, ends).min(dim=1).values
    return torch.where(on_side, radial, to_ends)


def _moons_distance(points: torch.Tensor) -> torch.Tensor:
    import torch

    p = (points - torch.tensor(MOON_SHIFT, dtype=points.dtype)) / MOON_SCALE
    outer = _arc_distance(p, (0.0, 0.0), upper=True)
    inner = _arc_distance(p, (1.0, 0.5), upper=False)
    return torch.minimum(outer, inner) * MOON_SCALE


def _trimodal_centers() -> torch.Tensor:
    import torch

    return torch.tensor([[-3.0], [0.0], [3.0]])


def _grid_centers() -> torch.Tensor:
    import torch

    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(ticks, ticks)


def _eight_centers() -> torch.Tensor:
    import torch

    s = 1 / math.sqrt(2)
    unit = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1], [s, s], [s, -s], [-s, s], [-s, -s]])
    return unit * 4.0 / math.sqrt(2)


# The built-ins, registered through the entry points of group ignbench.datasets (pyproject.toml) like a plugin's.
TRIMODAL = ToyDistribution("trimodal", 1, _trimodal_centers, 0.3, 5.0)
GRIDS = ToyDistribution("grids", 2, _grid_centers, 0.1, 6.0)
EIGHT_GAUSSIANS = ToyDistribution("8gaussians", 2, _eight_centers, 0.5 / math.sqrt(2), 5.0)
TWO_MOONS = ToyDistribution("2moons", 2, None, 0.0, 3.5)
FUZZY_TWO_MOONS = ToyDistribution("fuzzy-2moons", 2, None, 0.1, 3.5)


def get(name: str) -> ToyDistribution:
    """A registered low-dimensional dataset (a ToyDistribution, or a plugin's object with the same methods)."""
    from ignbench.core.config import dataset_entry

    entry = dataset_entry(name)
    if entry.kind != "lowdim":
        raise UserError(f"dataset {name!r} is not low-dimensional")
    return entry
