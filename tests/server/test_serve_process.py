"""A real `leapscope serve` process (issue 11, items 2 and 13): --allow-host, and no process left behind
after SIGTERM or kill -9 (the analysis and visuals workers and multiprocessing's resource tracker)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server._odd_run import make_odd_run

# the process tree is read from /proc: leapscope's server (prctl PDEATHSIG workers) is Linux-first
assert Path("/proc/self/stat").exists(), "these tests read the process tree from /proc (Linux)"


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _get(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    path, run_id = make_odd_run(tmp_path_factory.mktemp("serve"))
    return str(path), run_id


def _serve(workspace: str, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    # output to a file, not a pipe: a leftover worker holding the pipe open would block reading it
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leapscope", "serve", "--workspace", workspace, "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if _get(port, "/api/v1/health")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("serve did not answer /api/v1/health within 90 s")


def _start_workers(port: int, run_id: str) -> None:
    """Make both worker pools start a process: a visual (visuals worker); the analysis worker warms at start."""
    status, body = _get(port, f"/api/v1/runs/{run_id}/samples/training/s1/visuals/bars")
    assert status == 200, body[:300]


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.time() + seconds
    while (left := [p for p in pids if _alive(p)]) and time.time() < deadline:
        time.sleep(0.1)
    return left


def _reap(proc: subprocess.Popen[bytes], pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@pytest.mark.slow
def test_allow_host_option(odd_run, tmp_path):
    proc, port = _serve(
        odd_run[0], tmp_path / "serve.log", "--allow-host", "lab.example", "--allow-host", "other.example"
    )
    try:
        assert _get(port, "/api/v1/runs", host=f"lab.example:{port}")[0] == 200
        assert _get(port, "/api/v1/runs", host="other.example")[0] == 200
        assert _get(port, "/api/v1/runs", host=f"127.0.0.1:{port}")[0] == 200
        status, body = _get(port, "/api/v1/runs", host="evil.example")
        assert status == 421 and b"--allow-host" in body
    finally:
        _reap(proc, _descendants(proc.pid))


@pytest.mark.slow
def test_sigterm_stops_serve_and_every_child(odd_run, tmp_path):
    proc, port = _serve(odd_run[0], tmp_path / "serve.log")
    _start_workers(port, odd_run[1])
    children = _descendants(proc.pid)
    try:
        assert len(children) >= 3, children  # analysis worker, visuals worker, resource tracker
        start = time.time()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "serve.log").read_text(errors="replace")[-2000:]
        left = _wait_gone(children, 5)
        assert not left, f"still alive {time.time() - start:.1f} s after SIGTERM: {left}"
    finally:
        _reap(proc, children)


@pytest.mark.slow
def test_kill_9_of_serve_leaves_no_worker(odd_run, tmp_path):
    proc, port = _serve(odd_run[0], tmp_path / "serve.log")
    _start_workers(port, odd_run[1])
    children = _descendants(proc.pid)
    try:
        assert len(children) >= 3, children
        proc.kill()
        proc.wait(10)
        left = _wait_gone(children, 5)
        assert not left, f"workers outlived kill -9 of serve: {left}"
    finally:
        _reap(proc, children)
