"""Has the generator collapsed? Two measures of how much f(z) depends on z, from the samples themselves.

- spread: the mean pairwise Euclidean distance between samples, over the same mean between as many real points.
  A generator that maps every z to one output has spread 0; one that draws like the data has about 1. Two
  alternating patterns give at most half the distance between them, over the data's spread.
- distinct_nn: the share of distinct nearest training points among the samples, over min(n samples, n training
  points). Collapse onto a few outputs gives a few distinct neighbours.

The run-health classifier (`is_collapsed`) reads `distinct_nn`: on the table1 runs that REPRODUCE.md labels, it
separates collapsed from healthy generators by a factor of about ten (stalled 0.01-0.06, healthy 0.5-0.7), where
`spread` does not (a collapse onto a pattern of varying intensity keeps a spread of 0.4). It does not mistake mode
dropping for a stall: samples spread within the modes they cover still have many distinct neighbours. REPRODUCE.md
("The stall classifier") gives its agreement with the labelled runs and its threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the classifier's constants are read when specs load: torch is loaded when samples are measured
    import torch

MAX_SAMPLES = 1000  # both measures use at most this many samples (and real points): pairwise cost is quadratic
MAX_REFERENCE = 10000  # nearest neighbours among at most this many training points
STALL_METRIC = "distinct_nn"  # what the stall classifier reads
STALL_THRESHOLD = 0.2  # below it, f(z) has collapsed (REPRODUCE.md, "The stall classifier")


def _flat(points: torch.Tensor, limit: int) -> torch.Tensor:
    return points[:limit].flatten(1).double()


def mean_pairwise_distance(points: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of distinct rows."""
    import torch

    n = len(points)
    if n < 2:
        return 0.0
    return float(torch.pdist(points).sum() * 2 / (n * (n - 1)))


def spread(samples: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance of the samples over that of the real points (first MAX_SAMPLES of each)."""
    scale = mean_pairwise_distance(_flat(real, MAX_SAMPLES))
    return mean_pairwise_distance(_flat(samples, MAX_SAMPLES)) / scale if scale > 0 else float("nan")


def distinct_nn(samples: torch.Tensor, train: torch.Tensor, chunk: int = 256) -> float:
    """Share of distinct nearest training points among the samples, over min(n samples, n training points)."""
    import torch

    fake, ref = _flat(samples, MAX_SAMPLES), _flat(train, MAX_REFERENCE)
    nearest = torch.cat([torch.cdist(fake[i : i + chunk], ref).argmin(dim=1) for i in range(0, len(fake), chunk)])
    return float(len(torch.unique(nearest)) / min(len(fake), len(ref)))


def collapse_measures(samples: torch.Tensor, real: torch.Tensor, train: torch.Tensor) -> dict[str, float]:
    return {"spread": spread(samples, real), "distinct_nn": distinct_nn(samples, train)}


def is_collapsed(distinct_share: float, threshold: float = STALL_THRESHOLD) -> bool:
    """The stall classifier: f(z) has collapsed when its share of distinct nearest training points is below the
    threshold."""
    return distinct_share < threshold
