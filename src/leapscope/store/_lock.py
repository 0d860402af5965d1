"""One evaluation per run: an exclusive file lock in the run folder, with the holder's pid next to it.

The lock is an OS lock (``flock`` through the ``filelock`` package) on
``runs/<id>/evaluate.lock``: it is released by the kernel when its process dies,
even by ``kill -9``, so a killed run never stays locked. ``evaluate.pid`` names the
holder for the message another process gets.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from leapscope.exceptions import StoreError

__all__ = ["LOCK_FILE", "PID_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = "evaluate.lock"
PID_FILE = "evaluate.pid"


class RunLockedError(StoreError):
    """Another process is evaluating this run (it holds ``evaluate.lock``); attribute ``pid``."""

    def __init__(self, message: str, *, pid: int | None):
        super().__init__(message)
        self.pid = pid


class RunLock:
    """The exclusive lock of the run folder ``directory`` (created when missing).

    Use :meth:`acquire` / :meth:`release` or ``with RunLock(d):``. Acquiring never
    waits: it raises :class:`RunLockedError` ("run RID is being evaluated by pid N").
    """

    def __init__(self, directory: Path):
        self.dir = directory
        self.path = directory / LOCK_FILE
        self.pid_path = directory / PID_FILE
        self._lock: FileLock | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock is not None and self._lock.is_locked

    def holder(self) -> int | None:
        """The pid written by the current (or last) holder, if readable."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def acquire(self) -> RunLock:
        """Take the lock now and write this process's pid. Raises :class:`RunLockedError`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path, timeout=0, thread_local=False, is_singleton=False)
        try:
            lock.acquire()
        except Timeout:
            pid = self.holder()
            who = f"pid {pid}" if pid else "another process"
            raise RunLockedError(
                f"run {self.dir.name} is being evaluated by {who} (lock {self.path}); fix: wait until it finishes "
                "(`leapscope runs` shows its status) or stop that process, then resume the run again",
                pid=pid,
            ) from None
        self._lock = lock
        self.pid_path.write_text(f"{os.getpid()}\n")
        return self

    def is_free(self) -> bool:
        """True when no process holds the lock (checked by taking and releasing it at once)."""
        if self.held:
            return False
        if not self.path.exists():
            return True
        try:
            self.acquire()
        except RunLockedError:
            return False
        self.release()
        return True

    def release(self) -> None:
        """Release the lock (and remove the pid file) if this object holds it."""
        if self._lock is None:
            return
        self.pid_path.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
