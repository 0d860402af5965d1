"""Evaluate: stream every sample through the integration and the model into a stored run.

One concept per module: :mod:`.pipeline` (``evaluate``, the orchestration), :mod:`.config`
(its arguments), :mod:`.plan` (subsets in chunks and batches), :mod:`.pool` and :mod:`.encode`
(encoding workers), :mod:`.setup` (model, integration test, wiring), :mod:`.resume` (claim,
lock, resume point, final status), :mod:`.chunks` (the chunk loop), :mod:`.scoring`
(predictions, losses, metrics), :mod:`.rows` (Arrow rows), :mod:`.manifest` (manifest.json).
"""

from leapscope.engine.config import EvaluateConfig
from leapscope.engine.pipeline import evaluate

__all__ = ["EvaluateConfig", "evaluate"]
