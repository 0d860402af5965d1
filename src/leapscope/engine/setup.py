"""Before the first sample: load the model, pass the integration test, derive the wiring and the latent spaces.

:func:`prepare` returns a :class:`Setup`, everything about a run that is fixed before
it is claimed in the catalog; scoring and the manifest read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from leapscope.engine.config import EvaluateConfig
from leapscope.engine.custom_latent import custom_spaces
from leapscope.engine.manifest import model_hash
from leapscope.engine.plan import Plan
from leapscope.exceptions import ModelError, ValidationError
from leapscope.integration import CheckReport, LoadedIntegration, resolve_model_source, run_integration_test
from leapscope.models import ModelWrapper, open_model
from leapscope.sdk._subset import Subset
from leapscope.store import Wiring, space_name

__all__ = ["Setup", "latent_spaces", "prepare"]

logger = logging.getLogger("leapscope.engine")


@dataclass
class Setup:
    """A run's fixed parts: integration, model, wiring (``model_inputs``: the encoder feeding each model input
    slot, in slot order), latent spaces (space name -> layer), plan, config."""

    loaded: LoadedIntegration
    all_subsets: list[Subset]
    config: EvaluateConfig
    plan: Plan
    source: Any
    wrapper: ModelWrapper
    wiring: Wiring
    model_inputs: list[str]
    spaces: dict[str, str]
    model_hash: str
    #: prediction name -> its kind (class, multilabel, dense, boxes, regression), resolved by the integration test
    kinds: dict[str, str] = field(default_factory=dict)
    #: prediction name -> the axis of one sample holding its labels (declared or found), where it has one
    class_axes: dict[str, int] = field(default_factory=dict)


def prepare(loaded: LoadedIntegration, all_subsets: list[Subset], config: EvaluateConfig, plan: Plan) -> Setup:
    """Load the model, run the integration test (one sample per subset) and derive the run's wiring.

    Raises :class:`ValidationError` when the integration test fails or does not feed every
    model input, :class:`ModelError` when the model does not load or a ``config.latent``
    layer does not exist.
    """
    source = resolve_model_source(loaded, config.model)
    wrapper = open_model(source)
    report = run_integration_test(loaded, lambda _: wrapper, samples=1, model_source=source, subsets=all_subsets)
    if not report.valid:
        raise _invalid(report, loaded)
    wiring = Wiring.from_edges(report.wiring, [s.name for s in wrapper.inputs])
    model_inputs = wiring.model_inputs()  # ValidationError for a model input no encoder feeds
    spaces = latent_spaces(wrapper, config.latent)
    spaces.update(custom_spaces(loaded.integration, spaces))  # @ls.latent_space: engine/custom_latent.py
    return Setup(
        loaded,
        all_subsets,
        config,
        plan,
        source,
        wrapper,
        wiring,
        model_inputs,
        spaces,
        model_hash(source, wrapper),
        report.kinds,
        {p.name: p.class_axis for p in report.predictions if p.class_axis is not None},
    )


def _invalid(report: CheckReport, loaded: LoadedIntegration) -> ValidationError:
    failing = [p for p in report.parts if p.status == "fail"]
    first = failing[0].error or {} if failing else {}
    return ValidationError(
        f"the integration test fails ({', '.join(p.part for p in failing)}); evaluate needs a valid integration",
        function=first.get("function"),
        subset=first.get("subset"),
        sample_id=first.get("sample_id"),
        actual=str(first.get("message", "")).splitlines()[0] if first else None,
        fix=f"run `leapscope check {loaded.root}` and fix the parts marked ✗",
    )


def latent_spaces(wrapper: ModelWrapper, layers: list[str] | None) -> dict[str, str]:
    """Space name -> layer of every stored latent space: ``layers``, default the model's default latent layer
    (none, with a warning, when the model has no such layer); ``["none"]`` stores no layer latent space.

    A layer the model cannot give (one of a TorchScript module that is not an nn.Sequential) is refused here,
    with the fix, before any sample is evaluated."""
    if layers and [layer.lower() for layer in layers] == ["none"]:
        return {}
    if layers:
        wrapper.resolve_layers(layers)
        canonical = [wrapper.canonical_layer(layer) for layer in layers]  # one name whichever spelling was typed
        return {space_name(layer): layer for layer in canonical}
    try:
        layer = wrapper.default_latent_layer()
    except ModelError as exc:
        logger.warning("no latent space stored: %s", exc)
        return {}
    wrapper.resolve_layers([layer])
    return {space_name(layer): layer}
