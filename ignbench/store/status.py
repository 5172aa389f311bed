"""`ignbench status`: one line per stored run, from the store and the runs' locks. It only reads: Slurm's final
states reach the store through `ignbench status --refresh` or `ignbench run` (`launch.slurm.refresh_slurm_states`).
A damaged run is listed as damaged, with the file, and the others still are."""

from __future__ import annotations

import time

from ignbench.store import FAILED, RunView, State, Store


def _shown(view: RunView) -> str:
    if view.state == State.RUNNING:
        return f"running on {view.holder}"
    if view.state == State.INTERRUPTED:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(view.last_beat)) if view.last_beat else "?"
        return f"interrupted (no heartbeat since {since})"
    return str(view.state)


def status_rows(experiment: str, preset: str | None, store: Store) -> list[tuple]:
    """Rows (with a header) of every stored run of the experiment; [] when there is none."""
    rows = [("run_id", "preset", "method", "dataset", "seed", "state", "step", "job", "note")]
    for rd, config, view in store.iter_runs(experiment):
        if preset and config.get("preset", preset) != preset:
            continue
        status = view.status
        note = view.problem or status.get("error") or ""
        if view.state in FAILED:
            note = f"{note} log: {status.get('log', rd.path / 'status.json')}".strip()
        if view.state == State.DAMAGED:
            note = f"{note}; --force redoes it"
        step = view.live_step if view.live_step is not None else status.get("step", 0)
        rows.append((rd.path.name, config.get("preset", "?"), config.get("method", "?"), config.get("dataset", "?"),
                     config.get("seed", "?"), _shown(view), f"{step}/{config.get('steps', '?')}",
                     status.get("slurm_job_id", "-"), note))
    return rows if len(rows) > 1 else []
