"""Wall time of table1 (smoke, 2 seeds) as a Slurm job array against the local executor, and the per-job
overhead of dispatch (submit -> job running, and the job's own start-up), on the local test cluster."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path


def timed_run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(["ignbench", "run", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", default="table1")
    parser.add_argument("--seeds", default="2")
    parser.add_argument("--profile", default="local")
    opts = parser.parse_args()
    common = [opts.experiment, "--preset", "smoke", "--seeds", opts.seeds]
    with tempfile.TemporaryDirectory() as tmp:
        local = timed_run([*common, "--store", f"{tmp}/local"])
        cluster = timed_run([*common, "--executor", "slurm", "--profile", opts.profile, "--store", f"{tmp}/slurm"])
        statuses = [json.loads(p.read_text()) for p in Path(tmp, "slurm").rglob("status.json")]
    queue = [s["started"] - s["submitted"] for s in statuses]
    inside = [s["finished"] - s["started"] for s in statuses]
    n = len(statuses)
    print(f"{opts.experiment} smoke x {opts.seeds} seeds = {n} runs: local {local:.1f} s, Slurm array {cluster:.1f} s "
          f"(x{cluster / local:.2f})")
    print(f"per job: submit -> running {sum(queue) / n:.1f} s (includes interpreter + imports), "
          f"training+eval inside the job {sum(inside) / n:.1f} s; "
          f"dispatch overhead per job ~{(cluster - local) / n:.1f} s of wall time")


if __name__ == "__main__":
    main()
