"""Real Slurm: job arrays through submitit against the local test cluster (slurm/start-test-cluster.sh).

These skip, with the reason, only where no Slurm controller answers; CI starts the cluster and sets
IGNBENCH_REQUIRE_SLURM=1, which turns a missing cluster into a failure instead of a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch

from ignbench import load_results
from ignbench.cli import main
from ignbench.store import Store

HAVE_SLURM = shutil.which("sbatch") is not None and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0
if not HAVE_SLURM and os.environ.get("IGNBENCH_REQUIRE_SLURM") == "1":
    raise RuntimeError("IGNBENCH_REQUIRE_SLURM=1 but no Slurm controller answers: run slurm/start-test-cluster.sh")
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(
    not HAVE_SLURM, reason="no Slurm controller answers (sbatch/sinfo): run slurm/start-test-cluster.sh")]

TOY_SPEC = """
[experiment]
name = "toy"
title = "toy"
report = "lowdim"
seeds = {seeds}

[sweep]
method = {methods}

[config]
dataset = "2moons"
distance = "l2"
eval_kind = "lowdim"
batch_size = 32
steps = {steps}
hidden = 32
eval_n_samples = 128
eval_n_real = 128

[presets.paper]
"""


def _spec(tmp_path: Path, steps: int, seeds: int = 1, methods: tuple[str, ...] = ("naign",)) -> str:
    path = tmp_path / "toy.toml"
    path.write_text(TOY_SPEC.format(steps=steps, seeds=seeds, methods=json.dumps(list(methods))))
    return str(path)


def _profile(tmp_path: Path, **fields) -> str:
    values = {"partition": "debug", "mem_gb": 2.0, "timeout_min": 30, "array_parallelism": 2, **fields}
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "profile.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _statuses(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(store.rglob("status.json"))]


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_table1_smoke_as_job_array_lands_in_store_and_report_reads_it(runner, tmp_path):
    store, out = tmp_path / "runs", tmp_path / "reports"
    res = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--executor", "slurm", "--profile",
                               _profile(tmp_path), "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "submitted 6 run(s) as 6 task(s) of Slurm job array" in res.output and "finished: 6 done" in res.output
    statuses = _statuses(store)
    assert {s["state"] for s in statuses} == {"done"}
    assert all(s["executor"] == "slurm" and "_" in s["slurm_job_id"] for s in statuses)
    assert len({s["slurm_job_id"].split("_")[0] for s in statuses}) == 1  # one array
    rep = runner.invoke(main, ["report", "table1", "--store", str(store), "--out", str(out)])
    assert rep.exit_code == 0 and "| NAIGN: f(z) |" in rep.output
    status = runner.invoke(main, ["status", "table1", "--store", str(store)])
    assert status.output.count(" done ") == 6
    # finished on the cluster -> not redone anywhere
    again = runner.invoke(main, ["run", "table1", "--preset", "smoke", "--store", str(store)])
    assert "0 to do" in again.output


def test_stacked_runs_share_a_task_and_a_cancelled_task_is_redone_by_retry_failed(runner, tmp_path):
    spec, store = _spec(tmp_path, steps=30, seeds=2, methods=("naign", "ign")), tmp_path / "runs"
    profile = _profile(tmp_path, array_parallelism=1)
    res = runner.invoke(main, ["run", spec, "--executor", "slurm", "--profile", profile, "--no-wait",
                               "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "submitted 4 run(s) as 2 task(s)" in res.output  # each method's two seeds train stacked in one task
    by_method = {}
    for p in store.rglob("status.json"):
        by_method.setdefault(json.loads((p.parent / "config.json").read_text())["method"], set()).add(
            json.loads(p.read_text())["slurm_job_id"])
    assert all(len(ids) == 1 for ids in by_method.values())
    victim = by_method["ign"].pop()  # the second task, pending behind the first (array parallelism 1)
    subprocess.run(["scancel", victim], check=True)

    def settled() -> bool:
        lines = runner.invoke(main, ["status", "toy", "--refresh", "--store", str(store)]).output.splitlines()[1:]
        states = sorted(line.split()[5] for line in lines)
        return states == ["cancelled", "cancelled", "done", "done"]

    _wait_for(settled, 120, "ign's task cancelled and naign's done")
    status = runner.invoke(main, ["status", "toy", "--refresh", "--store", str(store)]).output
    assert "Slurm CANCELLED" in status
    retry = runner.invoke(main, ["run", spec, "--executor", "slurm", "--profile", profile, "--retry-failed",
                                 "--store", str(store)])
    assert retry.exit_code == 0, retry.output
    assert "2 to do" in retry.output and "finished: 2 done" in retry.output
    assert {s["state"] for s in _statuses(store)} == {"done"}


def test_requeued_job_resumes_from_checkpoint_with_identical_result(runner, tmp_path):
    steps = 3000
    spec, store, local = _spec(tmp_path, steps=steps), tmp_path / "runs", tmp_path / "local"
    res = runner.invoke(main, ["run", spec, "--executor", "slurm", "--profile", _profile(tmp_path), "--no-wait",
                               "--checkpoint-every", "100", "--store", str(store)])
    assert res.exit_code == 0, res.output
    status_file = next(store.rglob("status.json"))
    _wait_for(lambda: json.loads(status_file.read_text()).get("step", 0) >= 300, 120, "first checkpoints")
    job = json.loads(status_file.read_text())["slurm_job_id"]
    subprocess.run(["scancel", "--signal=USR2", job], check=True)  # what Slurm sends before a timeout/preemption
    _wait_for(lambda: json.loads(status_file.read_text()).get("state") == "done", 300, "requeued run to finish")
    attempts = json.loads(status_file.read_text())["attempts"]
    assert len(attempts) == 2 and 0 < attempts[1]["from_step"] < steps
    assert runner.invoke(main, ["run", spec, "--store", str(local), "--checkpoint-every", "100"]).exit_code == 0
    cluster_run, local_run = next(store.glob("toy/*/checkpoint.pt")), next(local.glob("toy/*/checkpoint.pt"))
    assert cluster_run.parent.name == local_run.parent.name  # same run id
    a, b = torch.load(cluster_run, weights_only=False), torch.load(local_run, weights_only=False)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    evals = [json.loads(next(run.parent.glob("evals/*/eval.json")).read_text())["metrics"]
             for run in (cluster_run, local_run)]
    assert evals[0] == evals[1]


def test_job_over_its_memory_is_reported_out_of_memory(runner, tmp_path):
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", _spec(tmp_path, steps=5), "--executor", "slurm", "--profile",
                               _profile(tmp_path, mem_gb=0.2), "--store", str(store)])
    assert res.exit_code == 1, res.output  # a failed run
    assert "finished: 1 out-of-memory" in res.output
    status = runner.invoke(main, ["status", "toy", "--store", str(store)]).output
    assert "out-of-memory" in status and "log: " in status


def test_local_and_slurm_give_identical_results(runner, tmp_path):
    spec = _spec(tmp_path, steps=40, seeds=2)
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    assert runner.invoke(main, ["run", spec, "--store", str(local)]).exit_code == 0
    res = runner.invoke(main, ["run", spec, "--executor", "slurm", "--profile", _profile(tmp_path),
                               "--store", str(cluster)])
    assert res.exit_code == 0, res.output
    a, b = load_results(spec, root=local), load_results(spec, root=cluster)
    cols = ["run_id", "bn_mode", "application", "metric", "value"]

    def tidy(df):
        return df[cols].sort_values(cols[:3]).reset_index(drop=True)

    assert tidy(a).equals(tidy(b))
    assert len(Store(cluster).experiments()) == 1


@pytest.mark.parametrize("profile_text,message", [
    ("partition = 'debug'\nbogus = 1\n", "unknown key 'bogus'"),
    ("partition = 'debug'\nmem_gb = 'lots'\n", "mem_gb must be float"),
    ("partition = 'no-such-partition'\n", "unknown partition 'no-such-partition'"),
    ("partition = 'debug'\ngpus_per_node = 1\n", "has no GPUs"),
])
def test_bad_profile_gives_one_line_error_and_submits_nothing(runner, tmp_path, profile_text, message):
    path = tmp_path / "bad.toml"
    path.write_text(profile_text)
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", _spec(tmp_path, 5), "--executor", "slurm", "--profile", str(path),
                               "--store", str(store)])
    assert res.exit_code == 2 and message in res.output, res.output
    assert res.output.strip().splitlines()[-1].startswith("error:")
    assert not list(store.rglob("status.json"))


def test_unknown_profile_and_missing_sbatch(runner, tmp_path, monkeypatch):
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", _spec(tmp_path, 5), "--executor", "slurm", "--profile", "nope",
                               "--store", str(store)])
    assert res.exit_code == 2 and "unknown Slurm profile 'nope'" in res.output
    monkeypatch.setattr("ignbench.launch.slurm.shutil.which", lambda name: None)
    res = runner.invoke(main, ["run", _spec(tmp_path, 5), "--executor", "slurm", "--store", str(store)])
    assert res.exit_code == 2 and "sbatch not found" in res.output
    assert not list(store.rglob("status.json"))


def test_unreachable_controller_is_named_and_nothing_is_submitted(runner, tmp_path, monkeypatch):
    """The real sinfo against a slurm.conf whose controller port has nobody listening."""
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    dead = tmp_path / "slurm.conf"
    dead.write_text("\n".join("SlurmctldPort=1" if line.startswith("SlurmctldPort=") else line
                              for line in conf.splitlines()))
    monkeypatch.setenv("SLURM_CONF", str(dead))
    store = tmp_path / "runs"
    res = runner.invoke(main, ["run", _spec(tmp_path, 5), "--executor", "slurm", "--profile",
                               _profile(tmp_path), "--store", str(store)])
    assert res.exit_code == 2 and "cannot query the Slurm controller" in res.output, res.output
    assert "start-test-cluster.sh" in res.output.strip().splitlines()[-1]
    assert not list(store.rglob("status.json"))


def test_evaluate_goes_through_slurm_with_the_same_status_handling(runner, tmp_path):
    spec, store = _spec(tmp_path, steps=20), tmp_path / "runs"
    assert runner.invoke(main, ["run", spec, "--store", str(store)]).exit_code == 0
    eval_file = next(store.rglob("eval.json"))
    before = json.loads(eval_file.read_text())["metrics"]
    eval_file.unlink()
    res = runner.invoke(main, ["evaluate", spec, "--executor", "slurm", "--profile", _profile(tmp_path), "--store",
                               str(store)])
    assert res.exit_code == 0 and "finished: 1 done" in res.output, res.output
    assert json.loads(eval_file.read_text())["metrics"] == before
    status = _statuses(store)[0]
    assert status["state"] == "done" and status["executor"] == "slurm" and status["slurm_job_id"]
    assert [a["from_step"] for a in status["attempts"]] == [0, 20]  # evaluated from the final checkpoint


def test_until_decided_on_slurm_runs_one_array_per_look(runner, tmp_path):
    """The sequential design on the cluster: each look is one job array, decided between rounds."""
    from test_sequential import SPEC

    spec, store = tmp_path / "seq.toml", tmp_path / "runs"
    spec.write_text(SPEC)
    res = runner.invoke(main, ["run", str(spec), "--until-decided", "--max-seeds", "6", "--executor", "slurm",
                               "--profile", _profile(tmp_path), "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert res.output.count("Slurm job array") == 2 and "every claim decided by 6 seeds" in res.output
    assert {s["executor"] for s in _statuses(store)} == {"slurm"} and len(_statuses(store)) == 6
