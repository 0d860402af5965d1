"""The tracing pass of the integration test: run it once on placeholders to record the wiring graph and
flag declared parts it never calls.
"""

from __future__ import annotations

from leapscope.exceptions import LeapscopeError, ValidationError
from leapscope.integration._report import Predictor, _Parts, prediction_names
from leapscope.integration._trace import MODEL_TARGET, TraceContext, WiringEdge
from leapscope.integration._usercode import call_user
from leapscope.sdk._decorators import (
    Integration,
    IntegrationTest,
    test_context,
)
from leapscope.sdk._subset import DataState, Subset


def _trace(
    integration: Integration,
    test: IntegrationTest,
    parts: _Parts,
    predictor: Predictor | None,
    subsets: list[Subset],
    warnings: list[str],
) -> list[WiringEdge]:
    labeled = next(s for s in subsets if s.state is not DataState.UNLABELED)
    input_names = (
        [i.name for i in predictor.inputs]
        if predictor is not None
        else [f"input_{i}" for i in range(len(integration.input_encoders))]
    )
    ctx = TraceContext(input_names, prediction_names(integration, predictor))
    try:
        with test_context(ctx):
            call_user(
                test.function,
                labeled.sample_ids[0],
                labeled,
                name=test.__name__,
                subset=labeled.name,
                sample_id=labeled.sample_ids[0],
            )
    except LeapscopeError as exc:
        parts.fail("integration test", exc)
        return ctx.edges
    if ("model", MODEL_TARGET) not in ctx.called:
        parts.fail(
            "integration test",
            ValidationError(
                "the integration test never calls the model",
                function=test.__name__,
                expected="predictions = model()(x)",
                actual="no call of model()",
                fix="call the model on the encoder outputs inside the test",
            ),
        )
    for name, group, part in (
        ("metric", integration.metrics, "metrics"),
        ("loss", integration.losses, "losses"),
        ("visualizer", integration.visualizers, "visualizers"),
    ):
        for fn_name, fn in group.items():
            if (name, fn_name) not in ctx.called:
                parts.fail(
                    part,  # type: ignore[arg-type]
                    ValidationError(
                        "never called in the integration test, so leapscope does not know its inputs",
                        function=f"{fn.__name__} (@{name} '{fn_name}')",
                        expected=f"a call like {fn.__name__}(gt, prediction) in @integration_test",
                        actual="no call",
                        fix="call it in the integration test with the arrays it should receive",
                    ),
                )
    for name in integration.input_encoders:
        if ("input", name) not in ctx.called:
            warnings.append(f"input encoder '{name}' is not used in the integration test")
    return ctx.edges
