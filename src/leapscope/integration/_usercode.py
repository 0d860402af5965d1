"""Calling user code: exceptions are re-raised with the user's file and line."""

from __future__ import annotations

import sys
import sysconfig
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leapscope.exceptions import LeapscopeError, UserCodeError
from leapscope.sdk._runtime import redact

__all__ = ["call_user", "user_frame"]

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_LIBRARY_DIRS = tuple(
    {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(p)) for p in sys.path if p.endswith("site-packages")}
)


def _is_ours(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(_PACKAGE_DIR)


def user_frame(tb: Any = None) -> tuple[str | None, int | None]:
    """The innermost frame of ``tb`` (or the current stack) that is user code.

    User code is anything outside the leapscope package and outside the
    standard library / site-packages (so ``np.stack`` failing reports the user's
    line that called it).
    """
    frames = traceback.extract_tb(tb) if tb is not None else traceback.extract_stack()[:-1]
    for frame in reversed(frames):
        name = frame.filename
        if name.startswith("<") or _is_ours(name) or name.startswith(_LIBRARY_DIRS):
            continue
        return name, frame.lineno
    return None, None


def call_user(
    function: Callable[..., Any],
    *args: Any,
    name: str,
    subset: str | None = None,
    sample_id: str | int | None = None,
    **kwargs: Any,
) -> Any:
    """Call a user function; wrap a foreign exception in :class:`UserCodeError`.

    Errors leapscope raised on purpose (validation inside nested calls) pass through.
    """
    try:
        return function(*args, **kwargs)
    except LeapscopeError:
        raise
    except Exception as exc:
        filename, lineno = user_frame(exc.__traceback__)
        raise UserCodeError(
            f"raised {type(exc).__name__}: {redact(str(exc))}",
            function=name,
            subset=subset,
            sample_id=sample_id,
            filename=filename,
            lineno=lineno,
            fix="fix the function at that line; run `leapscope check` to test it on a few samples",
        ) from exc
