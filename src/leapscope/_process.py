"""Child processes that never outlive their parent.

Call :func:`die_with_parent` first thing in a worker process (a pool's
``initializer``). On Linux the kernel signals the worker when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), even after ``kill -9`` of the parent; elsewhere (or
where ``prctl`` is refused) a daemon thread polls ``os.getppid()``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

#: from <linux/prctl.h>
PR_SET_PDEATHSIG = 1
#: how often the fallback thread checks that the parent is alive, in seconds
POLL_SECONDS = 0.5


def _set_pdeathsig(sig: int) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent exits. True if it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _exit_now(sig: int) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + int(sig))  # pragma: no cover - only if the signal did not end the process


def _watch_parent(parent_pid: int, sig: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            _exit_now(sig)
        time.sleep(interval)


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGTERM, *, interval: float = POLL_SECONDS) -> str:
    """Make the calling process exit (by ``sig``, default SIGTERM) when its parent process dies.

    Parameters
    ----------
    parent_pid : int, optional
        The pid of the parent as the parent saw it before starting this process
        (pass ``os.getpid()`` of the parent through the pool's ``initargs``); if the
        parent already died before this call, the process exits at once. Default:
        ``os.getppid()`` now (the race with an early parent death stays open then).
    sig : int, default SIGTERM
        The signal that ends this process. Called in the main thread, its handler
        is reset to the default, so a handler inherited from a forked parent cannot
        keep the worker alive.
    interval : float, default 0.5
        Seconds between checks of the fallback thread.

    Returns
    -------
    str
        ``"prctl"`` (Linux: the kernel sends ``sig``) or ``"poll"`` (a daemon thread
        checks ``os.getppid()`` every ``interval`` seconds and sends ``sig`` to this process).

    Notes
    -----
    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked this process ends, so
    start such workers from a thread that lives as long as the pool (the main
    thread, or the one that shuts the pool down).
    """
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(sig, signal.SIG_DFL)
    mode = "prctl" if _set_pdeathsig(sig) else "poll"
    if os.getppid() != parent:  # the parent died before prctl took effect: nobody would signal us
        _exit_now(sig)
    if mode == "poll":
        threading.Thread(
            target=_watch_parent, args=(parent, sig, interval), name="leapscope-parent-watch", daemon=True
        ).start()
    return mode
