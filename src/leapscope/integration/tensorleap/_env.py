"""Import Tensorleap's ``code-loader`` the way leapscope needs it: no telemetry, no exit hooks.

code-loader sends Mixpanel events (user name, a device id it writes to
``~/.tensorleap/device_id``) unless ``TL_DISABLE_ANALYTICS`` is set; it reads the variable at
every event, so leapscope sets it when this module is imported, before anything imports
code_loader, and keeps it set. Outside Tensorleap's platform, importing its decorators also
registers an ``atexit`` status table and replaces ``sys.excepthook``; both are undone here.
Keras is pinned to the torch backend before an integration can import TensorFlow/Keras.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from types import ModuleType
from typing import Any

from leapscope.exceptions import IntegrationLoadError

__all__ = ["LOCK", "disable_telemetry", "import_code_loader"]

#: code-loader keeps one process-wide ``leap_binder``; loads of Tensorleap integrations take turns.
LOCK = threading.RLock()


def disable_telemetry() -> None:
    """Turn code-loader's analytics off for this process (idempotent; safe before or after import)."""
    os.environ["TL_DISABLE_ANALYTICS"] = "true"
    os.environ.setdefault("KERAS_BACKEND", "torch")  # leapscope runs Keras models on torch


disable_telemetry()


_NEUTRALISED = False


def _cells(function: Any) -> dict[str, Any]:
    return {n: c.cell_contents for n, c in zip(function.__code__.co_freevars, function.__closure__ or (), strict=False)}


def _neutralise_status_table() -> None:
    """Undo the ``atexit`` table and ``sys.excepthook`` that code-loader's decorators module installs."""
    global _NEUTRALISED
    if _NEUTRALISED:
        return
    prefix = "tensorleap_status_table.<locals>."
    hook = sys.excepthook
    exits: list[Any] = []
    if getattr(hook, "__qualname__", "").startswith(prefix):
        sys.excepthook = sys.__excepthook__
        exits = [f for f in [_cells(hook).get("run_on_exit")] if f is not None]
    if not exits:  # something replaced the hook after code-loader did: find the exit function itself
        import gc

        exits = [
            o for o in gc.get_objects() if callable(o) and getattr(o, "__qualname__", "") == prefix + "run_on_exit"
        ]
    for run_on_exit in exits:
        atexit.unregister(run_on_exit)
        done = _cells(run_on_exit).get("_finalizer_called")
        if isinstance(done, dict):
            done["done"] = True  # belt and braces: the table never prints
    _NEUTRALISED = True


def import_code_loader() -> tuple[ModuleType, ModuleType, Any]:
    """Import code-loader with telemetry off and its process hooks removed.

    Returns
    -------
    (code_loader, leapbinder_decorators, leap_binder)
        The package, its decorators module and the process-wide ``LeapBinder``.

    Raises
    ------
    IntegrationLoadError
        code-loader is not installed (fix: ``pip install 'leapscope[tensorleap]'``).
    """
    disable_telemetry()
    try:
        import code_loader
        from code_loader.inner_leap_binder import leapbinder_decorators
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "code_loader":
            raise IntegrationLoadError(
                "this is a Tensorleap integration (leap.yaml or `import code_loader`), but the `code-loader` package "
                "is not installed; fix: pip install 'leapscope[tensorleap]'"
            ) from exc
        raise
    _neutralise_status_table()
    return code_loader, leapbinder_decorators, code_loader.leap_binder
