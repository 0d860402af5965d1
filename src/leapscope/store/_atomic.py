"""Atomic, durable file writes: write a temp file in the same folder, fsync, rename.

A reader (the server) never sees a half-written artifact: it sees the old file or
the new one. A write that runs out of space raises :class:`DiskFullError` (with the
free space) instead of a bare ``OSError``; the temp file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leapscope.exceptions import DiskFullError

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "disk_full_error",
    "ensure_free",
    "free_bytes",
    "fsync_dir",
    "is_disk_full",
    "remove_temp_files",
    "write_json",
]

TEMP_SUFFIX = ".tmp"
#: head room kept free beyond the bytes a write needs (the catalog's WAL, file system metadata)
MARGIN = 256 * 1024


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def disk_full_error(path: Path, needed: int | None, cause: BaseException | None = None) -> DiskFullError:
    """A :class:`DiskFullError` saying how much is needed at ``path`` and how much is free."""
    free = free_bytes(path)
    need = f"{_mb(needed)} MB needed" if needed is not None else "not enough space"
    why = f" ({cause})" if cause is not None else ""
    return DiskFullError(
        f"disk full: {need} at {path}, {_mb(free)} MB free{why}; fix: free space on that disk (or use a workspace on "
        "another disk with --workspace), then run the same command again to resume",
        path=path,
        needed=needed,
        free=free,
    )


def ensure_free(path: Path, needed: int) -> None:
    """Raise :class:`DiskFullError` unless ``needed`` bytes (plus a margin) are free at ``path``."""
    if free_bytes(path) < needed + MARGIN:
        raise disk_full_error(path, needed + MARGIN)


def is_disk_full(exc: BaseException) -> bool:
    """True for an out-of-space error (``ENOSPC``/``EDQUOT``, or Arrow's short-write message)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return isinstance(exc, OSError) and (("requested and" in text and "written" in text) or "No space left" in text)


@contextlib.contextmanager
def atomic_path(target: Path, *, sync: bool = True, sync_dir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success fsync it and rename it over ``target``.

    ``sync=False`` skips both fsyncs (the caller verifies the file's content before relying on it:
    see :meth:`leapscope.store.RunWriter.write_chunk`); ``sync_dir=False`` skips only the folder's
    (after a crash a reader then sees the old file or the new one, both whole).
    Raises :class:`DiskFullError` when the file system runs out of space (nothing is left behind).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if sync:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, target)
        if sync and sync_dir:
            fsync_dir(target.parent)
    except OSError as exc:
        if is_disk_full(exc):
            tmp_path.unlink(missing_ok=True)
            raise disk_full_error(target.parent, None, exc) from exc
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete leftover ``.<name>.*.tmp`` files of interrupted atomic writes under ``folder``; returns them."""
    removed = []
    if folder.is_dir():
        for path in folder.rglob(f".*{TEMP_SUFFIX}"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_json(target: Path, data: Any, *, sync_dir: bool = True) -> None:
    """Write ``data`` as indented JSON, atomically (``sync_dir``: see :func:`atomic_path`)."""
    with atomic_path(target, sync_dir=sync_dir) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))
