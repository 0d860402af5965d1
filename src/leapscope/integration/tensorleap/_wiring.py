"""The wiring of a Tensorleap integration: from code-loader's mapping pass or a ``leap_mapping.yaml``.

Both give the same :class:`TLWiring`: which input encoder feeds each model input slot, and for
every metric, loss and visualizer *instance* (one handler may be wired several times under
different ``user_unique_name`` s) which encoder output or prediction each argument receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from leapscope.exceptions import IntegrationLoadError

__all__ = ["MAPPING_FILE", "Call", "Source", "TLWiring", "from_connections", "from_mapping_yaml"]

MAPPING_FILE = "leap_mapping.yaml"

CallKind = Literal["metric", "loss", "visualizer"]


@dataclass(frozen=True)
class Source:
    """Where an argument comes from: ``input``/``gt`` encoder ``name``, or ``prediction`` number ``index``."""

    kind: Literal["input", "gt", "prediction"]
    name: str = ""
    index: int = 0


@dataclass
class Call:
    """One wired use of a handler: ``handler`` is its registered name, ``unique`` the instance name."""

    kind: CallKind
    handler: str
    unique: str
    args: dict[str, Source] = field(default_factory=dict)


@dataclass
class TLWiring:
    """Model input slots (encoder names in model input order) and the wired calls."""

    model_inputs: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    origin: str = "mapping pass"


_KINDS: dict[str, CallKind] = {"Visualizer": "visualizer", "Metric": "metric", "CustomLoss": "loss", "Loss": "loss"}


def _source(node: Any, where: str) -> Source:
    kind = node.type.value
    if kind == "GroundTruth":
        return Source("gt", node.name)
    if kind.startswith("Input"):
        return Source("input", node.name)
    if kind.startswith("Prediction") and kind[len("Prediction") :].isdigit():
        return Source("prediction", index=int(kind[len("Prediction") :]))
    raise IntegrationLoadError(
        f"{where}: an argument comes from a {kind} node; leapscope wires encoder outputs and model predictions only. "
        "Fix: pass input/ground-truth encoder outputs or the model's predictions to metrics, losses and visualizers"
    )


def from_connections(connections: list[Any]) -> TLWiring:
    """Read ``leap_binder.mapping_connections`` (recorded by code-loader's mapping pass)."""
    wiring = TLWiring()
    slots: dict[int, str] = {}
    seen: set[str] = set()
    for conn in connections:
        node = conn.node
        if node is None:
            continue
        kind = node.type.value
        if kind in _KINDS:
            unique = node.user_unique_name or node.name
            if unique in seen:
                continue
            seen.add(unique)
            where = f"the integration test's call of '{node.name}'"
            args = {arg: _source(src, where) for arg, src in (conn.node_inputs or {}).items() if src is not None}
            wiring.calls.append(Call(_KINDS[kind], node.name, unique, args))
        elif kind.startswith("Input") and kind[len("Input") :].isdigit() and conn.node_inputs is None:
            slots.setdefault(int(kind[len("Input") :]), node.name)
    wiring.model_inputs = [slots[i] for i in sorted(slots)]
    return wiring


def _read_mapping(path: Path) -> dict[str, Any]:
    """``leap_mapping.yaml`` as a mapping; :class:`IntegrationLoadError` when unreadable or not a mapping."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrationLoadError(f"{path}: cannot read the mapping ({exc}); fix the file") from exc
    if not isinstance(doc, dict):
        raise IntegrationLoadError(f"{path}: expected 'decorators:' and 'layers:' lists, got {type(doc).__name__}")
    return doc


def _mapping_source(
    ref: dict[str, Any],
    where: str,
    path: Path,
    by_id: dict[str, Any],
    layers: dict[str, Any],
    prediction_names: list[str],
) -> Source:
    """Where one argument of a ``leap_mapping.yaml`` node takes its value: an input, a ground truth or a prediction."""
    node = by_id.get(str(ref.get("id")))
    if node is not None:
        data = node.get("data") or {}
        kind = data.get("type") or node.get("operation")
        name = str(data.get("output_name") or ref.get("outputKey") or "")
        if kind == "Input":
            return Source("input", name)
        if kind == "GroundTruth":
            return Source("gt", name)
        raise IntegrationLoadError(
            f"{path}: {where} takes its value from a {kind} node; expected an input, ground truth or model layer"
        )
    layer = layers.get(str(ref.get("id")))
    pred = ((layer or {}).get("data") or {}).get("prediction_type")
    if pred is not None and pred in prediction_names:
        return Source("prediction", index=prediction_names.index(pred))
    if len(prediction_names) <= 1:
        return Source("prediction", index=0)
    raise IntegrationLoadError(
        f"{path}: {where} takes the output of layer {ref.get('name') or ref.get('id')!r}, which names no "
        f"prediction_type; fix: add 'prediction_type: <one of {prediction_names}>' to that layer in 'layers:'"
    )


def from_mapping_yaml(path: Path, prediction_names: list[str], input_names: list[str]) -> TLWiring:
    """Read the older ``leap_mapping.yaml`` (``decorators:`` and ``layers:`` nodes) into a wiring.

    Arguments that come from a model layer are predictions: the layer's ``prediction_type`` names which
    (by the order of ``leap_binder.add_prediction``); an unnamed layer is the only prediction.

    Raises
    ------
    IntegrationLoadError
        The file is not valid YAML or a node cannot be read.
    """
    doc = _read_mapping(path)
    decorators = [d for d in doc.get("decorators") or [] if isinstance(d, dict)]
    layers = {str(layer.get("id")): layer for layer in doc.get("layers") or [] if isinstance(layer, dict)}
    by_id = {str(d.get("id")): d for d in decorators}

    def source(ref: dict[str, Any], where: str) -> Source:
        return _mapping_source(ref, where, path, by_id, layers, prediction_names)

    wiring = TLWiring(origin=str(path))
    fed: list[str] = []
    for node in decorators:
        data = node.get("data") or {}
        kind = str(data.get("type") or node.get("operation") or "")
        if kind == "Input":
            outputs = node.get("outputs") or {}
            feeds_model = any(
                isinstance(t, dict) and str(t.get("id")) not in by_id
                for targets in outputs.values()
                for t in targets or []
            )
            if feeds_model or not outputs:
                fed.append(str(data.get("output_name")))
            continue
        if kind not in _KINDS:
            continue
        handler = str(
            data.get("name") or data.get("metric_name") or data.get("visualizer_name") or node.get("operation")
        )
        unique = str(data.get("user_unique_name") or handler)
        where = f"{kind} '{unique}'"
        args: dict[str, Source] = {}
        for arg, refs in (node.get("inputs") or {}).items():
            if refs:
                args[str(arg)] = source(refs[0], f"{where} argument '{arg}'")
        wiring.calls.append(Call(_KINDS[kind], handler, unique, args))
    order = {name: i for i, name in enumerate(input_names)}
    wiring.model_inputs = sorted(fed, key=lambda n: order.get(n, len(order)))
    return wiring
