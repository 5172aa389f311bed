"""Seeds per cell for the `naign_stall` paper preset: the power of Fisher's one-sided exact test to tell a stall
rate of 50 % from one of 10 % at alpha = 0.05, with n seeds in each of the two cells, computed exactly (every
outcome pair weighed by its binomial probability, no simulation).

    python benchmarks/diagnostics/stall_power.py [--high 0.5] [--low 0.1] [--alpha 0.05] [--power 0.8]

Prints the power for n = 2..40 and the smallest n from which the power stays at or above the target.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import binom, fisher_exact


def power(n: int, high: float, low: float, alpha: float) -> float:
    """P(Fisher's one-sided p <= alpha) when one cell stalls at `high` and the other at `low`, n seeds each."""
    k = np.arange(n + 1)
    weight_high, weight_low = binom.pmf(k, n, high), binom.pmf(k, n, low)
    total = 0.0
    for a in k:
        for b in k:
            if fisher_exact([[a, n - a], [b, n - b]], alternative="greater").pvalue <= alpha:
                total += weight_high[a] * weight_low[b]
    return float(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--high", type=float, default=0.5)
    parser.add_argument("--low", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    args = parser.parse_args()
    powers = {n: power(n, args.high, args.low, args.alpha) for n in range(2, 41)}
    for n, value in powers.items():
        print(f"n = {n:2d}: power {value:.3f}")
    enough = [n for n in powers if all(v >= args.power for m, v in powers.items() if m >= n)]
    print(f"seeds per cell: {min(enough)} (power >= {args.power} from there to n = {max(powers)})")


if __name__ == "__main__":
    main()
