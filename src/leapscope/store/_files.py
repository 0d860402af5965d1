"""Reading run files: every damaged file is a :class:`CorruptStorageError` naming it and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.exceptions import CorruptStorageError
from leapscope.store._atomic import is_disk_full

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["corrupt_error", "load_npy", "read_json_file", "read_parquet"]


def corrupt_error(path: Path, what: str, exc: BaseException, fix: str) -> CorruptStorageError:
    """The error for a damaged ``path``: what it is not, the first line of ``exc``, and ``fix``."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CorruptStorageError(f"{path} is {what} ({type(exc).__name__}: {reason}); fix: {fix}", path=path)


def read_json_file(path: Path, fix: str) -> Any:
    """The JSON content of ``path``; :class:`CorruptStorageError` naming the file when it is not valid JSON."""
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise corrupt_error(path, "not valid JSON (damaged or truncated)", exc, fix) from exc


def load_npy(path: Path, *, mmap: bool, fix: str) -> np.ndarray:
    """``np.load`` of a 2-D array; :class:`CorruptStorageError` when the file is truncated or not a .npy."""
    try:
        array: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if is_disk_full(exc) or isinstance(exc, FileNotFoundError):
            raise
        raise corrupt_error(path, "not a readable .npy array (damaged or truncated)", exc, fix) from exc
    if array.ndim != 2:
        raise CorruptStorageError(f"{path} holds a {array.ndim}-D array, expected (N, D); fix: {fix}", path=path)
    return array


def read_parquet(path: Path, columns: list[str] | None = None, fix: str | None = None) -> pa.Table:
    """``pq.read_table(path)``; :class:`CorruptStorageError` naming the file when it is not valid Parquet.

    A missing file stays a :class:`FileNotFoundError`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise corrupt_error(
            path,
            "not a readable Parquet file (damaged or truncated)",
            exc,
            fix or "restore it from a backup, or evaluate the model version again to make a new run",
        ) from exc
