"""Slurm executor: pending runs go out as submitit job arrays; results land in the same store.

- Each array task trains one stack group (`train.stack_groups`: an image run alone, or several low-dimensional
  runs of one shape as an ensemble) and gets only their resolved configs (dicts) and a few paths: never models or
  data. Tasks lock their runs like local processes do, so a run is never trained twice.
- In a git checkout the code is snapshotted at submit time (submitit's RsyncSnapshot: a copy of the committed
  tree); queued jobs import the snapshot, so edits made after submission do not change them. An installed
  ignbench (a wheel) is not edited in place and is used as it is.
- Jobs are `submitit.helpers.Checkpointable`: on timeout or preemption Slurm signals them, submitit requeues
  them (at most `max_requeues` times) and the run resumes from its last checkpoint.
- `refresh_slurm_states` merges sacct's view into the store for `ignbench status`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import click
import submitit
from tqdm.auto import tqdm

from ignbench.core.config import RunConfig
from ignbench.core.errors import UserError
from ignbench.launch.profile import Profile, load_profile
from ignbench.store import ACTIVE, FAILED, FINISHED, RunDir, RunView, State, Store, atomic_write_json, read_json
from ignbench.store.lock import is_stale, read_lock
from ignbench.train import stack_groups

REPO_ROOT = Path(__file__).resolve().parents[2]
SACCT_STATES = {  # Slurm's final states -> the store's
    "CANCELLED": "cancelled", "TIMEOUT": "timeout", "OUT_OF_MEMORY": "out-of-memory",
    "NODE_FAIL": "node-fail", "FAILED": "failed", "BOOT_FAIL": "failed", "DEADLINE": "timeout",
}
WATCHED = ACTIVE | {State.INTERRUPTED}


class SlurmRun(submitit.helpers.Checkpointable):
    """What one array task runs. Requeued as-is on timeout/preemption; training resumes from its checkpoints."""

    def __call__(self, configs: list[dict], store_root: str, data_root: str | None, checkpoint_every: int,
                 restart_corrupt: bool = False, evaluate_only: bool = False) -> dict[str, str]:
        from ignbench.launch.job import run_group

        cfgs = [RunConfig.from_dict(c) for c in configs]
        env = submitit.JobEnvironment()
        return run_group(cfgs, Store(store_root), Path(data_root) if data_root else None, checkpoint_every,
                         progress=False, extra_status={"slurm_job_id": env.job_id, "executor": "slurm"},
                         restart_corrupt=restart_corrupt, evaluate_only=evaluate_only)


def check_cluster(profile: Profile) -> None:
    """sbatch present, partition known, GPUs available if requested: else a one-line UserError."""
    if shutil.which("sbatch") is None:
        raise UserError("sbatch not found: Slurm is not installed here (for a local test cluster run "
                        "`bash slurm/start-test-cluster.sh`)")
    info = subprocess.run(["sinfo", "-h", "-p", profile.partition, "-o", "%P %G"], capture_output=True, text=True)
    if info.returncode != 0:
        reason = info.stderr.strip().splitlines()[-1] if info.stderr.strip() else f"sinfo exit {info.returncode}"
        raise UserError(f"cannot query the Slurm controller ({reason}); is the cluster up? (local test cluster: "
                        "`bash slurm/start-test-cluster.sh`)")
    if not info.stdout.strip():
        raise UserError(f"profile {profile.name}: unknown partition {profile.partition!r} (sinfo lists no such "
                        "partition)")
    if profile.gpus_per_node > 0 and "gpu" not in info.stdout:
        raise UserError(f"profile {profile.name}: requests {profile.gpus_per_node} GPU(s) but partition "
                        f"{profile.partition!r} has no GPUs (set gpus_per_node = 0 or use a GPU partition)")


def make_executor(profile: Profile, folder: Path) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=profile.max_requeues)
    params = {
        "slurm_partition": profile.partition, "timeout_min": profile.timeout_min,
        "cpus_per_task": profile.cpus_per_task, "mem_gb": profile.mem_gb,
        "slurm_array_parallelism": profile.array_parallelism, "slurm_setup": list(profile.setup),
        "name": "ignbench",
    }
    if profile.gpus_per_node:
        params["gpus_per_node"] = profile.gpus_per_node
    if profile.account:
        params["slurm_account"] = profile.account
    if profile.qos:
        params["slurm_qos"] = profile.qos
    executor.update_parameters(**params)
    return executor


def _in_git_checkout() -> bool:
    return (REPO_ROOT / ".git").exists() and shutil.which("git") is not None


def submit(runs: list[RunConfig], store: Store, profile_name: str, data_root: Path | None, checkpoint_every: int,
           wait: bool, restart_corrupt: bool = False, evaluate_only: bool = False) -> dict[str, str] | None:
    """Submit one array task per stack group; with `wait`, follow them and return every run's final state."""
    profile = load_profile(profile_name)
    check_cluster(profile)
    store_root = store.root.resolve()
    folder = store_root / ".slurm"
    executor = make_executor(profile, folder / "%j")
    groups = stack_groups(runs)
    args = (str(store_root), str(data_root.resolve()) if data_root else None, checkpoint_every, restart_corrupt,
            evaluate_only)
    snapshot = None
    if _in_git_checkout():
        snapshot = folder / "code" / time.strftime("%Y%m%d-%H%M%S")
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            click.echo("warning: uncommitted changes are not in the code snapshot; jobs run the committed code",
                       err=True)
        with submitit.helpers.RsyncSnapshot(snapshot_dir=snapshot, root_dir=REPO_ROOT,
                                            exclude=["results", ".venv", "*.egg-info"]):
            jobs = _submit_groups(executor, profile, groups, args)
    else:
        jobs = _submit_groups(executor, profile, groups, args)
    for group, job in jobs:
        for cfg in group:
            store.write_status(cfg, state=State.SUBMITTED, slurm_job_id=job.job_id, executor="slurm",
                               log=str(job.paths.stdout), submitted=time.time(), error=None,
                               submitted_for="evaluation" if evaluate_only else "training")
    arrays = sorted({j.job_id.split("_")[0] for _, j in jobs})
    click.echo(f"submitted {len(runs)} run(s) as {len(jobs)} task(s) of Slurm job array(s) {arrays} "
               f"[profile {profile.name}{f', code snapshot {snapshot}' if snapshot else ''}]")
    if not wait:
        click.echo("not waiting: follow with `ignbench status " + runs[0].experiment + "`")
        return None
    return follow(jobs, store)


def _submit_groups(executor: submitit.AutoExecutor, profile: Profile, groups: list[list[RunConfig]],
                   args: tuple) -> list[tuple[list[RunConfig], submitit.Job]]:
    jobs = []
    for start in range(0, len(groups), profile.max_array_size):
        chunk = groups[start : start + profile.max_array_size]
        try:
            with executor.batch():
                chunk_jobs = [executor.submit(SlurmRun(), [c.to_dict() for c in group], *args) for group in chunk]
        except submitit.core.utils.FailedJobError as exc:
            raise UserError(f"sbatch refused the job array: {str(exc).strip().splitlines()[-1]}") from None
        jobs += list(zip(chunk, chunk_jobs, strict=True))
    return jobs


def follow(jobs: list, store: Store, poll_s: float = 2.0) -> dict[str, str]:
    """Wait for the array with a progress bar; then record every Slurm-level failure in the store."""
    with tqdm(total=len(jobs), desc="slurm tasks", unit="task") as bar:
        pending = {job.job_id for _, job in jobs}
        while pending:
            time.sleep(poll_s)
            queued = squeue_ids()
            left = {j for j in pending if j in queued}
            bar.update(len(pending) - len(left))
            pending = left
    unfinished = [(cfg, job) for group, job in jobs for cfg in group if store.state(cfg) not in FINISHED | FAILED]
    verdicts = sacct_states(sorted({job.job_id for _, job in unfinished}))
    for cfg, job in unfinished:
        record_failure(store.run_dir(cfg), job.job_id, verdicts.get(job.job_id, VANISHED), _reason(job))
    return {cfg.run_id: str(store.state(cfg)) for group, _ in jobs for cfg in group}


def _reason(job: submitit.Job) -> str:
    """The remote exception's last line (e.g. 'ModuleNotFoundError: ...'), or submitit's own message."""
    try:
        exc = job.exception()
    except Exception as err:  # submitit raises when it cannot read the job's outcome at all
        return f"{err.__class__.__name__}: {err}"
    if exc is None:
        return ""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)]
    return errors[-1] if errors else lines[-1]


def record_failure(rd: RunDir, job_id: str, slurm_state: str, reason: str) -> None:
    """Write Slurm's final verdict for a run whose own code never recorded one (killed, cancelled, OOM)."""
    state = SACCT_STATES.get(slurm_state.split()[0], "failed")
    current = read_json(rd.status) if rd.status.exists() else {}
    lock = read_lock(rd.lock)
    if current.get("state") in FINISHED | FAILED or (lock is not None and not is_stale(lock)):
        return  # settled, or another live process is working on it
    current.update(state=state, error=f"Slurm {slurm_state}{': ' + reason if reason else ''}",
                   slurm_job_id=job_id, finished=time.time())
    atomic_write_json(rd.status, current)


VANISHED = "CANCELLED (left the queue with no accounting record: cancelled while pending)"


def squeue_ids() -> set[str]:
    """Ids of every job and array task still queued or running (array tasks expanded)."""
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True)
    if out.returncode != 0:
        raise UserError(f"squeue failed: {out.stderr.strip()}")
    return set(out.stdout.split())


SEVERITY = ["OUT_OF_MEMORY", "TIMEOUT", "DEADLINE", "NODE_FAIL", "BOOT_FAIL", "CANCELLED", "FAILED"]


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    """Each job's most telling state over its allocation and steps (an OOM-killed step makes the job
    OUT_OF_MEMORY even where the allocation itself only says FAILED)."""
    if not job_ids or shutil.which("sacct") is None:
        return {}
    out = subprocess.run(["sacct", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True)
    seen: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.partition("|")
        seen.setdefault(job_id.split(".")[0], []).append(state.split()[0] if state else "")
    states = {}
    for job_id, found in seen.items():
        severe = [s for s in SEVERITY if s in found]
        states[job_id] = severe[0] if severe else found[0]
    return states


def refresh_slurm_states(runs: list[tuple[RunDir, dict, RunView]]) -> None:
    """For submitted/running runs, let sacct's final states (cancelled, OOM, timeout, ...) into the store."""
    active: dict[str, list[RunDir]] = {}
    for rd, _, view in runs:
        s = view.status
        if s.get("slurm_job_id") and s.get("state") in WATCHED:
            active.setdefault(s["slurm_job_id"], []).append(rd)
    if not active or shutil.which("squeue") is None:
        return
    queued = squeue_ids()
    gone = [job_id for job_id in active if job_id not in queued]
    verdicts = sacct_states(gone)
    for job_id in gone:
        state = verdicts.get(job_id, VANISHED)
        if state.split()[0] in SACCT_STATES or state == VANISHED:
            for rd in active[job_id]:
                record_failure(rd, job_id, state, "")
