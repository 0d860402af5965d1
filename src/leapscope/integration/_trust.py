"""Which integration folders this user lets leapscope import without being asked again.

A run's manifest names its integration's folder, and showing a sample's visuals, explaining it
or writing a report imports that folder's code again. A workspace is a set of files anyone can
edit or send, so the manifest alone must never decide which code runs: a tampered ``entry``
could point at any file. Like direnv's ``allow`` list or VS Code's workspace trust, leapscope
keeps, per user and outside every workspace, the folders whose code the user ran on purpose
(``leapscope check`` / ``evaluate`` / ``api.load_integration``); code is imported for a run only
from one of those folders (:func:`require_trusted`). An edited file inside a trusted folder is
still trusted: its owner edits it.

The list is a JSON file: ``$LEAPSCOPE_TRUST_FILE``, else ``$XDG_CONFIG_HOME/leapscope/`` (default
``~/.config/leapscope/``) ``trusted-integrations.json``. Where that cannot be written (a read-only or
missing home, as in some sandboxes and CI jobs), folders are recorded in
``<tempdir>/leapscope-<uid>/trusted-integrations.json`` instead, which is read only while it and
its folder belong to this user and nobody else can write to them (as ssh treats its files).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from pathlib import Path

from filelock import FileLock

from leapscope.exceptions import UntrustedIntegrationError

__all__ = [
    "TRUST_FILE_ENV",
    "fallback_trust_file",
    "folder_of",
    "is_trusted",
    "record_trusted",
    "require_trusted",
    "trust_file",
]

logger = logging.getLogger(__name__)

#: environment variable naming the trust file (tests and CI point it at a temporary file)
TRUST_FILE_ENV = "LEAPSCOPE_TRUST_FILE"


def trust_file() -> Path:
    """The JSON file listing the trusted integration folders (see the module docstring)."""
    named = os.environ.get(TRUST_FILE_ENV)
    if named:
        return Path(named).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "leapscope" / "trusted-integrations.json"


def fallback_trust_file() -> Path:
    """Where folders are recorded when :func:`trust_file` cannot be written (see the module docstring)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"leapscope-{uid}" / "trusted-integrations.json"


def _owned(path: Path) -> bool:
    """Whether ``path`` exists, is no link, belongs to this user, and no one else can write to it."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or info.st_uid == os.getuid()


def _private(file: Path) -> bool:
    """Whether ``file`` and its folder are :func:`_owned` by this user alone."""
    return _owned(file.parent) and _owned(file)


def _files() -> list[Path]:
    """The trust files to read: :func:`trust_file`, and the fallback when it is private to this user."""
    files = [trust_file()]
    fallback = fallback_trust_file()
    if not os.environ.get(TRUST_FILE_ENV) and _private(fallback):
        files.append(fallback)
    return files


def folder_of(path: str | Path) -> Path:
    """The integration folder of ``path`` (a folder, or an entry ``.py`` file), absolute and resolved."""
    resolved = Path(path).expanduser().resolve()
    return resolved.parent if resolved.is_file() else resolved


def _read(file: Path) -> set[str]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the unreadable trust file %s (%s)", file, exc)
        return set()
    folders = data.get("folders") if isinstance(data, dict) else None
    return {f for f in folders if isinstance(f, str)} if isinstance(folders, list) else set()


def record_trusted(path: str | Path) -> None:
    """Add the integration folder of ``path`` to the trust file (the user runs its code on purpose).

    A trust file that cannot be written (a read-only or missing home) is replaced by
    :func:`fallback_trust_file`; when neither can be written it costs a warning, and this user's
    runs then cannot re-import the integration until one can.
    """
    folder, file = str(folder_of(path)), trust_file()
    try:
        _record(folder, file)
    except OSError as exc:
        fallback = fallback_trust_file()
        if os.environ.get(TRUST_FILE_ENV):  # a named file is the only one: say it could not be written
            logger.warning("could not record %s as trusted in %s (%s)", folder, file, exc)
            return
        try:
            fallback.parent.mkdir(mode=0o700, exist_ok=True)
            if not _owned(fallback.parent):
                raise OSError(f"{fallback.parent} is not private to this user")
            _record(folder, fallback)
            os.chmod(fallback, 0o600)
        except OSError as second:
            logger.warning(
                "could not record %s as trusted in %s (%s) nor in %s (%s)", folder, file, exc, fallback, second
            )


def _record(folder: str, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(file) + ".lock", timeout=30):
        folders = _read(file)
        if folder in folders:
            return
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"folders": sorted(folders | {folder})}, indent=1), encoding="utf-8")
        os.replace(tmp, file)


def is_trusted(path: str | Path) -> bool:
    """Whether the integration folder of ``path`` is in the trust file (exactly that folder, never a parent)."""
    folder = str(folder_of(path))
    return any(folder in _read(file) for file in _files())


def require_trusted(path: str | Path, *, run_id: str) -> None:
    """Refuse to import the integration at ``path`` that run ``run_id`` names, unless its folder is trusted.

    Raises
    ------
    UntrustedIntegrationError
        The folder is not in :func:`trust_file`: it was never checked or evaluated by this user here
        (a workspace from elsewhere, or a manifest edited to point at other code).
    """
    if is_trusted(path):
        return
    folder = folder_of(path)
    raise UntrustedIntegrationError(
        f"run {run_id} names the integration folder {folder}, which you have not checked or evaluated on this "
        "machine, so leapscope does not import its code (a workspace's files must not decide which code runs); "
        f"fix: read that code, then run `leapscope check {folder}` once to trust it (listed in {trust_file()})"
    )
