"""Translate code-loader's registry (``setup_container``) into leapscope declarations (encoders, metadata,
predictions, model loader, wired visualizers / metrics / losses).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.exceptions import IntegrationLoadError, ValidationError
from leapscope.integration.tensorleap._binder import _Binder
from leapscope.integration.tensorleap._handlers import (
    _DTYPES,
    SAMPLE_KEY,
    _as_type,
    _direction,
    _from_code_loader,
    _label,
    _locate,
    _metric_result,
    _name,
    _signature,
    _spr_arg,
)
from leapscope.integration.tensorleap._model import _lenient_keras_loading, _load_without_importing_tensorflow
from leapscope.integration.tensorleap._visuals import UNSUPPORTED, convert_visual, not_supported, visualizer_type
from leapscope.integration.tensorleap._wiring import (
    Call,
    Source,
    TLWiring,
)
from leapscope.sdk._decorators import (
    Decorated,
    GroundTruthEncoder,
    InputEncoder,
    Loss,
    Metadata,
    Metric,
    ModelLoader,
    Prediction,
    Visualizer,
)
from leapscope.sdk._latent import LatentSpace
from leapscope.sdk._subset import Subset

log = logging.getLogger("leapscope.tensorleap")

#: code-loader visualizer type (``LeapDataType``) -> the prediction kind a visualizer of it draws
_VISUAL_KINDS = {"ImageMask": "dense", "TextMask": "dense", "ImageWithBBox": "boxes"}


class _Translation:
    def __init__(self, root: Path, entry: Path, binder: _Binder, results: dict[Any, Any], leap_config: dict[str, Any]):
        self.root, self.entry, self.binder, self.leap_config = root, entry, binder, leap_config
        self.setup = binder.state["setup_container"]
        self.responses: dict[str, Any] = {}
        for state, response in results.items():
            name = str(getattr(state, "name", state))
            if name in ("training", "validation", "test", "unlabeled"):
                self.responses[name] = response
        self.input_dtypes: dict[str, str] = {}
        self.encoders: dict[str, InputEncoder] = {}  # by Tensorleap name
        self.gts: dict[str, GroundTruthEncoder] = {}
        self.sample_key: InputEncoder | None = None  # feeds SamplePreprocessResponse arguments
        self.dtypes_known = False  # the model's input dtypes (code-loader casts encoder outputs to them)
        self.load_model: Callable[[], Any] | None = None

    # subsets ---------------------------------------------------------------------
    def subsets(self, unlabeled: bool) -> Any:
        out = [
            Subset(name, list(response.flat_sample_ids), data=response)
            for name, response in self.responses.items()
            if (name == "unlabeled") == unlabeled
        ]
        return out[0] if unlabeled else out

    # encoders ------------------------------------------------------------------------
    def _encoder(self, handler: Any, decorator: str, is_input: bool) -> Callable[[Any, Subset], Any]:
        function = self.binder.wrap(handler.function)
        name = handler.name
        warned: list[bool] = []

        def encode(sample_id: Any, subset: Subset) -> Any:
            response = subset.data
            if getattr(response, "is_grouped", False):
                raw = function([sample_id], response)
                value = raw[0] if isinstance(raw, list) else np.asarray(raw)[0]
            else:
                value = function(sample_id, response)
            arr = np.asarray(value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) else value)
            if is_input and not self.dtypes_known:
                self._learn_dtypes_once()
            want = self.input_dtypes.get(name, "float32") if is_input else "float32"
            if arr.dtype.kind in "biuf" and arr.dtype != np.dtype(want):
                if arr.dtype != np.float32 and not warned:
                    warned.append(True)
                    log.warning(
                        "@%s('%s') returns %s; cast to %s (as Tensorleap casts it)", decorator, name, arr.dtype, want
                    )
                arr = arr.astype(want)
            return arr

        return encode

    def input_encoders(self) -> dict[str, InputEncoder]:
        for handler in self.setup.inputs:
            channel_dim = handler.channel_dim
            if channel_dim is not None and channel_dim > 0:
                channel_dim -= 1  # code-loader counts the batch axis; leapscope's axis is of one sample
            fn = self._encoder(handler, "tensorleap_input_encoder", True)
            fn.__name__ = _name(handler.name)
            enc = InputEncoder(fn, _name(handler.name), channel_dim, "float32")
            self.encoders[handler.name] = enc
            _locate(enc, handler.function, _label("tensorleap_input_encoder", handler.name, handler.function))
        return {e.name: e for e in self.encoders.values()}

    def gt_encoders(self) -> dict[str, GroundTruthEncoder]:
        for handler in self.setup.ground_truths:
            fn = self._encoder(handler, "tensorleap_gt_encoder", False)
            gt = GroundTruthEncoder(fn, _name(handler.name))
            self.gts[handler.name] = gt
            _locate(gt, handler.function, _label("tensorleap_gt_encoder", handler.name, handler.function))
        return {g.name: g for g in self.gts.values()}

    def metadata(self) -> dict[str, Metadata]:
        out: dict[str, Metadata] = {}
        names = {"float": "float", "string": "str", "int": "int", "boolean": "bool"}
        for handler in self.setup.metadata:
            kind = handler.metadata_type
            dtype = (
                names.get(str(getattr(kind, "value", ""))) if kind is not None and not isinstance(kind, dict) else None
            )
            if isinstance(kind, dict) and len({getattr(v, "value", v) for v in kind.values()}) == 1:
                dtype = names.get(str(getattr(next(iter(kind.values())), "value", "")))
            function = self.binder.wrap(handler.function)
            per_key = (
                {str(k): names.get(str(getattr(v, "value", v))) for k, v in kind.items()}
                if isinstance(kind, dict)
                else {}
            )

            def meta(
                sample_id: Any,
                subset: Subset,
                function: Callable[..., Any] = function,
                per_key: dict[str, Any] = per_key,
            ) -> Any:
                response = subset.data
                value = (
                    function([sample_id], response)[0]
                    if getattr(response, "is_grouped", False)
                    else function(sample_id, response)
                )
                if isinstance(value, np.ndarray) and value.ndim == 0:
                    value = value.item()
                if isinstance(value, dict) and per_key:  # code-loader converts each key to its declared type
                    value = {k: _as_type(v, per_key.get(k)) for k, v in value.items()}
                return value

            name = _name(handler.name)
            if name.startswith(("gt_", "pred_", "loss_", "metric_")) or name in (
                "row",
                "subset",
                "sample_id",
                "input_hash",
                "error",
            ):
                log.warning("metadata '%s' clashes with leapscope's column names; stored as 'meta_%s'", name, name)
                name = f"meta_{name}"
            md = Metadata(meta, name, dtype)
            out[md.name] = _locate(md, handler.function, _label("tensorleap_metadata", handler.name, handler.function))  # type: ignore[assignment]
        return out

    def latent_spaces(self) -> dict[str, LatentSpace]:
        """``@tensorleap_custom_latent_space`` functions computed from the dataset ``(sample_id,
        preprocess_response)`` as per-sample ``@ls.latent_space`` s (stored full width: code-loader's
        optional ``reduce`` is not applied). Model-computed and instance-aware ones are not supported yet
        (a warning; they are ignored)."""
        out: dict[str, LatentSpace] = {}
        for key, handler in (getattr(self.setup, "custom_latent_spaces", None) or {}).items():
            computed = str(getattr(handler.computed_at, "value", handler.computed_at))
            if computed != "dataset" or getattr(handler, "instance_aware", False):
                log.warning(
                    "custom latent space '%s' is computed from the model's outputs (or per instance), which leapscope "
                    "does not support yet; it is ignored",
                    getattr(handler, "name", key),
                )
                continue
            function = self.binder.wrap(handler.function)

            def space(sample_id: Any, subset: Subset, function: Callable[..., Any] = function) -> Any:
                response = subset.data
                if getattr(response, "is_grouped", False):
                    return function([sample_id], response)[0]
                return function(sample_id, response)

            latent = LatentSpace(space, _name(handler.name))
            label = _label("tensorleap_custom_latent_space", handler.name, handler.function)
            out[latent.name] = _locate(latent, handler.function, label)  # type: ignore[assignment]
        return out

    # model -------------------------------------------------------------------------
    def predictions(self, wiring: TLWiring | None = None) -> list[Prediction]:
        """code-loader's ``PredictionTypeHandler`` s (name, labels, channel_dim; code-loader has no kind) as
        :class:`Prediction` s, each with the kind hinted by the visualizers that draw it (:meth:`kind_hints`)."""
        hints = self.kind_hints(wiring) if wiring is not None else {}
        preds = []
        for i, p in enumerate(self.setup.prediction_types):
            # code-loader's default channel_dim (-1) says nothing: leapscope finds the class axis (class_axis)
            cd = p.channel_dim if isinstance(p.channel_dim, int) and p.channel_dim != -1 else None
            hint, source = hints.get(i, (None, None))
            labels = [str(label) for label in p.labels] or None
            axis = cd - 1 if cd is not None and cd > 0 else cd  # code-loader counts the batch axis
            default = "code-loader" if cd is None else None
            preds.append(
                Prediction(_name(p.name), labels, axis, kind_hint=hint, hint_source=source, axis_default_of=default)
            )
        return preds

    def kind_hints(self, wiring: TLWiring) -> dict[int, tuple[Any, str]]:
        """Prediction index -> (kind, where from) read off the visualizers wired to it: an ``ImageMask`` /
        ``TextMask`` visualizer draws a dense map, an ``ImageWithBBox`` one draws boxes. Predictions drawn
        by visualizers of different kinds, or by none of these, get no hint (their kind is inferred)."""
        handlers = self._handlers()["visualizer"]
        found: dict[int, dict[str, str]] = {}
        for call in wiring.calls:
            handler = handlers.get(call.handler) if call.kind == "visualizer" else None
            if handler is None:
                continue
            vtype = str(getattr(handler.visualizer_handler_data.type, "value", handler.visualizer_handler_data.type))
            kind = _VISUAL_KINDS.get(vtype)
            for src in call.args.values():
                if kind is not None and src.kind == "prediction":
                    found.setdefault(src.index, {}).setdefault(kind, f"the {vtype} visualizer '{call.unique}'")
        return {i: next(iter(kinds.items())) for i, kinds in found.items() if len(kinds) == 1}

    def model_loader(self, tl_load_model: Callable[[], Any] | None, wiring: TLWiring) -> ModelLoader:
        predictions = self.predictions(wiring)
        if tl_load_model is None:
            entry = self.entry

            def model_file() -> Any:
                raise ValidationError(
                    "the integration has no @tensorleap_load_model, so leapscope does not know the model",
                    function="load_model",
                    expected="a model file given on the command line (older Tensorleap integrations keep it outside the code)",
                    actual=f"no @tensorleap_load_model in {entry.name}",
                    fix=f"pass --model model.h5 (or model.onnx): `leapscope check {entry.parent} --model PATH`",
                )

            return ModelLoader(model_file, predictions)
        load = self.binder.wrap(tl_load_model)

        def model() -> Any:
            with _lenient_keras_loading():
                placeholder = _load_without_importing_tensorflow(load)
            raw = getattr(placeholder, "model", placeholder)
            self._learn_input_dtypes(raw, wiring)
            return raw  # an InferenceSession keeps its model path: leapscope takes gradients from that file

        self.load_model = model
        loader = ModelLoader(model, predictions)
        return _locate(loader, tl_load_model, _label("tensorleap_load_model", None, tl_load_model))  # type: ignore[return-value]

    def _learn_dtypes_once(self) -> None:
        """Where the model was loaded without @tensorleap_load_model (a stored run's model file, --model), ask
        the integration's own load_model once for the input dtypes the encoders' outputs are cast to."""
        self.dtypes_known = True
        if self.load_model is None:
            return
        try:
            self.load_model()
        except Exception as exc:  # noqa: BLE001 - without it the encoders keep float32, and the model says so
            log.info("could not read the model's input dtypes from @tensorleap_load_model: %s", exc)

    def _learn_input_dtypes(self, raw: Any, wiring: TLWiring) -> None:
        self.dtypes_known = True
        try:
            if hasattr(raw, "get_inputs"):
                kinds = [str(i.type) for i in raw.get_inputs()]
            else:
                kinds = [str(getattr(t, "dtype", "float32")) for t in getattr(raw, "inputs", [])]
        except Exception:  # noqa: BLE001 - unknown model kinds keep float32 inputs
            return
        order = wiring.model_inputs or [h.name for h in self.setup.inputs]
        for name, kind in zip(order, kinds, strict=False):
            dtype = _DTYPES.get(kind.replace("tensorflow.", ""))
            if dtype and name in self.encoders:
                self.input_dtypes[name] = dtype
                self.encoders[name].dtype = dtype

    # wired functions -------------------------------------------------------------------
    def _handlers(self) -> dict[str, dict[str, Any]]:
        return {
            "visualizer": {h.visualizer_handler_data.name: h for h in self.setup.visualizers},
            "metric": {h.metric_handler_data.name: h for h in self.setup.metrics},
            "loss": {h.custom_loss_handler_data.name: h for h in self.setup.custom_loss_handlers},
        }

    def wired(
        self, wiring: TLWiring
    ) -> tuple[dict[str, Visualizer], dict[str, Metric], dict[str, Loss], list[tuple[Call, Decorated]]]:
        handlers = self._handlers()
        visualizers: dict[str, Visualizer] = {}
        metrics: dict[str, Metric] = {}
        losses: dict[str, Loss] = {}
        calls: list[tuple[Call, Decorated]] = []
        for call in wiring.calls:
            handler = handlers[call.kind].get(call.handler)
            if handler is None:
                known = ", ".join(sorted(handlers[call.kind])) or "none"
                raise IntegrationLoadError(
                    f"{wiring.origin}: the {call.kind} '{call.handler}' is wired but not registered with code-loader "
                    f"(registered {call.kind}s: {known}); fix: register it (@tensorleap_custom_{call.kind if call.kind != 'loss' else 'loss'}) "
                    "or correct the name"
                )
            name = _name(call.unique)
            if call.kind == "visualizer":
                dec: Decorated = self._visualizer(handler, name, call)
                visualizers[name] = dec  # type: ignore[assignment]
            elif call.kind == "metric":
                dec = self._metric(handler, name, call)
                metrics[name] = dec  # type: ignore[assignment]
            else:
                dec = self._loss(handler, name, call)
                losses[name] = dec  # type: ignore[assignment]
            calls.append((call, dec))
        return visualizers, metrics, losses, calls

    def _arg_names(self, handler_args: list[str], call: Call) -> list[str]:
        names = [a for a in handler_args if a in call.args] or list(call.args)
        return names

    def _key_encoder(self) -> InputEncoder:
        """A hidden input that tells SamplePreprocessResponse arguments which samples a batch holds."""
        if self.sample_key is None:
            states = list(self.responses)

            def tl_sample(sample_id: Any, subset: Subset) -> np.ndarray:
                return np.asarray([states.index(subset.name), subset.position(sample_id)], dtype=np.float32)

            self.sample_key = InputEncoder(tl_sample, SAMPLE_KEY, None)
        return self.sample_key

    def _preprocess_response(self, keys: np.ndarray) -> Any:
        from code_loader.contract.datasetclasses import SamplePreprocessResponse

        keys = np.asarray(keys).reshape(-1, 2).astype(np.int64)
        states = list(self.responses)
        response = self.responses[states[int(keys[0, 0])]]
        ids = list(response.flat_sample_ids)
        return SamplePreprocessResponse(np.asarray([ids[int(k)] for k in keys[:, 1]]), response)

    def _callable(
        self, function: Any, arg_names: list[str], call: Call, prepare: Callable[[Any], Any]
    ) -> Callable[..., Any]:
        bound = self.binder.wrap(function)
        spr = _spr_arg(function)
        names = [*arg_names, SAMPLE_KEY] if spr is not None else list(arg_names)
        if spr is not None:
            self._key_encoder()
            call.args[SAMPLE_KEY] = Source("input", SAMPLE_KEY)
        signature = _signature(names)

        def run(*args: Any, **kwargs: Any) -> Any:
            values = dict(signature.bind(*args, **kwargs).arguments)
            keys = values.pop(SAMPLE_KEY, None)
            given = {k: prepare(v) for k, v in values.items()}
            if spr is not None and keys is not None:
                given[spr] = self._preprocess_response(keys)
            return bound(**given)

        run.__signature__ = signature  # type: ignore[attr-defined]
        run.__name__ = _name(call.unique)
        return run

    def _visualizer(self, handler: Any, name: str, call: Call) -> Visualizer:
        data = handler.visualizer_handler_data
        batched = _from_code_loader(handler.function)  # current decorators and defaults take a batch of one
        label = _label(
            "tensorleap_custom_visualizer" if batched else "leap_binder.set_visualizer", data.name, handler.function
        )
        leap_type = str(getattr(data.type, "value", data.type))

        def prepare(value: Any) -> Any:
            return value[None] if batched and isinstance(value, np.ndarray) else value

        run = self._callable(handler.function, self._arg_names(list(data.arg_names), call), call, prepare)

        def visual(*args: Any, **kwargs: Any) -> Any:
            if leap_type in UNSUPPORTED:
                return not_supported(f"Leap{leap_type}")
            return convert_visual(run(*args, **kwargs), function=label)

        visual.__signature__ = run.__signature__  # type: ignore[attr-defined]
        visual.__name__ = run.__name__
        if leap_type in UNSUPPORTED:
            log.warning(
                "visualizer '%s' returns Leap%s, which leapscope cannot show yet; it shows a card saying so",
                data.name,
                leap_type,
            )
        heatmap = self._heatmap(handler, batched)
        vis = Visualizer(visual, name, visualizer_type(data.type), heatmap)
        return _locate(vis, handler.function, label)  # type: ignore[return-value]

    def _heatmap(self, handler: Any, batched: bool) -> Callable[..., Any] | None:
        function = handler.heatmap_function
        if function is None:
            return None
        bound = self.binder.wrap(function)

        def heatmap(*args: Any, **kwargs: Any) -> Any:
            args = tuple(a[None] if batched and isinstance(a, np.ndarray) else a for a in args)
            return np.asarray(bound(*args, **kwargs))

        return heatmap

    def _metric(self, handler: Any, name: str, call: Call) -> Metric:
        data = handler.metric_handler_data
        label = _label("tensorleap_custom_metric", data.name, handler.function)
        run = self._callable(handler.function, self._arg_names(list(data.arg_names), call), call, lambda v: v)

        def metric(*args: Any, **kwargs: Any) -> Any:
            return _metric_result(run(*args, **kwargs))

        metric.__signature__ = run.__signature__  # type: ignore[attr-defined]
        metric.__name__ = run.__name__
        insights = data.compute_insights
        compute = any(insights.values()) if isinstance(insights, dict) else insights is not False
        m = Metric(metric, name, _direction(data.direction), compute)
        return _locate(m, handler.function, label)  # type: ignore[return-value]

    def _loss(self, handler: Any, name: str, call: Call) -> Loss:
        data = handler.custom_loss_handler_data
        label = _label("tensorleap_custom_loss", data.name, handler.function)
        run = self._callable(handler.function, self._arg_names(list(data.arg_names), call), call, lambda v: v)

        def loss(*args: Any, **kwargs: Any) -> Any:
            value = run(*args, **kwargs)
            torch = sys.modules.get("torch")
            if torch is not None and isinstance(value, torch.Tensor):  # explain runs it on tensors: keep the gradient
                return value.reshape(1) if value.ndim == 0 else value
            arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            return arr.reshape(1) if arr.ndim == 0 else arr

        loss.__signature__ = run.__signature__  # type: ignore[attr-defined]
        loss.__name__ = run.__name__
        return _locate(Loss(loss, name), handler.function, label)  # type: ignore[return-value]
