"""Which verdicts moved between two sets of committed scorecards (for example the old engine's and the current
one's), claim by claim and BatchNorm mode by mode, as a Markdown table with the p-values and notes of both sides.

    python benchmarks/diagnostics/moved_verdicts.py results/evidence/old-engine/cpu results/evidence/cpu
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ignbench.report.tables import to_markdown

KEY = ["Experiment", "Claim", "BN mode"]


def _cards(folder: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, keep_default_na=False, dtype=str) for p in sorted(folder.glob("*_scorecard.csv"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY + ["Verdict", "p"])


def moved(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows decided on both sides whose verdict differs, with each side's p (and the new raw verdict and flags)."""
    both = old.merge(new, on=KEY, suffixes=(" (old)", " (new)"))
    columns = KEY + ["Verdict (old)", "p (old)", "n (old)", "Verdict (new)", "Raw", "p (new)", "p adj.", "p against",
                     "Health", "Flags"]
    return both.loc[both["Verdict (old)"] != both["Verdict (new)"], [c for c in columns if c in both.columns]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    old, new = _cards(args.old), _cards(args.new)
    common = old.merge(new, on=KEY)
    table = moved(old, new)
    print(f"{len(common)} rows decided by both; {len(table)} moved\n")
    print(to_markdown(table))


if __name__ == "__main__":
    main()
