"""Evaluate under hostile conditions, with real processes: kill -9 anywhere (finalisation included), two
evaluations of one run at once, quotes in paths and metric names, a full disk (a small tmpfs)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import leapscope as ls
from leapscope.store import Run, Workspace

pytestmark = pytest.mark.slow

SLOW = "import time\ntime.sleep(0.004)\nreturn subset.data['x'][sample_id]"
MANY = """
rng = np.random.default_rng(0)
x = rng.normal(size=(600, 4)).astype(np.float32)
y = rng.integers(0, 3, size=600)
data = {"x": x, "y": y}
return [ls.Subset("training", list(range(500)), data), ls.Subset("validation", list(range(500, 600)), data)]
"""
# a 512-wide hidden layer: the default latent space is (N, 512) float32 = 2 KB per sample
WIDE = """
import torch
torch.manual_seed(0)
return torch.nn.Sequential(torch.nn.Linear(4, 512), torch.nn.ReLU(), torch.nn.Linear(512, 3), torch.nn.Softmax(dim=1))
"""

# Runs the CLI with shutil.rmtree replaced: it deletes one file of parts/, then the process kills itself with
# SIGKILL; the exact state a kill -9 in the middle of removing parts/ leaves.
KILLED_IN_RMTREE = """
import os, shutil, signal, sys
def rmtree(path, *args, **kwargs):
    os.remove(os.path.join(path, sorted(os.listdir(path))[0]))
    os.kill(os.getpid(), signal.SIGKILL)
shutil.rmtree = rmtree
sys.argv = ["leapscope", *sys.argv[1:]]
from leapscope.cli import main
main()
"""


def _cmd(folder: Path, ws: Path, *extra: str, chunk: int = 50) -> list[str]:
    return [
        sys.executable,
        "-m",
        "leapscope",
        "evaluate",
        str(folder),
        "-w",
        str(ws),
        "--workers",
        "0",
        "--chunk-size",
        str(chunk),
        "--batch-size",
        "10",
        *extra,
    ]


def _run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def _assert_complete_once(ws: Path, n: int = 600) -> Run:
    runs = Workspace(ws).runs()
    assert len(runs) == 1, [(r.id, r.status) for r in runs]
    run = Workspace(ws).open_run(runs[0].id)
    assert run.status == "complete", run.row.error
    t = run.samples
    assert t.num_rows == n
    assert sorted(map(int, t["sample_id"].to_pylist())) == list(range(n))
    assert t["row"].to_pylist() == list(range(n))
    assert run.latent().shape[0] == n and not np.isnan(run.latent()).any()
    assert run.row.counts["samples"] == n and run.row.counts["failed"] == 0
    assert not (run.dir / "parts").exists() and not (run.dir / "progress.json").exists()
    assert not list(run.dir.rglob("*.tmp"))
    return run


@pytest.mark.parametrize("legacy", [False, True], ids=["committed", "no-commit-record"])
def test_kill_while_parts_are_removed_resumes_to_complete(make_integration, tmp_path, legacy):
    folder = make_integration(preprocess=MANY)
    ws = tmp_path / "ws"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_RMTREE, *_cmd(folder, ws)[3:]], capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = next((ws / "runs").iterdir())
    assert (run_dir / "samples.parquet").exists() and (run_dir / "parts").exists()
    if legacy:  # the state a kill left before commit records existed: merged files whole, parts/ half removed
        (run_dir / "committed.json").unlink()
    resumed = _run(_cmd(folder, ws))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {run_dir.name}" in resumed.stderr
    _assert_complete_once(ws)


def test_kill_at_random_points_always_resumes_to_complete(make_integration, tmp_path):
    """kill -9 at random moments: while chunks are written, and as soon as the merge has started."""
    folder = make_integration(preprocess=MANY, features=SLOW)
    rng = random.Random(11)
    states: list[list[str]] = []  # what each kill left in the run folder
    for trial in range(4):
        ws = tmp_path / f"ws{trial}"
        proc = subprocess.Popen(_cmd(folder, ws, chunk=10), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        in_merge = trial % 2 == 1  # odd trials: kill once the merged files or the commit appear
        wait_chunks = rng.randint(1, 50)
        while time.time() < deadline and proc.poll() is None:
            runs = list(ws.glob("runs/*"))
            # trial 1: while samples.parquet is written; trial 3: once it is in place (latent being written or committed)
            merge_marks = [".samples.parquet.*", "samples.parquet"] if trial == 1 else ["latent", "committed.json"]
            if runs and in_merge and any(list(runs[0].glob(mark)) for mark in merge_marks):
                break
            progress = runs[0] / "progress.json" if runs else None
            if not in_merge and progress is not None and progress.exists():
                with contextlib.suppress(ValueError, OSError):
                    if len(json.loads(progress.read_text())["chunks"]) >= wait_chunks:
                        break
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run_dir = next((ws / "runs").iterdir())
        states.append(sorted(p.name for p in run_dir.iterdir()))
        resumed = _run(_cmd(folder, ws, chunk=10))
        assert resumed.returncode == 0, (trial, resumed.stderr)
        _assert_complete_once(ws)
    print("states at kill:", states)


def test_two_resumes_at_once_one_waits_or_refuses_with_the_pid(make_integration, tmp_path):
    folder = make_integration(preprocess=MANY, features=SLOW)
    ws = tmp_path / "ws"
    proc = subprocess.Popen(_cmd(folder, ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(ws.glob("runs/*/progress.json")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = next((ws / "runs").iterdir()).name
    procs = [
        subprocess.Popen(
            _cmd(folder, ws, "--resume", run_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for rc, err in results:
        assert "Traceback" not in err, err
        assert rc == 0 or (rc == 2 and f"run {run_id} is being evaluated by pid " in err), err
    assert any(rc == 0 for rc, _ in results)
    print("concurrent resumes:", [(rc, err.strip().splitlines()[-2:] if rc else "") for rc, err in results])
    _assert_complete_once(ws)


def test_a_locked_run_names_the_pid_that_holds_it(make_integration, tmp_path):
    from leapscope.store import RunLock

    folder = make_integration()
    ws = tmp_path / "ws"
    first = ls.evaluate(folder, workspace=ws, workers=0, max_samples=5)
    Workspace(ws).catalog.update_run(first.id, status="running")  # as if it was killed
    with RunLock(first.dir):
        refused = _run(_cmd(folder, ws, "--resume", first.id))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert f"run {first.id} is being evaluated by pid {os.getpid()}" in " ".join(refused.stderr.split())
        # without --resume, the locked run is left alone: a new run is made
        other = ls.evaluate(folder, workspace=ws, workers=0, max_samples=5)
        assert other.id != first.id
    assert ls.evaluate(folder, workspace=ws, workers=0, resume=first.id).status == "complete"


def test_leftover_temp_files_are_removed_on_resume(make_integration, tmp_path):
    folder = make_integration(preprocess=MANY, features=SLOW)
    ws = tmp_path / "ws"
    proc = subprocess.Popen(_cmd(folder, ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(ws.glob("runs/*/progress.json")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = next((ws / "runs").iterdir())
    for leftover in (run_dir / "parts" / ".samples-000009.parquet.abc.tmp", run_dir / ".samples.parquet.x.tmp"):
        leftover.write_bytes(b"half written")
    assert _run(_cmd(folder, ws)).returncode == 0
    _assert_complete_once(ws)


def test_quotes_in_workspace_path_and_metric_names(make_integration, tmp_path):
    metric = 'acc = (label.argmax(1) == classes.argmax(1)).astype(np.float32)\nreturn {\'say "hi"\': acc, "it\'s": acc}'
    folder = make_integration(metric=metric)
    ws = tmp_path / 'it\'s a "workspace"'
    run = ls.evaluate(folder, workspace=ws, workers=0, chunk_size=8)
    assert run.status == "complete"
    summary = run.row.summary["training"]
    assert summary['metric_accuracy_say "hi"'] == summary["metric_accuracy_it's"] > 0
    got = run.sql('SELECT avg("metric_accuracy_say ""hi""") AS a FROM samples WHERE subset = ?', ["training"])
    assert got["a"][0].as_py() == pytest.approx(summary['metric_accuracy_say "hi"'])


# --- full disk ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    # a real small filesystem is the only honest full disk; CI runs as root, where mounting works
    assert mounted.returncode == 0, f"cannot mount a tmpfs at {path}: {mounted.stderr.decode().strip()}"
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def test_full_disk_at_the_merge_is_a_clear_error_and_the_run_resumes(make_integration, tmp_path):
    folder = make_integration(preprocess=MANY, model=WIDE)
    with _tmpfs(tmp_path / "small", "2m") as small:
        ws = small / "ws"
        full = _run(_cmd(folder, ws, chunk=100))
        assert full.returncode == 2, (full.returncode, full.stderr)  # not 135 (Bus error), not a traceback
        err = " ".join(full.stderr.split())
        assert "Traceback" not in err and "disk full: " in err and " MB needed at " in err and " MB free" in err
        assert str(ws / "runs") in err
        run_dir = next((ws / "runs").iterdir())
        assert not list(run_dir.rglob("*.tmp")) and len(list((run_dir / "parts").glob("samples-*"))) == 6
        assert Workspace(ws).open_run(run_dir.name).status == "running"  # resumable by the same command
        _remount(small, "20m")
        resumed = _run(_cmd(folder, ws, chunk=100))
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming run" in resumed.stderr
        _assert_complete_once(ws)


def test_full_disk_while_chunks_are_written(make_integration, tmp_path):
    folder = make_integration(preprocess=MANY, model=WIDE)
    with _tmpfs(tmp_path / "tiny", "600k") as tiny:
        full = _run(_cmd(folder, tiny / "ws", chunk=100))
        assert full.returncode == 2, (full.returncode, full.stderr)
        err = " ".join(full.stderr.split())
        assert "Traceback" not in err and "disk full: " in err and "MB free" in err


def test_no_space_during_the_latent_write_is_enospc_not_sigbus(tmp_path, monkeypatch):
    """Past the free-space check (another process filled the disk): the write fails with a DiskFullError, no SIGBUS."""
    import pyarrow as pa

    from leapscope.exceptions import DiskFullError
    from leapscope.store import RunWriter
    from leapscope.store import _writer as store_run

    with _tmpfs(tmp_path / "small", "3m") as small:
        writer = RunWriter(small / "run")
        for i in range(4):
            rows = pa.table({"row": np.arange(i * 100, (i + 1) * 100), "error": pa.nulls(100, pa.string())})
            writer.write_chunk(i, rows, {"z": np.ones((100, 1024), np.float32)}, None, {})  # 400 KB each
        monkeypatch.setattr(store_run, "ensure_free", lambda path, needed: None)
        with pytest.raises(DiskFullError, match=r"disk full: .* MB needed at .*latent, .* MB free"):
            writer.finalize(4, ["z"])
        assert not list(small.rglob("*.tmp")) and len(list(writer.parts.iterdir())) == 8
        _remount(small, "10m")
        assert writer.finalize(4, ["z"])["rows"] == 400
        assert np.load(small / "run" / "latent" / "z.npy").shape == (400, 1024)
