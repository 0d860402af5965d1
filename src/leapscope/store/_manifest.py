"""Typed ``manifest.json`` of a run, and the wiring it records.

:class:`Manifest` mirrors the file exactly: ``Manifest.from_dict(d).to_dict() == d`` for
every manifest evaluate writes (key order included; keys this version does not know are
kept in ``extra``). :class:`Wiring` answers how each function is called, from the traced
integration test (:class:`WiringEdge`, defined in :mod:`leapscope.integration._trace`)
or from a stored manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from leapscope.exceptions import ValidationError
from leapscope.integration._trace import MODEL_TARGET, WiringEdge
from leapscope.store._schema import METRIC_PREFIX

__all__ = [
    "CONSTANT_SOURCE",
    "GT_SOURCE",
    "INPUT_SOURCE",
    "METADATA_SOURCE",
    "MODEL_TARGET",
    "PREDICTION_SOURCE",
    "IntegrationInfo",
    "LatentSpaceInfo",
    "Manifest",
    "ModelInfo",
    "PartInfo",
    "PredictionInfo",
    "SubsetInfo",
    "Wiring",
    "WiringEdge",
    "parse_source",
    "source_key",
]

#: kinds of a wiring edge's ``source`` (``<kind>:<name>``)
INPUT_SOURCE = "input"
GT_SOURCE = "gt"
METADATA_SOURCE = "metadata"
PREDICTION_SOURCE = "prediction"
CONSTANT_SOURCE = "constant"


def source_key(kind: str, name: str) -> str:
    """``<kind>:<name>``, e.g. ``source_key("gt", "label") == "gt:label"`` (the key of a wired value)."""
    return f"{kind}:{name}"


def parse_source(source: str) -> tuple[str, str]:
    """``"input:image"`` -> ``("input", "image")``; a source without ``:`` is ``(source, "")``."""
    kind, _, name = source.partition(":")
    return kind, name


def _split(data: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


def _require(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        raise KeyError(f"{where}: missing '{key}'")
    return data[key]


@dataclass
class PartInfo:
    """One decorated function of the integration: ``kind``, ``name``, ``function``, ``params`` (+ kind-specific keys
    such as ``direction`` for metrics, kept in ``extra``)."""

    kind: str
    name: str
    function: str = ""
    params: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("kind", "name", "function", "params")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartInfo:
        return cls(
            str(data["kind"]),
            str(data["name"]),
            str(data.get("function", "")),
            list(data.get("params", [])),
            _split(data, cls._KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "function": self.function,
            "params": list(self.params),
            **self.extra,
        }

    def get(self, key: str, default: Any = None) -> Any:
        """A kind-specific key (``direction``, ``visualizer_type``, ``dtype``...)."""
        return self.extra.get(key, default)


@dataclass
class IntegrationInfo:
    root: str
    entry: str
    code_hash: str
    name: str
    parts: list[PartInfo] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("root", "entry", "code_hash", "name", "parts")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntegrationInfo:
        return cls(
            str(data["root"]),
            str(data["entry"]),
            str(data["code_hash"]),
            str(data["name"]),
            [PartInfo.from_dict(p) for p in data.get("parts", [])],
            _split(data, cls._KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "entry": self.entry,
            "code_hash": self.code_hash,
            "name": self.name,
            "parts": [p.to_dict() for p in self.parts],
            **self.extra,
        }


@dataclass
class ModelInfo:
    """The model signature (``framework``, ``inputs``, ``outputs``: tensor specs as dicts) and its ``source``."""

    framework: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("framework", "inputs", "outputs", "source")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(
            str(data["framework"]),
            [dict(s) for s in data.get("inputs", [])],
            [dict(s) for s in data.get("outputs", [])],
            data.get("source"),
            _split(data, cls._KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "inputs": [dict(s) for s in self.inputs],
            "outputs": [dict(s) for s in self.outputs],
            "source": self.source,
            **self.extra,
        }

    @property
    def input_names(self) -> list[str]:
        """The model's input slots, in call order."""
        return [str(s["name"]) for s in self.inputs]


@dataclass
class PredictionInfo:
    """A model output: ``name``, its class ``labels`` (None for a non-classification output) and its :attr:`kind`.

    ``kind`` (kept in ``extra``, so that a manifest round-trips key for key) is one of
    ``PREDICTION_KINDS`` (``class``, ``multilabel``, ``dense``, ``boxes``, ``regression``) as resolved
    by the integration test; runs written before kinds existed have none (see :attr:`resolved_kind`).
    """

    name: str
    labels: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionInfo:
        labels = data.get("labels")
        return cls(str(data["name"]), list(labels) if labels is not None else None, _split(data, ("name", "labels")))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "labels": None if self.labels is None else list(self.labels), **self.extra}

    @property
    def kind(self) -> str | None:
        """The stored kind (None in runs written before kinds existed)."""
        kind = self.extra.get("kind")
        return None if kind is None else str(kind)

    @property
    def resolved_kind(self) -> str | None:
        """:attr:`kind`; for an old run without one, ``class`` when the prediction has labels, else None (unknown)."""
        return self.kind or ("class" if self.labels else None)


@dataclass
class SubsetInfo:
    """Samples evaluated (``count``), samples the subset holds (``total``) and the type of its ids (``int``/``str``)."""

    count: int
    total: int
    id_type: str = "str"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubsetInfo:
        return cls(
            int(data["count"]),
            int(data["total"]),
            str(data.get("id_type", "str")),
            _split(data, ("count", "total", "id_type")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total": self.total, "id_type": self.id_type, **self.extra}

    def sample_key(self, sample_id: str | int) -> str | int:
        """A sample id in its original type (runs store ids as text)."""
        return int(sample_id) if self.id_type == "int" else str(sample_id)


@dataclass
class LatentSpaceInfo:
    layer: str
    pool: str = "mean"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatentSpaceInfo:
        return cls(str(data["layer"]), str(data.get("pool", "mean")), _split(data, ("layer", "pool")))

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "pool": self.pool, **self.extra}


@dataclass
class Manifest:
    """``manifest.json`` of a run (see the module docstring for the round-trip guarantee).

    Raises :class:`KeyError` / :class:`TypeError` from :meth:`from_dict` for a manifest missing
    a required key (``Run.typed_manifest`` turns that into :class:`CorruptStorageError`).
    """

    run_id: str
    project: str
    version: str
    integration: IntegrationInfo
    wiring: list[WiringEdge]
    model: ModelInfo
    predictions: list[PredictionInfo]
    subsets: dict[str, SubsetInfo]
    latent_spaces: dict[str, LatentSpaceInfo] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    unlabeled_subsets: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = (
        "run_id",
        "project",
        "version",
        "integration",
        "wiring",
        "model",
        "predictions",
        "subsets",
        "latent_spaces",
        "config",
        "unlabeled_subsets",
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        for key in cls._KEYS[:8]:
            _require(data, key, "manifest.json")
        return cls(
            run_id=str(data["run_id"]),
            project=str(data["project"]),
            version=str(data["version"]),
            integration=IntegrationInfo.from_dict(data["integration"]),
            wiring=[
                WiringEdge(str(e["target"]), str(e["kind"]), str(e["argument"]), str(e["source"]))
                for e in data["wiring"]
            ],
            model=ModelInfo.from_dict(data["model"]),
            predictions=[PredictionInfo.from_dict(p) for p in data["predictions"]],
            subsets={str(k): SubsetInfo.from_dict(v) for k, v in data["subsets"].items()},
            latent_spaces={str(k): LatentSpaceInfo.from_dict(v) for k, v in data.get("latent_spaces", {}).items()},
            config=dict(data.get("config", {})),
            unlabeled_subsets=[str(s) for s in data.get("unlabeled_subsets", [])],
            extra=_split(data, cls._KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json``."""
        return {
            "run_id": self.run_id,
            "project": self.project,
            "version": self.version,
            "integration": self.integration.to_dict(),
            "wiring": [e.to_dict() for e in self.wiring],
            "model": self.model.to_dict(),
            "predictions": [p.to_dict() for p in self.predictions],
            "subsets": {k: v.to_dict() for k, v in self.subsets.items()},
            "latent_spaces": {k: v.to_dict() for k, v in self.latent_spaces.items()},
            "config": dict(self.config),
            "unlabeled_subsets": list(self.unlabeled_subsets),
            **self.extra,
        }

    def parts(self, kind: str | None = None) -> list[PartInfo]:
        """The integration's decorated functions (of one ``kind``: ``metric``, ``loss``, ``visualizer``...)."""
        return [p for p in self.integration.parts if kind is None or p.kind == kind]

    @property
    def labeled_predictions(self) -> list[PredictionInfo]:
        """Predictions with class labels, in order."""
        return [p for p in self.predictions if p.labels]

    @property
    def class_predictions(self) -> list[PredictionInfo]:
        """Predictions of kind ``class`` with labels (what a confusion matrix or label insights need), in order."""
        return [p for p in self.predictions if p.labels and p.resolved_kind == "class"]

    @property
    def class_names(self) -> list[str] | None:
        """The labels of the first labeled prediction (None when no prediction has labels)."""
        labeled = self.labeled_predictions
        return list(labeled[0].labels or []) if labeled else None

    def metric_direction(self, column: str) -> str:
        """``"higher"`` or ``"lower"``: which way the metric of ``metric_*`` column ``column`` is better.

        The first metric whose ``metric_<name>`` starts ``column`` decides; a metric returning a
        dict may declare a direction per key. Unknown columns are ``"higher"``.
        """
        for part in self.parts("metric"):
            prefix = METRIC_PREFIX + part.name
            if column.startswith(prefix):
                direction = part.get("direction", "higher")
                if isinstance(direction, Mapping):
                    return str(direction.get(column[len(prefix) + 1 :], "higher"))
                return str(direction)
        return "higher"

    def wiring_of(self) -> Wiring:
        """The run's :class:`Wiring` (model slots from the stored model signature)."""
        return Wiring.from_manifest(self)


class _Function(Protocol):
    """A decorated function (``leapscope.sdk._decorators.Decorated``): its kind and name."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Any: ...


@dataclass(frozen=True)
class Wiring:
    """How each function is called: which encoder feeds each model input, which value each parameter gets.

    Build it with :meth:`from_edges` (the traced integration test) or :meth:`from_manifest`
    (a stored run: the model's input slots are then known too).
    """

    edges: tuple[WiringEdge, ...]
    model_slots: tuple[str, ...] | None = None

    @classmethod
    def from_edges(cls, edges: Sequence[WiringEdge], model_slots: Sequence[str] | None = None) -> Wiring:
        """From traced edges; ``model_slots`` are the model input names in call order, when known."""
        return cls(tuple(edges), None if model_slots is None else tuple(model_slots))

    @classmethod
    def from_manifest(cls, manifest: Manifest | Mapping[str, Any]) -> Wiring:
        """From a stored manifest (typed, or the dict of ``manifest.json``)."""
        typed = manifest if isinstance(manifest, Manifest) else Manifest.from_dict(manifest)
        return cls(tuple(typed.wiring), tuple(typed.model.input_names))

    def model_inputs(self, slots: Sequence[str] | None = None) -> list[str]:
        """The input encoder names that feed the model, one per input slot in ``slots`` order.

        ``slots`` defaults to the model slots given at construction (a manifest's model signature).

        Raises
        ------
        ValidationError
            A slot no encoder feeds, or no slot order is known.
        """
        order = list(slots) if slots is not None else (list(self.model_slots) if self.model_slots is not None else None)
        if order is None:
            raise ValidationError(
                "the wiring does not know the model's input order",
                function="Wiring.model_inputs",
                argument="slots",
                fix="pass slots=[spec.name for spec in model.inputs], or build the wiring with Wiring.from_manifest",
            )
        fed = {
            e.argument: parse_source(e.source)[1] for e in self.edges if e.target == MODEL_TARGET and e.kind == "model"
        }
        missing = [slot for slot in order if slot not in fed]
        if missing:
            raise ValidationError(
                "the wiring does not feed every model input",
                function="integration_test",
                expected=f"model inputs {order} each fed by an input encoder",
                actual=f"unfed: {missing}",
                fix="pass every encoder output to model() in the integration test",
            )
        return [fed[slot] for slot in order]

    def arguments_of(self, fn: _Function | str, name: str | None = None, *, constants: bool = False) -> dict[str, str]:
        """``{parameter: source}`` of a metric, loss or visualizer, in traced order.

        ``fn`` is a decorated function, or its kind (``"metric"``, ``"loss"``, ``"visualizer"``)
        with ``name``. Constant arguments (``constant:<repr>``) are left out unless ``constants``.
        """
        if isinstance(fn, str):
            kind, target = fn, name or ""
        else:
            kind, target = str(getattr(fn.kind, "value", fn.kind)), fn.name
        return {
            e.argument: e.source
            for e in self.edges
            if e.kind == kind
            and e.target == target
            and e.kind != "model"
            and (constants or parse_source(e.source)[0] != CONSTANT_SOURCE)
        }
