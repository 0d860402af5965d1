"""Runtime helpers for integration code: a persistent cache folder and the run's secret."""

from __future__ import annotations

import os
from pathlib import Path

from leapscope.exceptions import IntegrationError

__all__ = ["SECRET_ENV", "cache_dir", "redact", "secret"]

SECRET_ENV = "AUTH_SECRET"
CACHE_ENV = "LEAPSCOPE_CACHE_DIR"


def cache_dir(name: str = "default") -> Path:
    """A persistent folder for integration caches (created if missing).

    ``$LEAPSCOPE_CACHE_DIR/<name>`` when set, otherwise
    ``$XDG_CACHE_HOME/leapscope/<name>`` (``~/.cache/leapscope/<name>``). It survives
    between runs; leapscope never deletes it.
    """
    base = os.environ.get(CACHE_ENV)
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leapscope"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret() -> str:
    """The secret given to this run (``--secret-file`` or the ``AUTH_SECRET`` variable).

    leapscope never prints, logs or stores it; error messages that contain it are
    redacted before they are shown or written.

    Raises
    ------
    IntegrationError
        No secret was given.
    """
    value = os.environ.get(SECRET_ENV)
    if value is None:
        raise IntegrationError(
            f"ls.secret(): no secret was given; fix: pass --secret-file FILE to the command, "
            f"or set the {SECRET_ENV} environment variable"
        )
    return value


def redact(text: str) -> str:
    """``text`` with every occurrence of the run's secret replaced by ``***``."""
    value = os.environ.get(SECRET_ENV)
    if value and len(value) >= 4:
        # short values would redact ordinary words; a 1-3 character secret is no secret
        return text.replace(value, "***")
    return text
