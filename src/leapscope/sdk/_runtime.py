"""Runtime helpers for integration code: a persistent cache folder and the run's secret."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from leapscope.exceptions import IntegrationError

__all__ = [
    "SECRET_ENV",
    "cache_dir",
    "read_secret_file",
    "redact",
    "redact_value",
    "secret",
    "secret_scope",
    "use_secret",
    "with_secret_file",
]

P = ParamSpec("P")
R = TypeVar("R")

SECRET_ENV = "AUTH_SECRET"  # noqa: S105 - the name of the environment variable, not a secret
CACHE_ENV = "LEAPSCOPE_CACHE_DIR"
#: secrets shorter than this are not redacted (a 1-3 character value would redact ordinary words)
MIN_SECRET_LENGTH = 4
REDACTED = "***"

# Every secret given to this process (``secret_scope``, ``use_secret``), kept in memory only,
# so that output produced after a scope ended (the CLI printing an exception) is still redacted.
_KNOWN: list[str] = []


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


def _secrets() -> list[str]:
    values = [os.environ.get(SECRET_ENV) or "", *_KNOWN]
    # longest first, so a secret that contains another one is replaced whole
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every occurrence of a secret replaced by ``***``.

    The secrets are the current ``AUTH_SECRET`` and every secret given to this
    process through :func:`secret_scope` / :func:`use_secret` (also after the scope
    ended). Values shorter than 4 characters are not redacted.
    """
    if not isinstance(text, str):
        return text
    for value in _secrets():
        text = text.replace(value, REDACTED)
    return text


def redact_value(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string inside it.

    Walks dicts (keys and values), lists and tuples; other objects are returned unchanged.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    return value


def use_secret(value: str | None) -> None:
    """Make ``value`` this process's secret (sets ``AUTH_SECRET``) and redact it from now on.

    Meant for processes that end with the work they do, e.g. as the initializer of an
    evaluate worker; in a long-lived process use :func:`secret_scope`.
    """
    if value is None:
        return
    if value not in _KNOWN:
        _KNOWN.append(value)
    os.environ[SECRET_ENV] = value


@contextmanager
def secret_scope(value: str | None) -> Iterator[None]:
    """Expose ``value`` as ``AUTH_SECRET`` inside the block only.

    On exit the previous value is restored (or the variable removed); the secret
    stays known to :func:`redact`. ``None`` changes nothing.
    """
    if value is None:
        yield
        return
    previous = os.environ.get(SECRET_ENV)
    use_secret(value)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous


def read_secret_file(path: str | Path) -> str:
    """The secret stored in ``path`` (surrounding whitespace removed).

    Raises
    ------
    IntegrationError
        The file cannot be read.
    """
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrationError(
            f"--secret-file {path}: cannot be read ({type(exc).__name__}); fix: pass a readable text file "
            "holding the secret"
        ) from None


def with_secret_file(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the secret read from its ``secret_file`` keyword exposed as ``AUTH_SECRET``.

    The variable is set for the call only (see :func:`secret_scope`).
    """

    @functools.wraps(fn)
    def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
        secret_file = kwargs.get("secret_file")
        value = read_secret_file(secret_file) if isinstance(secret_file, str | Path) else None
        with secret_scope(value):
            return fn(*args, **kwargs)

    return scoped


def _install_log_redaction() -> None:
    """Redact secrets from every log record's message (leapscope's and the integration's)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_leapscope_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets():
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a bad format string: leave it to the handler to report
                return record
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return record

    factory._leapscope_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_log_redaction()
