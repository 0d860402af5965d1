"""The registry of one integration: :class:`Integration` holds its decorated functions by kind and name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._declared import Decorated, Kind
from leapscope.sdk._latent import LatentSpace
from leapscope.sdk._parts import (
    GroundTruthEncoder,
    InputEncoder,
    IntegrationTest,
    Loss,
    Metadata,
    Metric,
    ModelLoader,
    Prediction,
    Preprocess,
    UnlabeledPreprocess,
    Visualizer,
)

__all__ = ["Integration"]


_SINGLE = {
    Kind.PREPROCESS: "preprocess",
    Kind.UNLABELED_PREPROCESS: "unlabeled_preprocess",
    Kind.MODEL: "model_loader",
    Kind.INTEGRATION_TEST: "integration_test",
}
_MANY = {
    Kind.INPUT: "input_encoders",
    Kind.GROUND_TRUTH: "gt_encoders",
    Kind.METADATA: "metadata",
    Kind.VISUALIZER: "visualizers",
    Kind.METRIC: "metrics",
    Kind.LOSS: "losses",
    Kind.LATENT_SPACE: "latent_spaces",
}


@dataclass
class Integration:
    """What one integration declared: its decorated functions, by kind and name."""

    name: str = "integration"
    source: str | None = None
    preprocess: Preprocess | None = None
    unlabeled_preprocess: UnlabeledPreprocess | None = None
    input_encoders: dict[str, InputEncoder] = field(default_factory=dict)
    gt_encoders: dict[str, GroundTruthEncoder] = field(default_factory=dict)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    visualizers: dict[str, Visualizer] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    losses: dict[str, Loss] = field(default_factory=dict)
    latent_spaces: dict[str, LatentSpace] = field(default_factory=dict)
    model_loader: ModelLoader | None = None
    integration_test: IntegrationTest | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def register(self, obj: Decorated) -> None:
        """Add a decorated function.

        Raises
        ------
        IntegrationDefinitionError
            A second function of the same kind and name.
        """
        if obj.kind in _SINGLE:
            attr = _SINGLE[obj.kind]
            current = getattr(self, attr)
            if current is not None and current is not obj:
                raise IntegrationDefinitionError(
                    f"@{obj.kind.value} is declared twice: '{current.__name__}' ({current.location}) and "
                    f"'{obj.__name__}' ({obj.location}); fix: keep one"
                )
            setattr(self, attr, obj)
            return
        table: dict[str, Decorated] = getattr(self, _MANY[obj.kind])
        current = table.get(obj.name)
        if current is not None and current is not obj:
            raise IntegrationDefinitionError(
                f"two {obj.kind.value} functions are named '{obj.name}': '{current.__name__}' ({current.location}) "
                f"and '{obj.__name__}' ({obj.location}); fix: give each a unique name"
            )
        table[obj.name] = obj

    def parts(self) -> Iterator[Decorated]:
        """Every registered function."""
        for attr in _SINGLE.values():
            obj = getattr(self, attr)
            if obj is not None:
                yield obj
        for attr in _MANY.values():
            yield from getattr(self, attr).values()

    @property
    def predictions(self) -> list[Prediction]:
        """The model's declared predictions (empty without ``@load_model``)."""
        return self.model_loader.predictions if self.model_loader else []

    @classmethod
    def from_module(cls, module: ModuleType, name: str | None = None) -> Integration:
        """Collect the decorated functions found in a module's namespace."""
        registry = cls(name=name or module.__name__, source=getattr(module, "__file__", None))
        for value in vars(module).values():
            if isinstance(value, Decorated):
                registry.register(value)
        return registry

    def describe(self) -> dict[str, Any]:
        """Every declaration as a JSON-ready dict."""
        return {"name": self.name, "parts": [p.describe() for p in self.parts()]}
