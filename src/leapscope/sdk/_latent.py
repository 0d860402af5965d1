"""``@ls.latent_space``: a custom latent space, computed by the integration instead of read from a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._declared import Decorated, Kind

__all__ = ["LatentSource", "LatentSpace"]

LatentSource = Literal["sample", "layer", "prediction"]


class LatentSpace(Decorated):
    """``@ls.latent_space(name, layer=None, prediction=None)``: one vector per sample, stored as
    ``latent/<name>.npy`` (N, D) float32 and usable wherever a latent space is (map, similar samples,
    every insight, ``analyze --latent NAME``).

    Three forms, by what the function receives:

    * neither ``layer`` nor ``prediction``: ``(sample_id, subset) -> ndarray`` of one sample (any
      shape; flattened to (D,));
    * ``layer="name"``: ``(activations) -> ndarray (B, D)``, the raw batched activations of that model
      layer (B, ...);
    * ``prediction="name"``: ``(prediction) -> ndarray (B, D)``, the model's batched output of that
      declared prediction (B, ...).

    Every sample's vector must be finite and have the same length D; the integration check and the
    evaluation refuse anything else with the function, sample and subset named.
    """

    kind = Kind.LATENT_SPACE

    def __init__(
        self, function: Callable[..., Any], name: str, layer: str | None = None, prediction: str | None = None
    ):
        if layer is not None and prediction is not None:
            raise IntegrationDefinitionError(
                f"@latent_space('{name}'): give layer= or prediction=, not both; fix: one source per latent space"
            )
        for option, value in (("layer", layer), ("prediction", prediction)):
            if value is not None and (not isinstance(value, str) or not value):
                raise IntegrationDefinitionError(
                    f"@latent_space('{name}', {option}={value!r}): expected a non-empty {option} name (str)"
                )
        self.layer = layer
        self.prediction = prediction
        self.source: LatentSource = "layer" if layer else "prediction" if prediction else "sample"
        super().__init__(function, name, n_params=2 if self.source == "sample" else 1)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": self.source, "layer": self.layer, "prediction": self.prediction}
