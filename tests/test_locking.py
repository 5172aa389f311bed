"""One process trains one run: concurrent processes, stale locks taken over, live locks left alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ignbench.cli import main
from ignbench.spec import load_spec
from ignbench.store import Store
from ignbench.store.lock import RunLock, is_stale

SPEC = """
[experiment]
name = "locky"
title = "locky"
report = "generation"
seeds = 4

[sweep]
method = ["ign", "naign-"]

[config]
dataset = "mnist-5k"
batch_size = 8
steps = 4
model_width = 8
latent_dim = 16
eval_n_samples = 32
eval_n_real = 32
fk_steps = [1, 2]
fk_samples = 8

[presets.paper]
"""


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "locky.toml"
    path.write_text(SPEC)
    return path


def test_eight_concurrent_processes_train_every_run_exactly_once(tmp_path):
    spec, store = _spec(tmp_path), tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "IGNBENCH_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "ignbench.cli", "run", str(spec), "--store", str(store)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(8)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    cfgs = load_spec(str(spec)).expand("paper")
    assert len(cfgs) == 8
    trainers = set()
    for cfg in cfgs:
        status = Store(store).status(cfg)
        assert status["state"] == "done"
        assert len(status["attempts"]) == 1 and status["attempts"][0]["from_step"] == 0  # trained once
        trainers.add(status["attempts"][0]["pid"])
        assert not Store(store).run_dir(cfg).lock.exists()  # released
    assert len(trainers) > 1  # the work was shared, not serialised behind one process
    assert sum("being worked on by another process" in out for out in outputs) >= 1


def _lock(store: Path, cfg, **fields) -> Path:
    path = Store(store).run_dir(cfg).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "token": "t", "started": time.time(),
              "heartbeat": time.time(), "step": 0, **fields}
    path.write_text(json.dumps(record))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_process_lock_shows_interrupted_and_the_next_run_takes_it_over(runner, tmp_path):
    spec, store = _spec(tmp_path), tmp_path / "runs"
    cfg = load_spec(str(spec)).expand("paper", seeds=1)[0]
    Store(store).write_status(cfg, state="running", step=2)
    _lock(store, cfg, pid=_dead_pid(), heartbeat=time.time() - 5)
    status = runner.invoke(main, ["status", str(spec), "--store", str(store)])
    assert "interrupted (no heartbeat since" in status.output
    res = runner.invoke(main, ["run", str(spec), "--seeds", "1", "--store", str(store)])
    assert res.exit_code == 0 and "finished: 2 done" in res.output, res.output
    assert not Store(store).run_dir(cfg).lock.exists()


def test_a_silent_lock_of_another_host_goes_stale_after_its_timeout(runner, tmp_path, monkeypatch):
    spec, store = _spec(tmp_path), tmp_path / "runs"
    cfg = load_spec(str(spec)).expand("paper", seeds=1)[0]
    lock = _lock(store, cfg, host="node-elsewhere", pid=1, heartbeat=time.time() - 300)
    monkeypatch.setenv("IGNBENCH_LOCK_STALE_S", "600")
    assert not is_stale(json.loads(lock.read_text()))
    monkeypatch.setenv("IGNBENCH_LOCK_STALE_S", "120")
    assert is_stale(json.loads(lock.read_text()))
    res = runner.invoke(main, ["run", str(spec), "--seeds", "1", "--store", str(store)])
    assert res.exit_code == 0 and "finished: 2 done" in res.output, res.output


def test_a_live_lock_is_left_alone_and_status_shows_its_live_step(runner, tmp_path):
    spec, store = _spec(tmp_path), tmp_path / "runs"
    cfg = load_spec(str(spec)).expand("paper", seeds=1)[0]
    Store(store).write_status(cfg, state="running", step=0)
    _lock(store, cfg, host="node-elsewhere", pid=1, step=3)
    status = runner.invoke(main, ["status", str(spec), "--store", str(store)])
    assert "running on node-elsewhere:1" in status.output and "3/4" in status.output
    res = runner.invoke(main, ["run", str(spec), "--seeds", "1", "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert "1 to do" in res.output  # the other run; this one is running elsewhere
    assert Store(store).status(cfg)["state"] == "running"


def test_lock_is_exclusive_heartbeats_and_releases(tmp_path):
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    assert first.acquire() and not second.acquire()
    before = json.loads(first.path.read_text())["heartbeat"]
    first.step = 7
    time.sleep(0.01)
    first.beat()
    record = json.loads(first.path.read_text())
    assert record["step"] == 7 and record["heartbeat"] > before and record["pid"] == os.getpid()
    first.release()
    assert not first.path.exists() and second.acquire()
    second.release()
