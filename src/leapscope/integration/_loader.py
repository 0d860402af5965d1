"""Find and import a user's integration."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leapscope.exceptions import IntegrationLoadError, LeapscopeError
from leapscope.integration._usercode import user_frame
from leapscope.sdk._decorators import Integration, collecting

__all__ = ["CONFIG_FILE", "LoadedIntegration", "load", "read_config"]

CONFIG_FILE = "leapscope.yaml"
DEFAULT_ENTRY = "integration.py"


@dataclass
class LoadedIntegration:
    """An imported integration and where it came from.

    Attributes
    ----------
    integration : Integration
        The registry of decorated functions.
    root : Path
        The integration's folder (relative model paths are resolved against it).
    entry : Path
        The imported Python file.
    config : dict
        The contents of ``leapscope.yaml`` (empty without one).
    code_hash : str
        SHA-256 of the entry file and the config, to tell versions apart.
    """

    integration: Integration
    root: Path
    entry: Path
    config: dict[str, Any] = field(default_factory=dict)
    code_hash: str = ""


def read_config(folder: Path) -> dict[str, Any]:
    """Parse ``leapscope.yaml`` in ``folder`` (``{}`` if absent).

    Keys: ``entry`` (Python file, default ``integration.py``), ``model`` (model
    file, overrides what ``@load_model`` returns), ``name`` (project name).
    """
    path = folder / CONFIG_FILE
    if not path.exists():
        return {}
    import yaml  # the SDK must stay numpy-only; the loader may use pyyaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise IntegrationLoadError(f"{path}: not valid YAML ({exc}); fix the file") from exc
    if not isinstance(data, dict):
        raise IntegrationLoadError(f"{path}: expected a mapping like 'entry: integration.py', got {type(data).__name__}")
    unknown = set(data) - {"entry", "model", "name"}
    if unknown:
        raise IntegrationLoadError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: entry, model, name")
    return data


def load(path: str | Path) -> LoadedIntegration:
    """Import an integration from a folder or a ``.py`` file.

    A folder may hold ``leapscope.yaml`` naming ``entry:`` (default
    ``integration.py``) and ``model:``. The module is imported under a unique
    name into a fresh registry, so loading two integrations never mixes them.

    Raises
    ------
    IntegrationLoadError
        The path or entry file does not exist, or importing it failed (the
        message gives the user's file and line).
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise IntegrationLoadError(f"integration path {path} does not exist; fix: pass a folder or a .py file")
    if path.is_dir():
        root, config = path, read_config(path)
        entry = root / str(config.get("entry", DEFAULT_ENTRY))
    else:
        root, config, entry = path.parent, read_config(path.parent), path
    if not entry.exists():
        raise IntegrationLoadError(
            f"integration entry {entry} does not exist; fix: create it (`leapscope init {root}` writes a template) "
            f"or name the right file with 'entry:' in {root / CONFIG_FILE}"
        )
    if entry.suffix != ".py":
        raise IntegrationLoadError(f"integration entry {entry} is not a .py file")
    digest = hashlib.sha256(entry.read_bytes())
    if (root / CONFIG_FILE).exists():
        digest.update((root / CONFIG_FILE).read_bytes())
    code_hash = digest.hexdigest()
    module_name = f"_leapscope_integration_{hashlib.sha1(str(entry).encode()).hexdigest()[:12]}"
    registry = Integration(name=str(config.get("name") or root.name), source=str(entry), config=config)
    spec = importlib.util.spec_from_file_location(module_name, entry)
    if spec is None or spec.loader is None:
        raise IntegrationLoadError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    sys.path.insert(0, str(root))  # lets the integration import its sibling helper modules
    try:
        with collecting(registry):
            spec.loader.exec_module(module)
    except LeapscopeError:
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        filename, lineno = user_frame(exc.__traceback__)
        where = f" at {filename}:{lineno}" if filename else ""
        raise IntegrationLoadError(
            f"importing {entry} raised {type(exc).__name__}: {exc}{where}; fix that line "
            "(the module is imported once to collect its decorated functions)"
        ) from exc
    finally:
        if str(root) in sys.path:
            sys.path.remove(str(root))
    return LoadedIntegration(integration=registry, root=root, entry=entry, config=config, code_hash=code_hash)
