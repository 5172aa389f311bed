"""Trust: one run is trained by one process (two real processes where it matters), damaged files are named and
never a traceback or a silent change of a number, and the store recovers by the next plain command."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ignbench.cli import main
from ignbench.spec import load_spec
from ignbench.store import Store, read_curve
from ignbench.store.lock import UNREADABLE_GRACE, _pid_alive, process_start

SPEC = """
[experiment]
name = "trusty"
title = "trusty"
report = "lowdim"
seeds = 2

[sweep]
method = ["naign"]

[config]
dataset = "2moons"
distance = "l2"
eval_kind = "lowdim"
batch_size = 16
steps = {steps}
hidden = 16
lr = 2e-3
eval_n_samples = 64
eval_n_real = 64
grid_points = 400
curve_every = 10

[presets.paper]

[[claims]]
id = "rebound"
text = "t"
kind = "at_least"
metric = "coverage"
threshold = 0.0
a = "naign"
"""


def _spec(tmp: Path, steps: int = 30) -> str:
    path = tmp / "trusty.toml"
    path.write_text(SPEC.format(steps=steps))
    return str(path)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trusty")
    res = CliRunner().invoke(main, ["run", _spec(root), "--store", str(root / "runs")])
    assert res.exit_code == 0, res.output
    return root


def _copy(template: Path, tmp: Path) -> tuple[str, Path, list[Path]]:
    shutil.copytree(template / "runs", tmp / "runs")
    spec = _spec(tmp)
    cfgs = load_spec(spec).expand("paper")
    return spec, tmp / "runs", [Store(tmp / "runs").run_dir(c).path for c in sorted(cfgs, key=lambda c: c.seed)]


def _cut_curve(run: Path) -> None:
    text = (run / "curve.csv").read_text().rstrip("\r\n")
    (run / "curve.csv").write_text(text[:-3])  # "0.0312" -> "0.0": the last row cut mid-value, no newline


DAMAGE = {
    "status.json not JSON": (lambda r: (r / "status.json").write_text("{oops"), "status.json: damaged"),
    "status.json a list": (lambda r: (r / "status.json").write_text("[1, 2]"), "status.json: damaged"),
    "status.json unknown state": (lambda r: (r / "status.json").write_text('{"state": "sleeping"}'),
                                  "unknown state 'sleeping'"),
    "config.json binary": (lambda r: (r / "config.json").write_bytes(b"\x00\xff"), "config.json: damaged"),
    "config.json without method": (lambda r: (r / "config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((r / "config.json").read_text()).items() if k != "method"})),
        "config.json: damaged (no method)"),
    "eval.json empty metrics": (lambda r: next(r.rglob("eval.json")).write_text('{"metrics": {}}'),
                                "eval.json: damaged evaluation"),
    "eval.json half written": (lambda r: next(r.rglob("eval.json")).write_text('{"metrics": {"none": {"f(z)":'),
                               "eval.json: damaged"),
    "curve.csv empty": (lambda r: (r / "curve.csv").write_text(""), "damaged curve"),
    "curve.csv binary": (lambda r: (r / "curve.csv").write_bytes(b"\x00\xff\xfe"), "damaged curve"),
    "curve.csv a row cut mid-value": (_cut_curve, "damaged curve (its last row is cut short)"),
    "curve.csv without its value column": (lambda r: (r / "curve.csv").write_text(
        "\n".join(",".join(line.split(",")[:3]) for line in (r / "curve.csv").read_text().splitlines()) + "\n"),
        "damaged curve"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_file_is_named_and_redone_by_force_never_a_traceback(case, template, tmp_path):
    damage, message = DAMAGE[case]
    spec, store, (victim, other) = _copy(template, tmp_path)
    damage(victim)
    runner = CliRunner()
    status = runner.invoke(main, ["status", spec, "--store", str(store)])
    assert status.exit_code == 0 and status.exception is None, status.output
    lines = {line.split()[0]: line for line in status.output.splitlines()[1:]}
    assert " damaged " in lines[victim.name] and message in lines[victim.name] and " done " in lines[other.name]
    for command in (["report", spec, "--out", str(tmp_path / "reports")], ["verdict", spec, "--format", "json"]):
        res = runner.invoke(main, [*command, "--store", str(store)])
        assert res.exit_code == 0 and res.exception is None, res.output
    claim = json.loads(runner.invoke(main, ["verdict", spec, "--store", str(store), "--format", "json"]).output)[0]
    assert claim["Verdict"] == "insufficient" and claim["Notes"] == "naign: 1 damaged"
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()}
    plain = runner.invoke(main, ["run", spec, "--store", str(store)])
    assert plain.exit_code == 1 and message in plain.output and "damaged run, left alone" in plain.output
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()} == before  # nothing written
    forced = runner.invoke(main, ["run", spec, "--store", str(store), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((victim / "status.json").read_text())["state"] == "done"


def test_a_nan_metric_is_left_out_of_the_verdict_with_a_note(template, tmp_path):
    spec, store, (victim, _) = _copy(template, tmp_path)
    path = next(victim.rglob("eval.json"))
    record = json.loads(path.read_text())
    record["metrics"]["none"]["f(z)"]["coverage"] = None
    path.write_text(json.dumps(record))
    claim = json.loads(CliRunner().invoke(main, ["verdict", spec, "--store", str(store), "--format", "json"]).output)[0]
    assert "naign: 1 finished run(s) without a value of coverage, left out" in claim["Notes"]
    assert claim["n"] == "1 of 2"


def test_a_corrupt_newest_checkpoint_is_set_aside_and_the_good_backup_kept(template, tmp_path):
    spec, store, (victim, _) = _copy(template, tmp_path)
    shutil.copy(victim / "checkpoint.pt", victim / "checkpoint.prev.pt")
    good = (victim / "checkpoint.prev.pt").read_bytes()
    (victim / "checkpoint.pt").write_bytes(good[:100])
    status = json.loads((victim / "status.json").read_text())
    (victim / "status.json").write_text(json.dumps({**status, "state": "interrupted"}))
    res = CliRunner().invoke(main, ["run", spec, "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert (victim / "checkpoint.pt.corrupt").read_bytes() == good[:100]
    assert json.loads((victim / "status.json").read_text())["state"] == "done"


def _popen(args: list[str], tmp: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ignbench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def _wait_for_step(run: Path, step: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        try:
            if json.loads((run / "lock.json").read_text()).get("step", 0) >= step:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"never reached step {step}: {proc.poll()}")


@pytest.fixture
def long_run(tmp_path) -> tuple[str, Path, Path]:
    spec = _spec(tmp_path, steps=4000)
    cfg = sorted(load_spec(spec).expand("paper", seeds=1), key=lambda c: c.seed)[0]
    return spec, tmp_path / "runs", Store(tmp_path / "runs").run_dir(cfg).path


def test_force_refuses_a_run_another_live_process_trains(long_run, tmp_path):
    spec, store, run = long_run
    first = _popen(["run", spec, "--seeds", "1", "--store", str(store), "--checkpoint-every", "50"], tmp_path)
    try:
        _wait_for_step(run, 60, first)
        files = sorted(p.name for p in run.iterdir())
        forced = CliRunner().invoke(main, ["run", spec, "--seeds", "1", "--store", str(store), "--force"])
        assert forced.exit_code == 2 and "being trained by" in forced.output and "stop it first" in forced.output
        assert f":{first.pid} " in forced.output
        assert sorted(p.name for p in run.iterdir()) == files  # nothing deleted
    finally:
        first.kill()
        first.wait()


def _running(run: Path) -> bool:
    try:
        return json.loads((run / "status.json").read_text()).get("state") == "running"
    except (OSError, ValueError):
        return False


def _wait_for_training(run: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until the run holds its lock and says it is running (sooner than the heartbeat reports a step)."""
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None and not ((run / "lock.json").exists() and _running(run)):
        time.sleep(0.05)
    assert (run / "lock.json").exists() and _running(run), f"never started training: {proc.poll()}"


def test_a_stopped_process_keeps_its_lock_and_the_run_is_trained_once(tmp_path):
    """SIGSTOP past the heartbeat's staleness: on this host a live pid keeps its lock; a second run leaves the run
    to it; continued, the first finishes alone."""
    spec_short, store = _spec(tmp_path, steps=2000), tmp_path / "runs"
    run = Store(store).run_dir(sorted(load_spec(spec_short).expand("paper", seeds=1), key=lambda c: c.seed)[0]).path
    first = _popen(["run", spec_short, "--seeds", "1", "--store", str(store)], tmp_path)
    try:
        _wait_for_training(run, first)
        first.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        second = _popen(["run", spec_short, "--seeds", "1", "--store", str(store)], tmp_path,
                        IGNBENCH_LOCK_STALE_S="1")
        out = second.communicate(timeout=300)[0]
        assert second.returncode == 0 and "1 runs (1 running); 0 to do" in out, out  # left to its live trainer
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=600) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done" and len(status["attempts"]) == 1


RUN_FILES = ("checkpoint.pt", "train_log.csv", "curve.csv", "status.json")


def _in_flight(run: Path) -> set[str]:
    """The files a write under way will still change: each temp file's target (a new checkpoint also rotates the
    old one to checkpoint.prev.pt)."""
    out = set()
    for temp in (p.name for p in run.iterdir() if p.name.startswith(".") and not p.name.startswith(".lock")):
        out |= {name for name in RUN_FILES if temp[1:].startswith(name)}
    return out | ({"checkpoint.prev.pt"} if "checkpoint.pt" in out else set())


def test_a_process_that_lost_its_lock_stops_and_writes_nothing_more(long_run, tmp_path):
    """Another host takes the run over (its lock replaces this one's) while the trainer is frozen: continued, it
    finishes at most the one file write it was in the middle of, then stops."""
    spec, store, run = long_run
    first = _popen(["run", spec, "--seeds", "1", "--store", str(store), "--checkpoint-every", "20"], tmp_path)
    _wait_for_step(run, 30, first)
    first.send_signal(signal.SIGSTOP)
    theirs = run / ".lock.json.theirs"
    theirs.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "theirs", "heartbeat": time.time() + 3600,
                                  "step": 0}))
    os.replace(theirs, run / "lock.json")  # as a breaker on another host would: atomically
    taken = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name in RUN_FILES + ("checkpoint.prev.pt",)}
    finishing = _in_flight(run)
    first.send_signal(signal.SIGCONT)
    out = first.communicate(timeout=120)[0]
    assert first.returncode == 2 and "lost the run's lock (now held by elsewhere:1)" in out, out
    assert out.count("Traceback") == 0
    changed = {name for name, mtime in taken.items() if (run / name).stat().st_mtime_ns != mtime}
    assert changed <= finishing, (changed, finishing)
    assert len(finishing - {"checkpoint.prev.pt"}) <= 1


@pytest.mark.parametrize("content", ["", "{\"host\": ", "\x00\x01"])
def test_an_unreadable_lock_blocks_with_its_file_named_then_is_broken(content, template, tmp_path):
    spec, store, (victim, _) = _copy(template, tmp_path)
    status = json.loads((victim / "status.json").read_text())
    (victim / "status.json").write_text(json.dumps({**status, "state": "running"}))
    lock = victim / "lock.json"
    lock.write_text(content)
    young = CliRunner().invoke(main, ["run", spec, "--store", str(store)])
    assert young.exit_code == 1 and f"blocked by {lock} (unreadable)" in young.output
    old = time.time() - UNREADABLE_GRACE - 5
    os.utime(lock, (old, old))
    later = CliRunner().invoke(main, ["run", spec, "--store", str(store)])
    assert later.exit_code == 0, later.output
    assert json.loads((victim / "status.json").read_text())["state"] == "done" and not lock.exists()


def test_a_full_disk_leaves_runs_interrupted_and_a_plain_run_resumes(tmp_path, monkeypatch):
    import ignbench.store as store_module

    spec, store = _spec(tmp_path, steps=60), tmp_path / "runs"
    real, calls = store_module.atomic_write_bytes, {"n": 0}

    def full(path, data):
        calls["n"] += 1
        if path.name.startswith(".checkpoint") and calls["n"] > 6:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(store_module, "atomic_write_bytes", full)
    res = CliRunner().invoke(main, ["run", spec, "--store", str(store), "--checkpoint-every", "20"])
    assert res.exit_code == 2 and "No space left on device; the runs are left interrupted" in res.output
    assert ".checkpoint.pt.new" in res.output and res.exception is not None and "Traceback" not in res.output
    states = {json.loads(p.read_text())["state"] for p in store.rglob("status.json")}
    assert states == {"interrupted"}
    monkeypatch.setattr(store_module, "atomic_write_bytes", real)
    again = CliRunner().invoke(main, ["run", spec, "--store", str(store)])
    assert again.exit_code == 0 and "finished: 2 done" in again.output


def test_a_read_only_store_with_nothing_to_do_is_fine(template, tmp_path, monkeypatch):
    from ignbench.core.errors import UserError
    from ignbench.store import Store as StoreClass

    spec, store, _ = _copy(template, tmp_path)

    def read_only(self):
        raise UserError(f"--store {self.root}: not writable (read-only file system)")

    monkeypatch.setattr(StoreClass, "check_writable", read_only)
    res = CliRunner().invoke(main, ["run", spec, "--store", str(store)])
    assert res.exit_code == 0 and "0 to do" in res.output


def test_status_and_verdict_only_read(template, tmp_path):
    spec, store, _ = _copy(template, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    for command in (["status", spec], ["verdict", spec], ["list"], ["run", spec, "--dry-run"]):
        assert CliRunner().invoke(main, [*command, "--store", str(store)] if command[0] != "list" else command
                                  ).exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before


def test_a_spec_reported_by_path_is_in_the_index(template, tmp_path):
    spec, store, _ = _copy(template, tmp_path)
    out = tmp_path / "reports"
    assert CliRunner().invoke(main, ["report", spec, "--store", str(store), "--out", str(out)]).exit_code == 0
    assert "id='trusty-paper'" in (out / "index.html").read_text()


def test_curves_of_unfinished_runs_enter_neither_plateau_tables_nor_curve_claims(template, tmp_path):
    from ignbench.report.tables import plateau_table
    from ignbench.store.frames import curves_frame

    spec, store, (victim, _) = _copy(template, tmp_path)
    status = json.loads((victim / "status.json").read_text())
    (victim / "status.json").write_text(json.dumps({**status, "state": "failed"}))
    curves = curves_frame(load_spec(spec).expand("paper"), Store(store))
    assert set(curves["state"]) == {"failed", "done"}
    table = plateau_table(curves, ["coverage"])
    assert set(table["plateaued (net change ≤ spread)"].str.split("/").str[1]) == {"1 runs"}
    assert read_curve(victim / "curve.csv")  # the curve itself is intact: only its run's state left it out


def test_workers_stop_when_their_run_is_killed(tmp_path):
    """`run --jobs 2` killed outright: its two worker processes stop within seconds, not at the end of their
    groups, and the next `run` resumes both groups from their checkpoints."""
    spec = tmp_path / "pair.toml"
    spec.write_text(SPEC.format(steps=20000).replace('method = ["naign"]', 'method = ["ign", "naign"]'))
    store = tmp_path / "runs"
    cfgs = sorted(load_spec(str(spec)).expand("paper", seeds=1), key=lambda c: c.method)
    runs = [Store(store).run_dir(c).path for c in cfgs]
    first = _popen(["run", str(spec), "--seeds", "1", "--store", str(store), "--jobs", "2",
                    "--checkpoint-every", "100"], tmp_path)
    for run in runs:
        _wait_for_step(run, 150, first)
    workers = {json.loads((run / "lock.json").read_text())["pid"] for run in runs}
    assert len(workers) == 2 and first.pid not in workers
    first.kill()
    first.wait()
    end = time.time() + 30
    while time.time() < end and any(_pid_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_pid_alive(pid) for pid in workers)
    states = [json.loads((run / "status.json").read_text()) for run in runs]
    assert all(s["state"] == "running" and s["step"] >= 100 for s in states)  # read as interrupted from now on
    again = CliRunner().invoke(main, ["run", str(spec), "--seeds", "1", "--store", str(store), "--dry-run"])
    assert "2 interrupted" in again.output, again.output


def test_a_zombie_holds_no_lock():
    """A process that exited but was not reaped yet (an orphaned worker whose new parent is slow to reap it) is
    gone: its lock is stale."""
    child = subprocess.Popen(["sleep", "0"])
    start = process_start(child.pid)
    end = time.time() + 10
    while time.time() < end and Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    try:
        assert not _pid_alive(child.pid, start)
    finally:
        child.wait()
    assert _pid_alive(os.getpid(), process_start(os.getpid()))
