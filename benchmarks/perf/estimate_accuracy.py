"""How good is `ignbench run --dry-run`'s cost estimate? Estimated against measured wall time, per group of runs.

The experiments are grouped together, as one `ignbench run A B ...` groups them (runs of equal shape stack across
experiments). For every group (an image run, or a stack of low-dimensional runs) whose runs all finished without
being resumed, the measured wall time is the first start to the last finish; the estimate is what --dry-run
computes from real steps timed on this machine (cached in ~/.cache/ignbench/step_times.json, measured now if
absent). Run it with the thread count the runs used, e.g.
`OMP_NUM_THREADS=1 python benchmarks/perf/estimate_accuracy.py table1 fig3_modes2d --preset cpu`.
"""

from __future__ import annotations

import argparse

from ignbench.plan import _load_cache, _save_cache, group_seconds, human_duration
from ignbench.spec import load_spec
from ignbench.store import State, Store
from ignbench.train import stack_groups


def measured_seconds(group, store: Store) -> float | None:
    statuses = [store.status(cfg) for cfg in group]
    if any(s.get("state") != State.DONE or len(s.get("attempts", [])) != 1 for s in statuses):
        return None
    return max(s["finished"] for s in statuses) - min(s["attempts"][0]["at"] for s in statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--store", default="results/runs")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: the preset's)")
    args = parser.parse_args()
    store, cache = Store(args.store), _load_cache()
    print("| experiments | group | estimated | measured | measured / estimated |")
    print("|---|---|---|---|---|")
    ratios = []
    runs = {(c.experiment, c.run_id): c
            for name in args.experiments for c in load_spec(name).expand(args.preset, args.seeds)}
    for group in stack_groups(list(runs.values())):
        measured = measured_seconds(group, store)
        if measured is None:
            continue
        estimated = group_seconds(group, cache, set())
        ratios.append(measured / estimated)
        cfg = group[0]
        what = f"{cfg.method} {cfg.dataset} seed {cfg.seed}" if len(group) == 1 else \
            f"{cfg.method} x {len(group)} stacked"
        print(f"| {', '.join(sorted({c.experiment for c in group}))} | {what} | {human_duration(estimated)} | "
              f"{human_duration(measured)} | {measured / estimated:.2f} |")
    _save_cache(cache)
    if ratios:
        within = sum(0.7 <= r <= 1.3 for r in ratios)
        print(f"\n{len(ratios)} groups: measured / estimated from {min(ratios):.2f} to {max(ratios):.2f}; "
              f"{within} within ±30 %")


if __name__ == "__main__":
    main()
