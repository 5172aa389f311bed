"""`ignbench status`: one line per stored run, from the store and the runs' locks. It only reads: Slurm's final
states reach the store through `ignbench status --refresh` or `ignbench run` (`launch.slurm.refresh_slurm_states`)."""

from __future__ import annotations

from ignbench.store import FAILED, State, Store, live_state, parse_state


def status_rows(experiment: str, preset: str | None, store: Store) -> list[tuple]:
    """Rows (with a header) of every stored run of the experiment; [] when there is none."""
    rows = [("run_id", "preset", "method", "dataset", "seed", "state", "step", "job", "note")]
    for rd, config, status in store.iter_runs(experiment):
        if preset and config.get("preset") != preset:
            continue
        state, live_step = live_state(rd, status)
        note = status.get("error") or ""
        if parse_state(status.get("state", State.PENDING), rd.status) in FAILED:
            note = f"{note} log: {status.get('log', rd.path / 'status.json')}".strip()
        step = live_step if live_step is not None else status.get("step", 0)
        rows.append((rd.path.name, config.get("preset"), config.get("method"), config.get("dataset"),
                     config.get("seed"), state, f"{step}/{config.get('steps')}", status.get("slurm_job_id", "-"),
                     note))
    return rows if len(rows) > 1 else []
