"""Coverage/Density: ignbench's exact chunked version against the `prdc` package, n x n features, k = 5.

For each feature size (84: LeNet, 1000, 2048: InceptionV3) and case (Gaussian; 3 rows scaled x100), interleaved
best-of-N timings of:
- ignbench's `coverage_density`;
- what prdc does for these two metrics: its real-real k-NN radii and its real-fake distance matrix
  (`compute_nearest_neighbour_distances`, `compute_pairwise_distance`), then its two formulas;
- `prdc.compute_prdc` in full (all four metrics; it also builds the fake-fake matrix that precision needs).
Prints the speed-ups against both, and the largest difference in value (it must be 0 up to float rounding).
"""

from __future__ import annotations

import argparse
import os

# torch and scikit-learn (under prdc) bring two OpenMP runtimes; interleaved, each one's spinning idle threads
# starve the other (ignbench measured x5 slower right after a prdc call). Passive waiting makes the timing fair.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import prdc
from common import best_of
from prdc.prdc import compute_nearest_neighbour_distances, compute_pairwise_distance

from ignbench.metrics.prdc import coverage_density


def prdc_coverage_density(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """prdc's own computation of coverage and density, without its precision and recall."""
    radii = compute_nearest_neighbour_distances(real, k)
    real_fake = compute_pairwise_distance(real, fake)
    density = (1.0 / k) * (real_fake < np.expand_dims(radii, axis=1)).sum(axis=0).mean()
    coverage = (real_fake.min(axis=1) < radii).mean()
    return {"coverage": float(coverage), "density": float(density)}


def features(n: int, dim: int, case: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n, dim)).astype(np.float32)
    fake = rng.normal(0.05, 1.0, size=(n, dim)).astype(np.float32)
    if case == "outliers":
        real[:3] *= 100
    return real, fake


def measure(real: np.ndarray, fake: np.ndarray, repeat: int, full: bool) -> str:
    ours, ref = {}, {}
    t_ours, t_ref = best_of(lambda: ours.update(coverage_density(real, fake, k=5)),
                            lambda: ref.update(prdc_coverage_density(real, fake, 5)), repeat=repeat)
    diff = max(abs(ours[m] - ref[m]) for m in ("coverage", "density"))
    line = f"ignbench {t_ours:6.2f} s, prdc's coverage+density {t_ref:6.2f} s, x{t_ref / t_ours:5.1f}"
    if full:
        _, t_full = best_of(lambda: coverage_density(real, fake, k=5),
                            lambda: prdc.compute_prdc(real, fake, nearest_k=5), repeat=1)
        line += f"; prdc.compute_prdc {t_full:6.2f} s, x{t_full / t_ours:5.1f}"
    return f"{line}; max |difference| {diff:.1e}; coverage {ours['coverage']:.4f}, density {ours['density']:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dims", type=int, nargs="+", default=[84, 1000, 2048])
    parser.add_argument("--cases", nargs="+", default=["gaussian", "outliers"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time prdc.compute_prdc (all four metrics)")
    args = parser.parse_args()
    for dim in args.dims:
        for case in args.cases:
            real, fake = features(args.n, dim, case)
            print(f"{args.n} x {args.n} x {dim:<4} {case:<9}: {measure(real, fake, args.repeat, args.full)}",
                  flush=True)


if __name__ == "__main__":
    main()
