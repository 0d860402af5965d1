"""Tell a Tensorleap integration (``leap.yaml``, an entry importing ``code_loader``) from a native one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from leapscope.exceptions import IntegrationLoadError

__all__ = ["DEFAULT_ENTRY", "TENSORLEAP_CONFIG", "find_tensorleap", "read_leap_yaml"]


TENSORLEAP_CONFIG = "leap.yaml"
DEFAULT_ENTRY = "leap_integration.py"
_IMPORTS_CODE_LOADER = re.compile(r"^\s*(from\s+code_loader[\s.]|import\s+code_loader\b)", re.MULTILINE)


def _imports_code_loader(path: Path) -> bool:
    try:
        return bool(_IMPORTS_CODE_LOADER.search(path.read_text(errors="replace")))
    except OSError:
        return False


def read_leap_yaml(root: Path) -> dict[str, Any]:
    """Parse ``leap.yaml`` (``{}`` if absent).

    Raises
    ------
    IntegrationLoadError
        Not valid YAML or not a mapping.
    """
    path = root / TENSORLEAP_CONFIG
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise IntegrationLoadError(f"{path}: not valid YAML ({exc}); fix the file") from exc
    if not isinstance(data, dict):
        raise IntegrationLoadError(
            f"{path}: expected a mapping like 'entryFile: leap_integration.py', got {type(data).__name__}"
        )
    return data


def find_tensorleap(path: Path) -> tuple[Path, Path, dict[str, Any]] | None:
    """``(root, entry, leap_yaml)`` when ``path`` is a Tensorleap integration, else ``None``.

    A folder is one when it has ``leap.yaml`` (its ``entryFile``, default ``leap_integration.py``) and no
    ``leapscope.yaml``, or when it has no native ``integration.py`` but a ``leap_integration.py`` /
    ``leap_binder.py`` that imports ``code_loader``. A ``.py`` file is one when it imports
    ``code_loader`` or is the ``entryFile`` of the ``leap.yaml`` next to it.
    """
    from leapscope.integration._loader import CONFIG_FILE
    from leapscope.integration._loader import DEFAULT_ENTRY as NATIVE_ENTRY

    if path.is_dir():
        if (path / CONFIG_FILE).exists():
            return None
        if (path / TENSORLEAP_CONFIG).exists():
            config = read_leap_yaml(path)
            return path, path / str(config.get("entryFile") or DEFAULT_ENTRY), config
        native = path / NATIVE_ENTRY
        if native.exists() and not _imports_code_loader(native):
            return None
        for name in (DEFAULT_ENTRY, "leap_binder.py", NATIVE_ENTRY):
            if (path / name).exists() and _imports_code_loader(path / name):
                return path, path / name, {}
        return None
    if path.suffix != ".py" or (path.parent / CONFIG_FILE).exists():
        return None
    config = read_leap_yaml(path.parent) if (path.parent / TENSORLEAP_CONFIG).exists() else {}
    if _imports_code_loader(path) or (config and (path.parent / str(config.get("entryFile") or DEFAULT_ENTRY)) == path):
        return path.parent, path, config
    return None
