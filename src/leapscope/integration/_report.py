"""What the integration test reports: one :class:`PartResult` per part, the :class:`CheckReport`, and the
:class:`Predictor` protocol a model must fit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.integration._kinds import PredictionKindInfo
from leapscope.integration._trace import WiringEdge
from leapscope.sdk._decorators import (
    Integration,
    Kind,
)
from leapscope.sdk._runtime import redact, redact_value

__all__ = ["CheckReport", "ModelFactory", "PartName", "PartResult", "Predictor", "prediction_names"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class Predictor(Protocol):
    """What the integration test needs of a model (``leapscope.models.ModelWrapper`` fits)."""

    @property
    def inputs(self) -> Sequence[_Named]: ...

    @property
    def outputs(self) -> Sequence[_Named]: ...

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...


ModelFactory = Callable[[Any], Predictor]

PartName = Literal[
    "preprocess",
    "input encoders",
    "ground truths",
    "metadata",
    "visualizers",
    "metrics",
    "losses",
    "model",
    "integration test",
    "latent spaces",
]
_PART_OF_KIND: dict[Kind, PartName] = {
    Kind.PREPROCESS: "preprocess",
    Kind.UNLABELED_PREPROCESS: "preprocess",
    Kind.INPUT: "input encoders",
    Kind.GROUND_TRUTH: "ground truths",
    Kind.METADATA: "metadata",
    Kind.VISUALIZER: "visualizers",
    Kind.METRIC: "metrics",
    Kind.LOSS: "losses",
    Kind.MODEL: "model",
    Kind.INTEGRATION_TEST: "integration test",
    Kind.LATENT_SPACE: "latent spaces",
}
_MANDATORY: set[PartName] = {"preprocess", "input encoders", "model", "integration test"}


@dataclass
class PartResult:
    """The outcome for one part of the integration.

    ``status`` is ``"pass"``, ``"fail"`` or ``"absent"`` (nothing declared);
    ``error`` holds the first error's parts (see ``ValidationError.to_dict``).
    """

    part: PartName
    mandatory: bool
    functions: list[str] = field(default_factory=list)
    status: Literal["pass", "fail", "absent"] = "absent"
    error: dict[str, Any] | None = None
    checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "mandatory": self.mandatory,
            "status": self.status,
            "functions": self.functions,
            "checked": self.checked,
            "error": self.error,
        }


@dataclass
class CheckReport:
    """Result of the integration test (see module docstring)."""

    parts: list[PartResult]
    wiring: list[WiringEdge]
    subsets: dict[str, int]
    samples_per_subset: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    #: each model output's kind (class, multilabel, dense, boxes, regression), from the first real prediction
    predictions: list[PredictionKindInfo] = field(default_factory=list)

    @property
    def kinds(self) -> dict[str, str]:
        """Prediction name -> its kind (empty when the model never predicted in the real pass)."""
        return {p.name: p.kind for p in self.predictions}

    @property
    def valid(self) -> bool:
        """True when every mandatory part passes and no declared part fails."""
        return all(p.status == "pass" if p.mandatory else p.status != "fail" for p in self.parts)

    def part(self, name: PartName) -> PartResult:
        return next(p for p in self.parts if p.part == name)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report printed by ``leapscope check --json``.

        Every string in it has the run's secret redacted (``***``).
        """
        return dict(
            redact_value(
                {
                    "valid": self.valid,
                    "parts": [p.to_dict() for p in self.parts],
                    "wiring": [e.to_dict() for e in self.wiring],
                    "subsets": self.subsets,
                    "samples_per_subset": self.samples_per_subset,
                    "seconds": round(self.seconds, 3),
                    "warnings": self.warnings,
                    "predictions": [p.to_dict() for p in self.predictions],
                }
            )
        )


def _error_dict(exc: BaseException) -> dict[str, Any]:
    to_dict = getattr(exc, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    extra = {}
    if getattr(exc, "filename", None):
        extra = {"filename": exc.filename, "lineno": getattr(exc, "lineno", None)}  # type: ignore[attr-defined]
    return {"error": type(exc).__name__, "message": redact(str(exc)), **extra}


class _Parts:
    def __init__(self, integration: Integration):
        self.results: dict[PartName, PartResult] = {
            name: PartResult(name, name in _MANDATORY) for name in dict.fromkeys(_PART_OF_KIND.values())
        }
        for fn in integration.parts():
            part = self.results[_PART_OF_KIND[fn.kind]]
            single = fn.kind in (Kind.PREPROCESS, Kind.UNLABELED_PREPROCESS, Kind.MODEL, Kind.INTEGRATION_TEST)
            part.functions.append(fn.__name__ if single else fn.name)
            part.status = "pass"
        self.recorded: set[int] = set()
        #: prediction name -> its resolved kind (set by the real pass's first prediction)
        self.kinds: dict[str, PredictionKindInfo] = {}

    def fail(self, name: PartName, exc: BaseException) -> None:
        part = self.results[name]
        if part.status != "fail":
            part.status = "fail"
            part.error = _error_dict(exc)
        self.recorded.add(id(exc))

    def failed(self, name: PartName) -> bool:
        return self.results[name].status == "fail"

    def ok(self, name: PartName) -> None:
        self.results[name].checked += 1

    @contextlib.contextmanager
    def guard(self, name: PartName) -> Iterator[None]:
        try:
            yield
        except LeapscopeError as exc:
            self.fail(name, exc)


def prediction_names(integration: Integration, predictor: Predictor | None) -> list[str]:
    """Names of the model outputs: the declared predictions, else the model's output names."""
    if integration.predictions:
        return [p.name for p in integration.predictions]
    if predictor is not None:
        return [o.name for o in predictor.outputs]
    return ["output"]
