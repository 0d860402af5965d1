"""Decorators that declare an integration, and the registry that collects them.

Each decorator wraps the user's function in a small callable object (an
:class:`InputEncoder`, a :class:`Metric`, ...) that keeps the declaration (name,
options, source line) next to the function. Calling the object calls the function,
except inside the integration test, where leapscope's test runner intercepts the
call (to batch encoder outputs, run the real model, or trace the wiring).

Which functions form one integration is decided by :class:`Integration`, a plain
registry. ``leapscope.integration.load`` activates a fresh registry while it imports
the user's module, so two integrations loaded in one process never mix; a module
imported by hand can be collected with :meth:`Integration.from_module`.

The base and contexts live in ``_declared``, the part classes in ``_parts``, the registry in
``_registry``; this module holds the decorator functions and gathers the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from leapscope.sdk._declared import Decorated, Kind, TestContext, collecting, test_context
from leapscope.sdk._latent import LatentSpace
from leapscope.sdk._parts import (
    Direction,
    GroundTruthEncoder,
    InputEncoder,
    IntegrationTest,
    Loss,
    Metadata,
    MetadataScalar,
    Metric,
    ModelLoader,
    Prediction,
    Preprocess,
    UnlabeledPreprocess,
    Visualizer,
)
from leapscope.sdk._registry import Integration
from leapscope.sdk._visuals import VisualizerType

__all__ = [
    "Decorated",
    "Direction",
    "GroundTruthEncoder",
    "InputEncoder",
    "Integration",
    "IntegrationTest",
    "Kind",
    "LatentSpace",
    "Loss",
    "Metadata",
    "MetadataScalar",
    "Metric",
    "ModelLoader",
    "Prediction",
    "Preprocess",
    "TestContext",
    "UnlabeledPreprocess",
    "Visualizer",
    "collecting",
    "gt_encoder",
    "input_encoder",
    "integration_test",
    "latent_space",
    "load_model",
    "loss",
    "metadata",
    "metric",
    "preprocess",
    "test_context",
    "unlabeled_preprocess",
    "visualizer",
]


def preprocess(function: Callable[[], Any]) -> Preprocess:
    """Declare the function that returns the subsets (``list[ls.Subset]``).

    It runs once per evaluation and must return at least a ``training`` and a
    ``validation`` subset (plus optionally ``test``).
    """
    return Preprocess(function)


def unlabeled_preprocess(function: Callable[[], Any]) -> UnlabeledPreprocess:
    """Declare the function that returns one ``unlabeled`` subset (no ground truth)."""
    return UnlabeledPreprocess(function)


def input_encoder(
    name: str, channel_dim: int | None = -1, dtype: str = "float32"
) -> Callable[[Callable[..., Any]], InputEncoder]:
    """Declare an input encoder: ``(sample_id, subset) -> float32 ndarray`` of one sample."""
    return lambda function: InputEncoder(function, name, channel_dim, dtype)


def gt_encoder(name: str) -> Callable[[Callable[..., Any]], GroundTruthEncoder]:
    """Declare a ground-truth encoder: ``(sample_id, subset) -> float32 ndarray`` of one sample."""
    return lambda function: GroundTruthEncoder(function, name)


def metadata(name: str, dtype: str | type | None = None) -> Callable[[Callable[..., Any]], Metadata]:
    """Declare metadata: ``(sample_id, subset) -> scalar | dict[str, scalar]``."""
    return lambda function: Metadata(function, name, dtype)


def visualizer(
    name: str, type: VisualizerType | str | None = None, heatmap: Callable[..., Any] | None = None
) -> Callable[[Callable[..., Any]], Visualizer]:
    """Declare a visualizer: one sample's arrays -> a visual of ``type``."""
    return lambda function: Visualizer(function, name, type, heatmap)


def metric(
    name: str, direction: Direction | Mapping[str, Direction] = "higher", compute_insights: bool = True
) -> Callable[[Callable[..., Any]], Metric]:
    """Declare a metric: batched arrays -> ndarray of shape (B,) (or a dict of them)."""
    return lambda function: Metric(function, name, direction, compute_insights)


def loss(name: str) -> Callable[[Callable[..., Any]], Loss]:
    """Declare a loss: batched arrays -> ndarray of shape (B,)."""
    return lambda function: Loss(function, name)


def load_model(predictions: list[Prediction] | None = None) -> Callable[[Callable[[], Any]], ModelLoader]:
    """Declare the model: the function returns a path or a model object."""
    return lambda function: ModelLoader(function, predictions)


def integration_test(function: Callable[..., Any]) -> IntegrationTest:
    """Declare the integration test: ``test(sample_id, subset)``."""
    return IntegrationTest(function)


def latent_space(
    name: str, *, layer: str | None = None, prediction: str | None = None
) -> Callable[[Callable[..., Any]], LatentSpace]:
    """Declare a custom latent space, stored as ``latent/<name>.npy`` (N, D) float32.

    Without options the function is ``(sample_id, subset) -> ndarray`` of one sample (flattened to
    (D,)); with ``layer="..."`` it gets that layer's raw batched activations, with
    ``prediction="..."`` that prediction's batched model output, and returns (B, D). See
    :class:`leapscope.sdk._latent.LatentSpace`.
    """
    return lambda function: LatentSpace(function, name, layer, prediction)
