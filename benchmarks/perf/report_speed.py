"""How long `ignbench report` of every spec of a finished store takes, plots included (the bar: 60 s). With
--before REV, an older commit's report command (a temporary git worktree, imported from source) is timed on the same
store in the same run.

    python benchmarks/perf/report_speed.py --store results/runs [--preset cpu] [--before 4f5a95c]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import worktrees

REPO = Path(__file__).resolve().parents[2]


def timed(store: Path, preset: str, out: Path, source: Path | None) -> float:
    env = dict(os.environ, PYTHONPATH=str(source)) if source else dict(os.environ)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ignbench.cli", "report", "--preset", preset, "--store", str(store.resolve()),
                    "--out", str(out)], env=env, cwd=source or REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("results/runs"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--before", help="an older commit to time beside this tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, worktrees(args.before, REPO) as trees:
        for name, tree in trees.items():
            out = Path(scratch) / f"out-{name}"
            seconds = timed(args.store, args.preset, out, tree)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"{name}: report of every {args.preset} spec in {seconds:.1f} s, {size / 1e6:.1f} MB written")


if __name__ == "__main__":
    main()
