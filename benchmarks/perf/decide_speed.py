"""How long deciding every committed scorecard takes (the bar: 10 s), from the per-run values the reports commit
beside their scorecards (`results/evidence/<preset>/<spec>_values.csv` and `_curve_values.csv`), without the run
store. It also checks that the decisions give the committed scorecards' verdicts back.

    python benchmarks/perf/decide_speed.py [--evidence results/evidence] [--preset cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from ignbench.report.scorecard import decisions_for, scorecard
from ignbench.spec import available_experiments, load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evidence", type=Path, default=Path("results/evidence"))
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args()
    folder = args.evidence / args.preset
    start, claims, same, compared = time.perf_counter(), 0, 0, 0
    for name in available_experiments():
        values = folder / f"{name}_values.csv"
        if not values.exists():
            continue
        spec = load_spec(name)
        results = pd.read_csv(values)
        curves_path = folder / f"{name}_curve_values.csv"
        curves = pd.read_csv(curves_path) if curves_path.exists() else pd.DataFrame(
            columns=["run_id", "seed", "state", "step", "bn_mode", "metric", "value"])
        card = scorecard(spec, args.preset, decisions_for(spec, results, curves))
        claims += len(card)
        committed = folder / f"{name}_scorecard.csv"
        if committed.exists() and len(card):
            old = pd.read_csv(committed, keep_default_na=False, dtype=str)
            if "Raw" in old.columns:  # committed by this engine: the verdicts must come back
                compared += len(old)
                same += int((old["Verdict"].values == card["Verdict"].values).sum())
    took = time.perf_counter() - start
    print(f"decided {claims} scorecard rows of {folder} in {took:.2f} s; {same} of {compared} committed verdicts "
          "given back")


if __name__ == "__main__":
    main()
