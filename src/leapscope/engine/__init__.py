"""Evaluate: stream every sample through the integration and the model into a stored run."""

from leapscope.engine._evaluate import EvaluateConfig, evaluate

__all__ = ["EvaluateConfig", "evaluate"]
