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
``~/.config/leapscope/``) ``trusted-integrations.json``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from filelock import FileLock

from leapscope.exceptions import UntrustedIntegrationError

__all__ = ["TRUST_FILE_ENV", "folder_of", "is_trusted", "record_trusted", "require_trusted", "trust_file"]

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

    A trust file that cannot be written (read-only home) costs only a warning: this user's runs
    then cannot re-import the integration until it can.
    """
    folder, file = str(folder_of(path)), trust_file()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(file) + ".lock", timeout=30):
            folders = _read(file)
            if folder in folders:
                return
            tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"folders": sorted(folders | {folder})}, indent=1), encoding="utf-8")
            os.replace(tmp, file)
    except OSError as exc:
        logger.warning("could not record %s as trusted in %s (%s)", folder, file, exc)


def is_trusted(path: str | Path) -> bool:
    """Whether the integration folder of ``path`` is in the trust file (exactly that folder, never a parent)."""
    return str(folder_of(path)) in _read(trust_file())


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
