"""`ignbench status`: one line per run, from the store merged with Slurm's view of submitted runs."""

from __future__ import annotations

from pathlib import Path

from ignbench.store import FAILED, Store


def status_rows(experiment: str, preset: str | None, store_root: Path) -> list[tuple]:
    from ignbench.launch.slurm import refresh_slurm_states

    store = Store(store_root)
    refresh_slurm_states(list(store.iter_runs(experiment)))
    rows = [("run_id", "preset", "method", "dataset", "seed", "state", "step", "job", "note")]
    for rd, config, status in store.iter_runs(experiment):
        if preset and config["preset"] != preset:
            continue
        note = status.get("error") or ""
        if status.get("state") in FAILED:
            note = f"{note} log: {status.get('log', rd.path / 'status.json')}".strip()
        rows.append((rd.path.name, config["preset"], config["method"], config["dataset"], config["seed"],
                     status.get("state", "pending"), f"{status.get('step', 0)}/{config['steps']}",
                     status.get("slurm_job_id", "-"), note))
    return rows if len(rows) > 1 else []
