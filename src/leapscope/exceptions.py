"""Exceptions raised by leapscope.

Every error is a :class:`LeapscopeError`; most also inherit the matching builtin,
so ``except ValueError`` keeps working for callers that do not know leapscope::

    LeapscopeError
    ├── IntegrationError                  the user's integration code is wrong
    │   ├── IntegrationDefinitionError    (TypeError)  bad decorator use, duplicate names
    │   ├── IntegrationLoadError          (ImportError) file missing, import failed
    │   ├── ValidationError               (ValueError) a returned value breaks the contract
    │   ├── TracingError                  (TypeError)  arithmetic on a traced value in the test
    │   └── UserCodeError                              user code raised; carries its file and line
    ├── FilterError                       (ValueError) a sample filter is malformed or names an unknown column
    ├── ModelError                                     loading or calling a model failed
    │   ├── ModelLoadError                (ValueError) unsupported file, unreadable model
    │   └── ModelInputError               (ValueError) wrong number, dtype or shape of inputs
    └── StoreError                                     workspace, catalog or run artifacts
        ├── RunNotFoundError              (KeyError)
        ├── NotFoundError                 (KeyError)   no such sample, subset, latent space, insight, job
        ├── CorruptStorageError                        a catalog or run file is unreadable / damaged
        └── DiskFullError                              not enough free space to write a run

Messages name the function, argument, subset, sample id, the expected and the actual
value, and say how to fix it. Those parts are also kept as attributes so tools
(``leapscope check --json``, the web app) can show them without parsing text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CorruptStorageError",
    "DiskFullError",
    "FilterError",
    "IntegrationDefinitionError",
    "IntegrationError",
    "IntegrationLoadError",
    "LeapscopeError",
    "ModelError",
    "ModelInputError",
    "ModelLoadError",
    "NotFoundError",
    "RunNotFoundError",
    "StoreError",
    "TracingError",
    "UntrustedIntegrationError",
    "UserCodeError",
    "ValidationError",
]


def _redact(value: Any) -> Any:
    # imported here: sdk._runtime imports this module
    from leapscope.sdk._runtime import redact

    return redact(value) if isinstance(value, str) else value


class LeapscopeError(Exception):
    """Base class of every error leapscope raises on purpose.

    The run's secret (``AUTH_SECRET``) is redacted from the message and from every
    message part at construction, so no error shows or stores it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*(_redact(a) for a in args), **kwargs)


class IntegrationError(LeapscopeError):
    """The integration code (decorated functions) is wrong."""


class IntegrationDefinitionError(IntegrationError, TypeError):
    """A decorator was used wrongly: bad arguments, duplicate names, bad signature."""


class IntegrationLoadError(IntegrationError, ImportError):
    """The integration could not be found or imported."""


class UntrustedIntegrationError(IntegrationLoadError):
    """A run names an integration folder this user never checked or evaluated on this machine, so its
    code is not imported (a workspace file must never decide which code runs; see ``integration/_trust.py``)."""


class _ContextMixin:
    """Formats a message from the parts every validation error must name."""

    function: str | None
    argument: str | None
    subset: str | None
    sample_id: str | int | None
    expected: str | None
    actual: str | None
    fix: str | None

    def _set_context(
        self,
        problem: str,
        *,
        function: str | None,
        argument: str | None,
        subset: str | None,
        sample_id: str | int | None,
        expected: str | None,
        actual: str | None,
        fix: str | None,
    ) -> str:
        problem, function, argument, subset, expected, actual, fix = (
            _redact(v) for v in (problem, function, argument, subset, expected, actual, fix)
        )
        sample_id = _redact(sample_id)
        self.problem = problem
        self.function = function
        self.argument = argument
        self.subset = subset
        self.sample_id = sample_id
        self.expected = expected
        self.actual = actual
        self.fix = fix
        where = []
        if function is not None:
            where.append(f"function '{function}'")
        if argument is not None:
            where.append(f"argument '{argument}'")
        if subset is not None:
            where.append(f"subset '{subset}'")
        if sample_id is not None:
            where.append(f"sample id {sample_id!r}")
        lines = [f"{', '.join(where)}: {problem}" if where else problem]
        if expected is not None:
            lines.append(f"  expected: {expected}")
        if actual is not None:
            lines.append(f"  actual:   {actual}")
        if fix is not None:
            lines.append(f"  fix:      {fix}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The message parts as a JSON-ready dict."""
        return {
            "error": type(self).__name__,
            "problem": self.problem,
            "function": self.function,
            "argument": self.argument,
            "subset": self.subset,
            "sample_id": self.sample_id,
            "expected": self.expected,
            "actual": self.actual,
            "fix": self.fix,
            "message": str(self),
        }


class ValidationError(_ContextMixin, IntegrationError, ValueError):
    """A value returned by integration code breaks the integration contract.

    Raised by the integration test and by evaluate. Attributes ``function``,
    ``argument``, ``subset``, ``sample_id``, ``expected``, ``actual`` and ``fix``
    hold the parts of the message.
    """

    def __init__(
        self,
        problem: str,
        *,
        function: str | None = None,
        argument: str | None = None,
        subset: str | None = None,
        sample_id: str | int | None = None,
        expected: str | None = None,
        actual: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(
            self._set_context(
                problem,
                function=function,
                argument=argument,
                subset=subset,
                sample_id=sample_id,
                expected=expected,
                actual=actual,
                fix=fix,
            )
        )


class TracingError(IntegrationError, TypeError):
    """The integration test computed on a traced value instead of passing it on.

    During the tracing pass, encoders and the model return placeholders; the test
    may only pass them to metrics, losses and visualizers (and index a model's
    outputs once). ``filename`` and ``lineno`` point at the offending line.
    """

    def __init__(self, message: str, *, filename: str | None = None, lineno: int | None = None):
        self.filename = filename
        self.lineno = lineno
        super().__init__(message)


class UserCodeError(_ContextMixin, IntegrationError):
    """Integration code raised an exception.

    ``filename`` and ``lineno`` name the innermost frame of the user's file (not
    leapscope's internals); ``__cause__`` is the original exception.
    """

    def __init__(
        self,
        problem: str,
        *,
        function: str | None = None,
        argument: str | None = None,
        subset: str | None = None,
        sample_id: str | int | None = None,
        filename: str | None = None,
        lineno: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.filename = filename
        self.lineno = lineno
        location = f" (at {filename}:{lineno})" if filename else ""
        super().__init__(
            self._set_context(
                problem + location,
                function=function,
                argument=argument,
                subset=subset,
                sample_id=sample_id,
                expected=None,
                actual=None,
                fix=fix,
            )
        )


class ModelError(LeapscopeError):
    """Loading or running a model failed."""


class ModelLoadError(ModelError, ValueError):
    """The model file or object cannot be loaded (unsupported type, unreadable file)."""


class ModelInputError(ModelError, ValueError):
    """The inputs given to a model do not match its signature (count, dtype, shape)."""


class StoreError(LeapscopeError):
    """The workspace, its catalog or a run's artifacts are missing or inconsistent."""


class CorruptStorageError(StoreError):
    """A workspace file (``catalog.sqlite``, ``samples.parquet``, ``latent/*.npy``,
    ``manifest.json``, ...) exists but cannot be read: truncated, garbage or empty.

    The message names the file and how to recover. Attribute ``path`` is the file.
    """

    def __init__(self, message: str, *, path: object = None):
        super().__init__(message)
        self.path = path


class DiskFullError(StoreError):
    """Not enough free space to write a run's files; the run stays resumable.

    Attributes ``path`` (the folder written to), ``needed`` and ``free`` (bytes; ``needed`` may be None).
    """

    def __init__(self, message: str, *, path: object = None, needed: int | None = None, free: int | None = None):
        super().__init__(message)
        self.path, self.needed, self.free = path, needed, free


class FilterError(LeapscopeError, ValueError):
    """A sample filter (``column op literal [and ...]``) is malformed, names an unknown
    column or compares a column with a literal of the wrong type."""


class RunNotFoundError(StoreError, KeyError):
    """No run with the given id exists in the workspace."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class NotFoundError(StoreError, KeyError):
    """A run exists but has no such sample, subset, latent space, insight or job (the API answers 404)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""
