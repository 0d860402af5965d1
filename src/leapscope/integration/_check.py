"""The integration test: a real pass on a few samples, then a tracing pass.

The result is a :class:`CheckReport`: one :class:`PartResult` per part of the
integration (✓ / ✗ / absent, with the first error), the wiring graph and the
subset sizes. ``leapscope check`` prints it; evaluate stores its wiring.

This module runs the preprocess, loads the model and orchestrates; the real pass lives in
``_real_pass``, the tracing pass in ``_trace_pass``, the report types in ``_report``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from leapscope.exceptions import LeapscopeError, ModelError, ValidationError
from leapscope.integration._loader import LoadedIntegration
from leapscope.integration._real_pass import _check_sample, _run_test_once
from leapscope.integration._report import (
    CheckReport,
    ModelFactory,
    PartResult,
    Predictor,
    _Parts,
)
from leapscope.integration._trace import WiringEdge
from leapscope.integration._trace_pass import _trace
from leapscope.integration._usercode import call_user
from leapscope.integration._validate import ShapeTracker, validate_subsets
from leapscope.integration._validate_latent import check_latent_spaces
from leapscope.sdk._decorators import Integration
from leapscope.sdk._subset import DataState, Subset

__all__ = [
    "CheckReport",
    "ModelFactory",
    "PartResult",
    "Predictor",
    "load_subsets",
    "resolve_model_source",
    "run_integration_test",
]


def load_subsets(integration: Integration) -> list[Subset]:
    """Run ``@preprocess`` (and ``@unlabeled_preprocess``) and validate the subsets.

    Raises
    ------
    ValidationError
        No ``@preprocess``, or it returned something that is not valid subsets.
    UserCodeError
        The function raised.
    """
    if integration.preprocess is None:
        raise ValidationError(
            "the integration declares no @ls.preprocess function",
            function="preprocess",
            expected="one function decorated with @ls.preprocess returning list[ls.Subset]",
            actual="none",
            fix="add @ls.preprocess def subsets() -> list[ls.Subset]",
        )
    pre = integration.preprocess
    subsets = validate_subsets(call_user(pre.function, name=pre.__name__), function=pre.__name__)
    if integration.unlabeled_preprocess is not None:
        un = integration.unlabeled_preprocess
        subsets += validate_subsets(call_user(un.function, name=un.__name__), function=un.__name__, unlabeled=True)
    return subsets


def resolve_model_source(loaded: LoadedIntegration, override: Any = None) -> Any:
    """What to load as the model: ``override``, else ``model:`` in leapscope.yaml, else ``@load_model``'s return.

    Relative paths from the config or ``@load_model`` are resolved against the
    integration folder.

    Raises
    ------
    ValidationError
        No model is named anywhere.
    """
    if isinstance(override, str | Path):
        return Path(override).expanduser().resolve()
    if override is not None:
        return override
    if loaded.config.get("model"):
        return (loaded.root / str(loaded.config["model"])).resolve()
    loader = loaded.integration.model_loader
    if loader is None:
        raise ValidationError(
            "no model: the integration declares no @ls.load_model and leapscope.yaml names no model",
            function="load_model",
            expected="@ls.load_model(...) returning a path or a model object",
            actual="none",
            fix="add @ls.load_model(predictions=[ls.Prediction('classes', labels)]) def model(): return 'model.onnx'",
        )
    source = call_user(loader.function, name=loader.__name__)
    if isinstance(source, str | Path):
        return (loaded.root / source).resolve()
    return source


def _preprocess(
    integration: Integration, parts: _Parts, given: list[Subset] | None
) -> tuple[list[Subset], dict[str, int]]:
    """The subsets (``given`` or from running preprocess) and their sizes; failures are in ``parts``."""
    report_subsets: dict[str, int] = {}
    subsets: list[Subset] = []
    with parts.guard("preprocess"):
        subsets = given if given is not None else load_subsets(integration)
        report_subsets = {s.name: len(s) for s in subsets}
        parts.ok("preprocess")
    if integration.preprocess is None:
        parts.results["preprocess"].status = "fail"
    return subsets, report_subsets


def _load_predictor(
    loaded: LoadedIntegration, parts: _Parts, model_factory: ModelFactory, model_source: Any
) -> Predictor | None:
    """The model as a :class:`Predictor` (``None`` when it cannot be loaded: the failure is in ``parts``)."""
    predictor: Predictor | None = None
    with parts.guard("model"):
        source = resolve_model_source(loaded, model_source)
        try:
            predictor = model_factory(source)
        except LeapscopeError:
            raise
        except Exception as exc:
            raise ModelError(f"loading the model {source!r} failed: {type(exc).__name__}: {exc}") from exc
        _check_predictions(loaded.integration, predictor)
    return predictor


def _flag_missing_parts(integration: Integration, parts: _Parts) -> None:
    """Mark the mandatory input encoders and integration test as failed when none is declared."""
    if not integration.input_encoders:
        parts.fail(
            "input encoders",
            ValidationError(
                "the integration declares no input encoder",
                function="input_encoder",
                expected="at least one @ls.input_encoder",
                actual="none",
                fix="add @ls.input_encoder('image') def image(sample_id, subset) -> np.ndarray",
            ),
        )
    if integration.integration_test is None:
        parts.fail(
            "integration test",
            ValidationError(
                "the integration declares no @ls.integration_test",
                function="integration_test",
                expected="@ls.integration_test def test(sample_id, subset) calling encoders, model, metrics",
                actual="none",
                fix="add an integration test; `leapscope init` writes an example",
            ),
        )


def run_integration_test(
    loaded: LoadedIntegration,
    model_factory: ModelFactory,
    *,
    samples: int = 3,
    model_source: Any = None,
    subsets: list[Subset] | None = None,
) -> CheckReport:
    """Run the integration test of a loaded integration.

    Parameters
    ----------
    loaded : LoadedIntegration
    model_factory : callable
        Turns a model source (path or object) into a :class:`Predictor`;
        ``leapscope.models.load`` in practice.
    samples : int, default 3
        Samples checked per subset (the first ones).
    model_source : path or model object, optional
        Overrides the model named by the integration.
    subsets : list of Subset, optional
        Already loaded subsets (skips running preprocess again).

    Returns
    -------
    CheckReport
        Never raises for problems of the integration; they are in the report.
    """
    started = time.perf_counter()
    integration = loaded.integration
    parts = _Parts(integration)
    warnings: list[str] = []
    subsets, report_subsets = _preprocess(integration, parts, subsets)

    predictor = _load_predictor(loaded, parts, model_factory, model_source)
    _flag_missing_parts(integration, parts)

    tracker = ShapeTracker()
    metadata_types: dict[str, str] = {}
    for subset in subsets:
        for sample_id in subset.sample_ids[:samples]:
            _check_sample(integration, parts, subset, sample_id, tracker, metadata_types)
            if (
                predictor is not None
                and integration.integration_test is not None
                and subset.state is not DataState.UNLABELED
            ):
                _run_test_once(integration.integration_test, parts, predictor, subset, sample_id, tracker)

    check_latent_spaces(integration, parts, predictor, subsets, samples)  # @ls.latent_space

    wiring: list[WiringEdge] = []
    if integration.integration_test is not None and subsets:
        wiring = _trace(integration, integration.integration_test, parts, predictor, subsets, warnings)

    warnings.extend(info.warning for info in parts.kinds.values() if info.warning)
    return CheckReport(
        parts=list(parts.results.values()),
        wiring=wiring,
        subsets=report_subsets,
        samples_per_subset=samples,
        seconds=time.perf_counter() - started,
        warnings=warnings,
        predictions=list(parts.kinds.values()),
    )


def _check_predictions(integration: Integration, predictor: Predictor) -> None:
    declared = integration.predictions
    if declared and len(declared) != len(predictor.outputs):
        raise ValidationError(
            "the declared predictions do not match the model's outputs",
            function="load_model",
            argument="predictions",
            expected=f"{len(predictor.outputs)} prediction(s), one per model output ({', '.join(o.name for o in predictor.outputs)})",
            actual=f"{len(declared)} declared ({', '.join(p.name for p in declared)})",
            fix="declare one ls.Prediction per model output, in output order",
        )
