"""Coverage/Density on 10k x 10k 84-d features: ignbench's chunked torch version against the `prdc` package.

Prints both timings, their ratio and the largest difference in value (they must agree to 1e-6).
"""

from __future__ import annotations

import argparse

import numpy as np
import prdc
from common import best_of

from ignbench.metrics.prdc import coverage_density


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=84)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    real = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    fake = rng.normal(0.1, 1.1, size=(args.n, args.dim)).astype(np.float32)
    ours_value, ref_value = {}, {}
    t_ours, t_ref = best_of(lambda: ours_value.update(coverage_density(real, fake, k=5)),
                            lambda: ref_value.update(prdc.compute_prdc(real, fake, nearest_k=5)), repeat=3)
    diff = max(abs(ours_value[k] - ref_value[k]) for k in ("coverage", "density"))
    print(f"coverage/density {args.n} x {args.n} x {args.dim}: ignbench {t_ours:.2f} s, prdc {t_ref:.2f} s, "
          f"speed-up x{t_ref / t_ours:.1f}; max |difference| {diff:.2e}")
    print(f"  ignbench {ours_value}\n  prdc     { {k: float(ref_value[k]) for k in ('coverage', 'density')} }")


if __name__ == "__main__":
    main()
