"""The full calibration table of the verdicts: false "reproduced" and false "contradicted" rates of every claim kind
under each null family, for n = 2 ... 12 seeds per side, plus the sequential design, the family's adjustment and
power. `tests/test_calibration.py` asserts the same at n = 2, 3, 6 with fewer repetitions.

    python benchmarks/perf/calibration_table.py [--reps 10000] [--ns 2 3 4 6 8 12]

Prints a Markdown table (REPRODUCE.md, "How a verdict is made" carries it) and the seconds it took.
"""

from __future__ import annotations

import argparse
import time

from ignbench.verdict import calibration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=10000, help="Monte Carlo repetitions per cell")
    parser.add_argument("--ns", type=int, nargs="+", default=[2, 3, 4, 6, 8, 12], help="seeds per side")
    args = parser.parse_args()
    start = time.perf_counter()
    cells = calibration.calibrate(tuple(args.ns), args.reps) + calibration.sequential_cells(12, args.reps)
    bound = calibration.bound(args.reps)
    by_row: dict[tuple[str, str], dict[int, str]] = {}
    for c in cells:
        fr = "–" if c.false_reproduced != c.false_reproduced else f"{c.false_reproduced:.3f}"
        fc = "–" if c.false_contradicted != c.false_contradicted else f"{c.false_contradicted:.3f}"
        by_row.setdefault((c.kind, c.family), {})[c.n] = f"{fr} / {fc}" + (" **!**" if c.worst > bound else "")
    ns = sorted({c.n for c in cells})
    print(f"False reproduced / false contradicted, {args.reps} repetitions per cell (bound alpha + 3 MC s.e. = "
          f"{bound:.4f}; **!** marks a cell above it)\n")
    print("| kind | null family | " + " | ".join(f"n = {n}" for n in ns) + " |")
    print("|---|---|" + "---|" * len(ns))
    for (kind, family), row in by_row.items():
        print(f"| {kind} | {family} | " + " | ".join(row.get(n, "") for n in ns) + " |")
    worst = max(cells, key=lambda c: c.worst)
    print(f"\nworst cell: {worst.kind}, {worst.family}, n = {worst.n}: {worst.worst:.4f}")
    for claims in (4, 12, 24):
        rates = calibration.family_rates(claims=claims, n=6, reps=args.reps)
        print(f"family of {claims} null claims at 6 seeds, P(any false verdict in a direction): "
              + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
    for n in (3, 6):
        found = calibration.power_cells(n=n, effect=3.0, reps=args.reps)
        print(f"planted 3-sd effect at {n} seeds: reproduced {found['reproduced']:.3f}, reversed contradicted "
              f"{found['contradicted']:.3f}")
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
