"""One process trains one run: an exclusive lock file per run, safe on a shared file system.

The lock (`lock.json` in the run folder) is created with O_CREAT | O_EXCL, which is atomic on local file systems
and on NFS v3+, so two processes (local, or Slurm tasks on other nodes) never both get it. It records host, pid, a
random token and a heartbeat that a background thread refreshes every HEARTBEAT_S seconds with the live step.

A lock is stale when its heartbeat is older than `stale_after()` seconds, or at once when its host is this host and
its pid is gone (kill -9). Breaking a stale lock is itself guarded by an O_EXCL `lock.json.break` file, and the
staleness is re-checked under it, so two processes cannot both break it and both take over.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HEARTBEAT_S = 5.0
STALE_AFTER_S = 120.0
BREAKER_STALE_S = 30.0


def stale_after() -> float:
    return float(os.environ.get("IGNBENCH_LOCK_STALE_S", STALE_AFTER_S))


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock's record, or None when there is no lock (or it vanished / is being written)."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(record: dict[str, Any], now: float | None = None) -> bool:
    now = time.time() if now is None else now
    if record.get("host") == socket.gethostname() and not _pid_alive(int(record.get("pid", -1))):
        return True
    return now - float(record.get("heartbeat", 0.0)) > stale_after()


def _write_exclusive(path: Path, record: dict[str, Any]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return True


class RunLock:
    """Exclusive lock on one run folder. `acquire()` returns False when a live process holds it."""

    def __init__(self, run_path: Path):
        self.path = run_path / "lock.json"
        self.token = uuid.uuid4().hex
        self.step = 0
        self.took_over: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        now = time.time()
        return {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "started": now,
                "heartbeat": now, "step": self.step}

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if _write_exclusive(self.path, self._record()):
                self._start_heartbeat()
                return True
            held = read_lock(self.path)
            if held is None:  # vanished between our two calls, or a writer is mid-write: look again
                time.sleep(0.05)
                continue
            if not is_stale(held) or not self._break_stale(held):
                return False
        return False

    def _break_stale(self, seen: dict[str, Any]) -> bool:
        """Remove a stale lock, under the breaker file, if it is still the one we judged stale."""
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            if time.time() - breaker.stat().st_mtime > BREAKER_STALE_S:
                breaker.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        if not _write_exclusive(breaker, {"token": self.token}):
            return False
        try:
            current = read_lock(self.path)
            if current is not None and current.get("token") == seen.get("token") and is_stale(current):
                self.path.unlink(missing_ok=True)
                self.took_over = current
                return True
            return current is None
        finally:
            breaker.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat_loop, name=f"heartbeat {self.path.parent.name}",
                                        daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()

    def beat(self) -> None:
        """Refresh the heartbeat (and live step) if the lock is still ours."""
        held = read_lock(self.path)
        if held is None or held.get("token") != self.token:
            return
        held.update(heartbeat=time.time(), step=self.step)
        tmp = self.path.with_name(f".{self.path.name}.{self.token}")
        tmp.write_text(json.dumps(held))
        os.replace(tmp, self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        held = read_lock(self.path)
        if held is not None and held.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
