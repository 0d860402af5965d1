"""Encoding workers never outlive the evaluating process (kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

assert sys.platform.startswith("linux"), "these tests read /proc and use fork"

# enough slow samples that the evaluation is still encoding when it is killed
SLOW = {
    "preprocess": """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=20000)
    data = {"x": x, "y": y}
    return [ls.Subset("training", list(range(15000)), data), ls.Subset("validation", list(range(15000, 20000)), data)]
""",
    "features": """
    import time
    time.sleep(0.005)
    return subset.data['x'][sample_id]
""",
}


def _children(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return found
    return [c.pid for c in psutil.Process(pid).children()]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = [p for p in pids if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _alive(p)]
    return alive


def _kill_all(pids: list[int]) -> None:
    for pid in pids:  # only processes this test started
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_workers_exit_when_evaluate_is_killed(make_integration, tmp_path):
    folder = make_integration(**SLOW)
    ws = tmp_path / "ws"
    log = tmp_path / "evaluate.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leapscope",
                "evaluate",
                str(folder),
                "--workspace",
                str(ws),
                "--workers",
                "2",
                "--batch-size",
                "8",
                "--chunk-size",
                "64",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:  # running: manifest written, chunks being encoded
            if list(ws.glob("runs/*/parts/samples-*.parquet")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()[-3000:]
        assert list(ws.glob("runs/*/parts/samples-*.parquet")), "the evaluation did not start in 180 s"
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        left = _wait_gone(workers, 5.0)
        assert not left, f"workers {left} outlived the killed evaluate (pid {proc.pid})"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        _kill_all(workers)


FALLBACK = textwrap.dedent("""
    import os, sys, time
    from leapscope import _process
    _process._set_pdeathsig = lambda sig: False  # as on a platform without prctl
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        mode = _process.die_with_parent(parent, interval=0.1)
        print(mode, flush=True)
        time.sleep(60)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(60)
""")


def test_the_polling_fallback_ends_the_child_too(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", FALLBACK], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert proc.stdout is not None
        lines = {proc.stdout.readline().strip() for _ in range(2)}
        assert "poll" in lines, lines
        child = int(next(line for line in lines if line.isdigit()))
        assert _alive(child)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert not _wait_gone([child], 5.0), f"child {child} outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if child:
            _kill_all([child])
