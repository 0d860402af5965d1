"""Find and import a user's integration."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from leapscope.exceptions import IntegrationLoadError, LeapscopeError
from leapscope.integration._trust import record_trusted
from leapscope.integration._usercode import user_frame
from leapscope.sdk._decorators import Integration, collecting

__all__ = ["CONFIG_FILE", "LoadedIntegration", "load", "own_helpers", "read_config"]

# code-loader (Tensorleap's integration library) reads this at every analytics event; an integration
# that imports it must never phone home from leapscope's process, so it is set before any import of it.
os.environ["TL_DISABLE_ANALYTICS"] = "true"

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
    helper_modules : dict[str, ModuleType]
        The sibling modules the entry imported from its folder (``data``, ``utils.io``), by name.
        They are this integration's own: another integration's ``data`` never replaces them.
    """

    integration: Integration
    root: Path
    entry: Path
    config: dict[str, Any] = field(default_factory=dict)
    code_hash: str = ""
    helper_modules: dict[str, ModuleType] = field(default_factory=dict)


# Modules that some load() imported from an integration folder. A later load may replace them in
# ``sys.modules``; any other module it had to move aside (a library of the same name) is put back.
_HELPERS: weakref.WeakSet[ModuleType] = weakref.WeakSet()


def _sibling_names(root: Path) -> set[str]:
    """Top-level module names the folder ``root`` provides (``data.py`` -> ``data``, ``utils/`` -> ``utils``)."""
    names: set[str] = set()
    keep = set(sys.stdlib_module_names) | set(sys.builtin_module_names)  # never moved aside
    with contextlib.suppress(OSError):
        for child in root.iterdir():
            if child.suffix == ".py" and child.stem.isidentifier():
                names.add(child.stem)
            elif child.is_dir() and child.name.isidentifier():
                names.add(child.name)
    return names - keep


def _module_under(module: ModuleType, root: Path) -> bool:
    files = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(bool(file) and Path(file).resolve().is_relative_to(root) for file in files)


@contextlib.contextmanager
def own_helpers(root: Path, found: dict[str, ModuleType]) -> Iterator[None]:
    """Import the folder's sibling modules afresh, and keep what was there before.

    While the block runs, ``root`` is first on ``sys.path`` and every ``sys.modules`` entry whose
    top-level name is one of the folder's siblings (standard-library names excepted) is moved aside, so ``import data`` finds this
    folder's ``data.py`` and not one cached by an earlier integration (or a library of that name).
    Afterwards ``found`` holds the modules imported from ``root``; the entries moved aside are
    restored unless they came from an integration folder (then the newest load keeps the name, so
    imports inside functions of the integration loaded last still resolve).
    """
    siblings = _sibling_names(root)
    moved: dict[str, ModuleType] = {}
    for name in list(sys.modules):
        if name.partition(".")[0] in siblings:
            module = sys.modules.pop(name)
            if module is not None:
                moved[name] = module
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
        for name, module in list(sys.modules.items()):
            if module is not None and name.partition(".")[0] in siblings and _module_under(module, root):
                found[name] = module
                _HELPERS.add(module)
        for name, module in moved.items():
            if module in _HELPERS and name in sys.modules:
                continue  # an older integration's helper: the one just loaded takes the name
            if name in found:
                del sys.modules[name]  # a library of the same name: the integration keeps its own privately
            sys.modules.setdefault(name, module)


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
        raise IntegrationLoadError(
            f"{path}: expected a mapping like 'entry: integration.py', got {type(data).__name__}"
        )
    unknown = set(data) - {"entry", "model", "name"}
    if unknown:
        raise IntegrationLoadError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: entry, model, name")
    return data


def _native_entry(path: Path) -> tuple[Path, dict[str, Any], Path]:
    """``(root, leapscope.yaml config, entry file)`` of a native integration; raises :class:`IntegrationLoadError`."""
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
    return root, config, entry


def load(path: str | Path) -> LoadedIntegration:
    """Import an integration from a folder or a ``.py`` file.

    A folder may hold ``leapscope.yaml`` naming ``entry:`` (default
    ``integration.py``) and ``model:``. A Tensorleap integration (a folder with
    ``leap.yaml``, or an entry file that imports ``code_loader``) is loaded through
    Tensorleap's own code-loader package (see :mod:`leapscope.integration.tensorleap`). The module is imported under a unique
    name into a fresh registry, so loading two integrations never mixes them.

    The integration's folder is recorded as trusted for this user (:mod:`leapscope.integration._trust`):
    a run's views import code only from such folders, never from wherever its manifest points.

    Raises
    ------
    IntegrationLoadError
        The path or entry file does not exist, or importing it failed (the
        message gives the user's file and line).
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise IntegrationLoadError(f"integration path {path} does not exist; fix: pass a folder or a .py file")
    record_trusted(path)  # the caller runs this code on purpose: later views of its runs may import it again
    from leapscope.integration.tensorleap import find_tensorleap, load_tensorleap

    tensorleap = find_tensorleap(path)
    if tensorleap is not None:  # leap.yaml, or an entry importing code_loader: loaded through code-loader
        loaded: LoadedIntegration = load_tensorleap(*tensorleap)
        return loaded
    root, config, entry = _native_entry(path)
    digest = hashlib.sha256(entry.read_bytes())
    if (root / CONFIG_FILE).exists():
        digest.update((root / CONFIG_FILE).read_bytes())
    code_hash = digest.hexdigest()
    module_name = f"_leapscope_integration_{hashlib.sha1(str(entry).encode(), usedforsecurity=False).hexdigest()[:12]}"
    registry = Integration(name=str(config.get("name") or root.name), source=str(entry), config=config)
    spec = importlib.util.spec_from_file_location(module_name, entry)
    if spec is None or spec.loader is None:
        raise IntegrationLoadError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    helpers: dict[str, ModuleType] = {}
    try:
        # the folder's sibling helper modules are importable, and imported afresh for this integration
        with own_helpers(root, helpers), collecting(registry):
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
    return LoadedIntegration(
        integration=registry, root=root, entry=entry, config=config, code_hash=code_hash, helper_modules=helpers
    )
