"""One process trains one run: an exclusive lock file per run, safe on a shared file system.

The lock (`lock.json` in the run folder) is created with O_CREAT | O_EXCL, which is atomic on local file systems
and on NFS v3+, so two processes (local, or Slurm tasks on other nodes) never both get it. It records host, pid, the
process's start time, a random token and a heartbeat that a background thread refreshes every HEARTBEAT_S seconds
with the live step.

Staleness, the one rule (`is_stale`):
- a lock of this host is stale exactly when its process is gone (its pid is not alive, is a zombie that exited
  but was not reaped yet, or is alive with another start time: a reused pid). A live process on this host never
  loses its lock, however long it was stopped;
- a lock of another host is stale when its heartbeat is older than `stale_after()` seconds;
- an unreadable lock (empty, cut short, not JSON) is stale once it is older than UNREADABLE_GRACE seconds (a writer
  is never that slow); before that it blocks the run, and says so.
Breaking a stale lock is guarded by an O_EXCL `lock.json.break` file, and the staleness is re-checked under it, so
two processes cannot both break it; the holder's heartbeat rewrites the lock under the same file, so a takeover is
never overwritten by a late heartbeat. A holder checks that the lock is still its own before every write of its run
(`RunLock.ensure`): a process that lost it stops at once (`LockLost`) and writes nothing more.
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

from ignbench.core.errors import UserError

HEARTBEAT_S = 5.0
STALE_AFTER_S = 120.0
BREAKER_STALE_S = 30.0
UNREADABLE_GRACE = 10.0


class LockLost(UserError):
    """This process no longer holds the lock of a run it was working on: another process took the run over."""


def stale_after() -> float:
    return float(os.environ.get("IGNBENCH_LOCK_STALE_S", STALE_AFTER_S))


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock's record, or None when there is no lock or it cannot be read (see `unreadable_age`)."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError):
        return None
    return record if isinstance(record, dict) else None


def unreadable_age(path: Path) -> float | None:
    """Seconds since an existing but unreadable lock file was written; None when the lock is absent or readable."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    return None if read_lock(path) is not None else age


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name, from field 3 (state) on ([] where /proc cannot tell)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_start(pid: int) -> str:
    """The start time of a process of this host, as the kernel counts it ('' where /proc cannot tell)."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat(5): starttime


def _zombie(pid: int) -> bool:
    """A process that has exited but was not yet reaped (an orphan whose new parent is slow to reap it)."""
    return _stat_fields(pid)[:1] == ["Z"]


def _pid_alive(pid: int, start: str = "") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _zombie(pid):
        return False
    return not start or not process_start(pid) or process_start(pid) == start


def is_stale(record: dict[str, Any], now: float | None = None) -> bool:
    """The staleness rule (module docstring) for a readable lock record."""
    if record.get("host") == socket.gethostname():
        return not _pid_alive(int(record.get("pid", -1)), str(record.get("start", "")))
    now = time.time() if now is None else now
    return now - float(record.get("heartbeat", 0.0)) > stale_after()


def holder(record: dict[str, Any] | None) -> str:
    return f"{record.get('host')}:{record.get('pid')}" if record else "an unreadable lock"


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
    """Exclusive lock on one run folder. `acquire()` returns False when a live process holds it (or an unreadable
    lock younger than UNREADABLE_GRACE does: `blocked_by` says which)."""

    def __init__(self, run_path: Path):
        self.path = run_path / "lock.json"
        self.token = uuid.uuid4().hex
        self.step = 0
        self.took_over: dict[str, Any] | None = None
        self.blocked_by = ""
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        now = time.time()
        return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid()),
                "token": self.token, "started": now, "heartbeat": now, "step": self.step}

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if _write_exclusive(self.path, self._record()):
                self._start_heartbeat()
                return True
            held = read_lock(self.path)
            if held is None:
                age = unreadable_age(self.path)
                if age is None or age < UNREADABLE_GRACE:  # gone between our two looks, or still being written
                    self.blocked_by = f"{self.path} (unreadable)" if age is not None else ""
                    time.sleep(0.05)
                    continue
                if not self._break_stale(None):
                    return False
                continue
            self.blocked_by = f"{holder(held)} ({self.path})"
            if not is_stale(held) or not self._break_stale(held):
                return False
        return False

    def _break_stale(self, seen: dict[str, Any] | None) -> bool:
        """Remove a stale (or long unreadable) lock, under the breaker file, if it is still the one we judged."""
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
            if seen is None:
                still = current is None and (unreadable_age(self.path) or 0.0) >= UNREADABLE_GRACE
            else:
                still = current is not None and current.get("token") == seen.get("token") and is_stale(current)
            if still:
                self.path.unlink(missing_ok=True)
                self.took_over = current or {"unreadable": str(self.path)}
                return True
            return current is None and not self.path.exists()
        finally:
            breaker.unlink(missing_ok=True)

    def owned(self) -> bool:
        held = read_lock(self.path)
        return held is not None and held.get("token") == self.token

    def ensure(self) -> None:
        """Before a write of the run: raise LockLost (one line) if the lock is no longer this process's."""
        if self.lost or not self.owned():
            self.lost = True
            now = holder(read_lock(self.path)) if self.path.exists() else "nobody"
            raise LockLost(f"{self.path.parent}: this process lost the run's lock (now held by {now}); it stopped "
                           "without writing anything more")

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self.lost = False
        self._thread = threading.Thread(target=self._beat_loop, name=f"heartbeat {self.path.parent.name}",
                                        daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()

    def beat(self) -> None:
        """Refresh the heartbeat (and live step) if the lock is still ours; note it when it is not. The read and the
        rewrite happen under the breaker file, so a breaker's takeover is never overwritten by a late heartbeat;
        while someone else holds the breaker, this beat is skipped."""
        breaker = self.path.with_name(self.path.name + ".break")
        if not _write_exclusive(breaker, {"token": self.token, "heartbeat": True}):
            return
        try:
            held = read_lock(self.path)
            if held is None or held.get("token") != self.token:
                self.lost = self.lost or (held is not None or not self.path.exists())
                return
            held.update(heartbeat=time.time(), step=self.step)
            tmp = self.path.with_name(f".{self.path.name}.{self.token}")
            tmp.write_text(json.dumps(held))
            os.replace(tmp, self.path)
        finally:
            breaker.unlink(missing_ok=True)

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
