"""One integration's binder state in code-loader's process-wide ``leap_binder``, and importing the entry.

Import errors name the user's file:line and the fix (a missing package, TensorFlow).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from leapscope.exceptions import IntegrationLoadError
from leapscope.integration._usercode import user_frame
from leapscope.integration.tensorleap._env import LOCK


class _Binder:
    """One integration's share of code-loader's process-wide ``leap_binder``."""

    def __init__(self, binder: Any, state: dict[str, Any]):
        self.binder, self.state = binder, state

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Put this integration's binder state in place for the block (re-entrant, thread-safe)."""
        with LOCK:
            previous = self.binder.__dict__
            if previous is self.state:
                yield
                return
            self.binder.__dict__ = self.state
            try:
                yield
            finally:
                self.binder.__dict__ = previous

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def bound(*args: Any, **kwargs: Any) -> Any:
            with self.active():
                return function(*args, **kwargs)

        return bound


# --- import -----------------------------------------------------------------------


def _missing_module_hint(exc: BaseException, entry: Path) -> str:
    missing = next((e for e in _chain(exc) if isinstance(e, ModuleNotFoundError)), None)
    if missing is None or not missing.name:
        return ""
    top = missing.name.split(".")[0]
    filename, lineno = user_frame(missing.__traceback__)
    where = f" (imported at {filename}:{lineno})" if filename else ""
    if top in ("tensorflow", "keras"):
        return (
            f"; the integration imports {top}{where}, which is not installed. Fix: pip install 'leapscope[tensorflow]', "
            "or give the model with --model model.h5 (leapscope reads .h5 with Keras 3 alone) and remove the import"
        )
    requirements = entry.parent / "requirements.txt"
    fix = f"pip install -r {requirements}" if requirements.exists() else f"pip install {top}"
    return f"; the integration needs the package '{top}'{where}. Fix: {fix}"


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _import_error(exc: BaseException, entry: Path, what: str) -> IntegrationLoadError:
    root_cause = list(_chain(exc))[-1]
    filename, lineno = None, None
    for e in _chain(exc):
        filename, lineno = user_frame(e.__traceback__)
        if filename:
            break
    where = f" at {filename}:{lineno}" if filename else ""
    message = str(exc).strip() or type(exc).__name__
    if root_cause is not exc and type(root_cause).__name__ not in message:
        message = f"{message} ({type(root_cause).__name__}: {root_cause})"
    return IntegrationLoadError(
        f"{what} {entry} through code-loader failed{where}: {message}"
        + (
            _missing_module_hint(exc, entry)
            or f"; fix that line (code-loader's own check, `python {entry.name}`, shows the same error)"
        )
    )


@contextlib.contextmanager
def _kept_sys_path() -> Iterator[None]:
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved  # LeapLoader appends the integration's folders; leapscope imports them itself


def _run_script(root: Path, entry: Path, binder: Any, helpers: dict[str, ModuleType]) -> tuple[dict[Any, Any], Any]:
    """Import the entry with a fresh binder state; returns (preprocess results by DataStateEnum, state)."""
    from code_loader import LeapLoader

    from leapscope.integration._loader import own_helpers

    binder.__dict__ = {}
    binder.__init__()
    loader = LeapLoader(str(root), str(entry.relative_to(root)))
    nested = own_helpers(entry.parent, helpers) if entry.parent != root else contextlib.nullcontext()
    with _kept_sys_path(), own_helpers(root, helpers), nested:
        try:
            loader.exec_script()
        except Exception as exc:
            raise _import_error(exc, entry, "importing") from exc
        try:
            results = loader._preprocess_result_cached or binder.get_preprocess_result()
        except Exception as exc:
            raise _import_error(exc, entry, "running the preprocess of") from exc
    return dict(results), binder.__dict__
