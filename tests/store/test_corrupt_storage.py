"""Damaged workspace files give one readable error (exit 2) naming the file and the fix, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import leapscope as ls
from leapscope.exceptions import CorruptStorageError
from leapscope.store import Workspace
from tests.conftest import BASE, DEFAULTS, _indent


@pytest.fixture(scope="module")
def good_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("corrupt")
    folder = root / "integration"
    folder.mkdir()
    slots = {k: (_indent(v) if k != "extra" else textwrap.dedent(v)) for k, v in DEFAULTS.items()}
    (folder / "integration.py").write_text(BASE.format(**slots))
    run = ls.evaluate(folder, workspace=root / "ws", workers=0, chunk_size=16)
    return root / "ws", run.id


@pytest.fixture
def damaged(
    good_workspace: tuple[Path, str], tmp_path: Path
) -> Callable[[Callable[[Path, Path], None]], tuple[Path, str]]:
    """Copy the good workspace and apply ``damage(workspace, run_dir)`` to the copy."""

    def make(damage: Callable[[Path, Path], None]) -> tuple[Path, str]:
        ws, run_id = good_workspace
        copy = tmp_path / "ws"
        shutil.copytree(ws, copy)
        for extra in copy.glob("catalog.sqlite-*"):  # WAL files: the catalog is checkpointed on close
            extra.unlink()
        damage(copy, copy / "runs" / run_id)
        return copy, run_id

    return make


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("LEAPSCOPE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "leapscope", *args], capture_output=True, text=True, timeout=300, env=env
    )


def _assert_readable(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "CorruptStorageError" in err, result.stderr
    for needle in needles:
        assert needle in err, (needle, err)
    assert "fix: " in err
    return err


def _truncate(path: Path, size: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:size])


@pytest.mark.slow
def test_garbage_catalog(damaged):
    ws, _ = damaged(lambda ws, run: (ws / "catalog.sqlite").write_bytes(os.urandom(4096)))
    _assert_readable(_cli("runs", "-w", str(ws)), str(ws / "catalog.sqlite"), "not a database", "1 run folder")


@pytest.mark.slow
def test_malformed_catalog_pages(damaged):
    def damage(ws: Path, run: Path) -> None:
        with open(ws / "catalog.sqlite", "r+b") as f:
            f.seek(4096)
            f.write(b"\xff" * 8192)

    ws, _ = damaged(damage)
    _assert_readable(_cli("runs", "-w", str(ws)), "catalog.sqlite", "malformed")


@pytest.mark.parametrize("state", ["empty", "missing"])
@pytest.mark.slow
def test_empty_or_missing_catalog_next_to_runs_is_not_an_empty_workspace(damaged, state):
    def damage(ws: Path, run: Path) -> None:
        if state == "empty":
            (ws / "catalog.sqlite").write_bytes(b"")
        else:
            (ws / "catalog.sqlite").unlink()

    ws, _ = damaged(damage)
    err = _assert_readable(
        _cli("runs", "-w", str(ws)),
        "catalog.sqlite",
        "1 run folder(s) exist",
        "empty" if state == "empty" else "missing",
    )
    assert "backup" in err
    with pytest.raises(CorruptStorageError):
        Workspace(ws)


def test_a_new_workspace_still_starts_empty(tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"")  # 0 bytes and no runs: nothing lost
    assert Workspace(tmp_path).runs() == []


@pytest.mark.slow
def test_truncated_samples(damaged):
    ws, run_id = damaged(lambda ws, run: _truncate(run / "samples.parquet", 300))
    _assert_readable(_cli("analyze", run_id, "-w", str(ws)), "samples.parquet", "not a readable Parquet file")
    with pytest.raises(CorruptStorageError, match=r"samples\.parquet"):
        Workspace(ws).open_run(run_id).samples  # noqa: B018


@pytest.mark.slow
def test_garbage_samples(damaged):
    ws, run_id = damaged(lambda ws, run: (run / "samples.parquet").write_bytes(b"PAR1" + os.urandom(2000)))
    _assert_readable(_cli("test", run_id, "-w", str(ws), "--metric", "accuracy", "--min", "0"), "samples.parquet")


@pytest.mark.slow
def test_short_latent(damaged):
    def damage(ws: Path, run: Path) -> None:
        _truncate(next((run / "latent").glob("*.npy")), 200)

    ws, run_id = damaged(damage)
    _assert_readable(_cli("analyze", run_id, "-w", str(ws)), "latent", ".npy", "mmap length is greater than file size")


def test_latent_with_the_wrong_row_count(damaged):
    import numpy as np

    def damage(ws: Path, run: Path) -> None:
        path = next((run / "latent").glob("*.npy"))
        np.save(path, np.load(path)[:-3])

    ws, run_id = damaged(damage)
    with pytest.raises(CorruptStorageError, match=r"has 37 rows but samples.parquet has 40"):
        Workspace(ws).open_run(run_id).latent()


@pytest.mark.slow
def test_invalid_manifest(damaged):
    ws, run_id = damaged(lambda ws, run: (run / "manifest.json").write_text('{"run_id": '))
    _assert_readable(_cli("analyze", run_id, "-w", str(ws)), "manifest.json", "not valid JSON")


def test_a_corrupt_errors_file(damaged):
    ws, run_id = damaged(lambda ws, run: (run / "errors.parquet").write_bytes(b"nonsense"))
    with pytest.raises(CorruptStorageError, match=r"errors\.parquet"):
        Workspace(ws).open_run(run_id).errors  # noqa: B018


@pytest.mark.parametrize("damage", ["garbage", "empty", "missing"])
@pytest.mark.slow
def test_the_catalog_is_rebuilt_from_the_run_folders(damaged, good_workspace, damage):
    def apply(ws: Path, run: Path) -> None:
        catalog = ws / "catalog.sqlite"
        if damage == "missing":
            catalog.unlink()
        else:
            catalog.write_bytes(os.urandom(4096) if damage == "garbage" else b"")

    ws, run_id = damaged(apply)
    err = _assert_readable(_cli("runs", "-w", str(ws)), "python -m leapscope.store.recover")
    assert str(ws) in err
    recovered = subprocess.run(
        [sys.executable, "-m", "leapscope.store.recover", str(ws)], capture_output=True, text=True, timeout=120
    )
    assert recovered.returncode == 0, recovered.stderr
    assert f"{run_id}  complete" in recovered.stdout
    if damage != "missing":
        assert list(ws.glob("catalog.sqlite.broken-*"))
    original = Workspace(good_workspace[0]).open_run(run_id)
    run = Workspace(ws).open_run(run_id)
    assert (run.status, run.row.project, run.row.version) == ("complete", original.row.project, original.row.version)
    assert run.row.counts == original.row.counts
    for subset, values in original.row.summary.items():
        assert run.row.summary[subset] == pytest.approx(values)
    assert run.row.config == original.row.config
    listed = _cli("runs", "-w", str(ws))
    assert listed.returncode == 0 and run_id[:10] in listed.stdout
