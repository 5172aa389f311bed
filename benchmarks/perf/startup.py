"""How fast `ignbench --help` and `ignbench list` start (the bar: 1.5 s on a 2-core machine, plugins included):
commands that need no torch load none. With --before REV, the same commands of an older commit (a temporary git
worktree, imported from source) are timed in the same run, taking turns.

    python benchmarks/perf/startup.py [--before 4f5a95c] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import worktrees

REPO = Path(__file__).resolve().parents[2]
COMMANDS = (["--help"], ["list"], ["list", "--plugins"])


def timed(args: list[str], source: Path | None) -> float:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ignbench.cli", *args], env=env, capture_output=True, check=True,
                   cwd=source or REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="an older commit to time beside this tree")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with worktrees(args.before, REPO) as trees:
        for command in COMMANDS:
            best = {name: min(timed(command, tree) for _ in range(args.repeat))
                    for name, tree in trees.items() if not (tree and command == ["list", "--plugins"])}
            shown = ", ".join(f"{name} {t:.2f} s" for name, t in best.items())
            print(f"ignbench {' '.join(command):<16} best of {args.repeat}: {shown}")


if __name__ == "__main__":
    main()
