"""Load a Tensorleap integration through code-loader and translate it into leapscope's ``Integration``.

The entry file is imported by code-loader's own ``LeapLoader.exec_script`` (mapping mode on, so its
``if __name__ == "__main__"`` block does not run), which also runs ``@tensorleap_preprocess`` and the
``@tensorleap_integration_test`` once in mapping mode: ``leap_binder.mapping_connections`` then holds
the wiring graph. Older integrations register with ``leap_binder.set_*`` at import time and keep their
wiring in ``leap_mapping.yaml``.

The registry (``leap_binder.setup_container``) becomes native leapscope declarations that call the
registered handlers the way Tensorleap's platform does (``InputHandler.function(sample_id,
preprocess_response)``, metrics and losses on batches, visualizers on a batch of one for the current
decorators and on one unbatched sample for ``set_visualizer``), plus a generated integration test that
replays the recorded wiring. Everything below ``integration/`` (check, evaluate, analysis, server,
report) works on it unchanged.

code-loader keeps one process-wide ``leap_binder``; each loaded integration keeps its own binder state
and puts it in place while any of its functions runs, so two integrations in one process never see
each other's handlers or ``cache_container``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from leapscope.exceptions import IntegrationLoadError, ValidationError
from leapscope.integration._usercode import user_frame
from leapscope.integration.tensorleap._env import LOCK, import_code_loader
from leapscope.integration.tensorleap._visuals import UNSUPPORTED, convert_visual, not_supported, visualizer_type
from leapscope.integration.tensorleap._wiring import (
    MAPPING_FILE,
    Call,
    Source,
    TLWiring,
    from_connections,
    from_mapping_yaml,
)
from leapscope.sdk._builtins import ConfusionMatrixElement
from leapscope.sdk._decorators import (
    Decorated,
    GroundTruthEncoder,
    InputEncoder,
    Integration,
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
from leapscope.sdk._subset import DataState, Subset

__all__ = ["TENSORLEAP_CONFIG", "find_tensorleap", "load_tensorleap"]

log = logging.getLogger("leapscope.tensorleap")

TENSORLEAP_CONFIG = "leap.yaml"
DEFAULT_ENTRY = "leap_integration.py"
_IMPORTS_CODE_LOADER = re.compile(r"^\s*(from\s+code_loader[\s.]|import\s+code_loader\b)", re.MULTILINE)
_CODE_LOADER_DIR: str | None = None


# --- detection ------------------------------------------------------------------


def _imports_code_loader(path: Path) -> bool:
    try:
        return bool(_IMPORTS_CODE_LOADER.search(path.read_text(errors="replace")))
    except OSError:
        return False


def read_leap_yaml(root: Path) -> dict[str, Any]:
    """Parse ``leap.yaml`` (``{}`` if absent).

    Raises
    ------
    IntegrationLoadError
        Not valid YAML or not a mapping.
    """
    path = root / TENSORLEAP_CONFIG
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise IntegrationLoadError(f"{path}: not valid YAML ({exc}); fix the file") from exc
    if not isinstance(data, dict):
        raise IntegrationLoadError(
            f"{path}: expected a mapping like 'entryFile: leap_integration.py', got {type(data).__name__}"
        )
    return data


def find_tensorleap(path: Path) -> tuple[Path, Path, dict[str, Any]] | None:
    """``(root, entry, leap_yaml)`` when ``path`` is a Tensorleap integration, else ``None``.

    A folder is one when it has ``leap.yaml`` (its ``entryFile``, default ``leap_integration.py``) and no
    ``leapscope.yaml``, or when it has no native ``integration.py`` but a ``leap_integration.py`` /
    ``leap_binder.py`` that imports ``code_loader``. A ``.py`` file is one when it imports
    ``code_loader`` or is the ``entryFile`` of the ``leap.yaml`` next to it.
    """
    from leapscope.integration._loader import CONFIG_FILE
    from leapscope.integration._loader import DEFAULT_ENTRY as NATIVE_ENTRY

    if path.is_dir():
        if (path / CONFIG_FILE).exists():
            return None
        if (path / TENSORLEAP_CONFIG).exists():
            config = read_leap_yaml(path)
            return path, path / str(config.get("entryFile") or DEFAULT_ENTRY), config
        native = path / NATIVE_ENTRY
        if native.exists() and not _imports_code_loader(native):
            return None
        for name in (DEFAULT_ENTRY, "leap_binder.py", NATIVE_ENTRY):
            if (path / name).exists() and _imports_code_loader(path / name):
                return path, path / name, {}
        return None
    if path.suffix != ".py" or (path.parent / CONFIG_FILE).exists():
        return None
    config = read_leap_yaml(path.parent) if (path.parent / TENSORLEAP_CONFIG).exists() else {}
    if _imports_code_loader(path) or (config and (path.parent / str(config.get("entryFile") or DEFAULT_ENTRY)) == path):
        return path.parent, path, config
    return None


# --- binder state -----------------------------------------------------------------


class _Binder:
    """One integration's share of code-loader's process-wide ``leap_binder``."""

    def __init__(self, binder: Any, state: dict[str, Any]):
        self.binder, self.state = binder, state

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Put this integration's binder state in place for the block (re-entrant, thread-safe)."""
        with LOCK:
            previous = self.binder.__dict__
            if previous is self.state:
                yield
                return
            self.binder.__dict__ = self.state
            try:
                yield
            finally:
                self.binder.__dict__ = previous

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def bound(*args: Any, **kwargs: Any) -> Any:
            with self.active():
                return function(*args, **kwargs)

        return bound


# --- import -----------------------------------------------------------------------


def _missing_module_hint(exc: BaseException, entry: Path) -> str:
    missing = next((e for e in _chain(exc) if isinstance(e, ModuleNotFoundError)), None)
    if missing is None or not missing.name:
        return ""
    top = missing.name.split(".")[0]
    filename, lineno = user_frame(missing.__traceback__)
    where = f" (imported at {filename}:{lineno})" if filename else ""
    if top in ("tensorflow", "keras"):
        return (
            f"; the integration imports {top}{where}, which is not installed. Fix: pip install 'leapscope[tensorflow]', "
            "or give the model with --model model.h5 (leapscope reads .h5 with Keras 3 alone) and remove the import"
        )
    requirements = entry.parent / "requirements.txt"
    fix = f"pip install -r {requirements}" if requirements.exists() else f"pip install {top}"
    return f"; the integration needs the package '{top}'{where}. Fix: {fix}"


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _import_error(exc: BaseException, entry: Path, what: str) -> IntegrationLoadError:
    root_cause = list(_chain(exc))[-1]
    filename, lineno = None, None
    for e in _chain(exc):
        filename, lineno = user_frame(e.__traceback__)
        if filename:
            break
    where = f" at {filename}:{lineno}" if filename else ""
    message = str(exc).strip() or type(exc).__name__
    if root_cause is not exc and type(root_cause).__name__ not in message:
        message = f"{message} ({type(root_cause).__name__}: {root_cause})"
    return IntegrationLoadError(
        f"{what} {entry} through code-loader failed{where}: {message}"
        + (
            _missing_module_hint(exc, entry)
            or f"; fix that line (code-loader's own check, `python {entry.name}`, shows the same error)"
        )
    )


@contextlib.contextmanager
def _kept_sys_path() -> Iterator[None]:
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved  # LeapLoader appends the integration's folders; leapscope imports them itself


def _run_script(root: Path, entry: Path, binder: Any, helpers: dict[str, ModuleType]) -> tuple[dict[Any, Any], Any]:
    """Import the entry with a fresh binder state; returns (preprocess results by DataStateEnum, state)."""
    from code_loader import LeapLoader

    from leapscope.integration._loader import own_helpers

    binder.__dict__ = {}
    binder.__init__()
    loader = LeapLoader(str(root), str(entry.relative_to(root)))
    nested = own_helpers(entry.parent, helpers) if entry.parent != root else contextlib.nullcontext()
    with _kept_sys_path(), own_helpers(root, helpers), nested:
        try:
            loader.exec_script()
        except Exception as exc:
            raise _import_error(exc, entry, "importing") from exc
        try:
            results = loader._preprocess_result_cached or binder.get_preprocess_result()
        except Exception as exc:
            raise _import_error(exc, entry, "running the preprocess of") from exc
    return dict(results), binder.__dict__


# --- helpers ----------------------------------------------------------------------


def _user_function(function: Any) -> Any:
    """The user's own function behind code-loader's wrappers (``__wrapped__`` or a closure cell)."""
    global _CODE_LOADER_DIR
    if _CODE_LOADER_DIR is None:
        import code_loader

        _CODE_LOADER_DIR = str(Path(code_loader.__file__).parent)
    for _ in range(8):
        code = getattr(function, "__code__", None)
        wrapped = getattr(function, "__wrapped__", None)
        if code is None and wrapped is not None:  # functools.lru_cache around code-loader's inner function
            function = wrapped
            continue
        if code is None or not code.co_filename.startswith(_CODE_LOADER_DIR):
            return function
        if wrapped is not None:
            function = wrapped
            continue
        cells = {n: c.cell_contents for n, c in zip(code.co_freevars, function.__closure__ or (), strict=False)}
        names = ("user_function", "encoder_function", "load_model_func", "function", "inner", "_cached_inner")
        nxt = next((cells[n] for n in names if callable(cells.get(n))), None)
        if nxt is None:
            return function
        function = nxt
    return function


def _from_code_loader(function: Any) -> bool:
    """Registered by a current ``@tensorleap_*`` decorator or one of code-loader's defaults."""
    _user_function(function)  # sets _CODE_LOADER_DIR
    code = getattr(function, "__code__", None)
    return bool(code and _CODE_LOADER_DIR and code.co_filename.startswith(_CODE_LOADER_DIR))


def _label(decorator: str, handler_name: str | None, function: Any) -> str:
    user = _user_function(function)
    named = f"('{handler_name}')" if handler_name else "()"
    return f"{getattr(user, '__name__', handler_name)} [@{decorator}{named}]"


def _locate(decorated: Decorated, function: Any, label: str) -> Decorated:
    user = _user_function(function)
    code = getattr(user, "__code__", None)
    decorated.__name__ = label
    if code is not None:
        decorated.filename, decorated.lineno = code.co_filename, code.co_firstlineno
    return decorated


_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def _name(name: str) -> str:
    clean = _NAME.sub("_", str(name)).strip("_")
    return clean or "unnamed"


def _signature(names: list[str]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature(
        [inspect.Parameter(n if n.isidentifier() else f"arg_{i}", kind) for i, n in enumerate(names)]
    )


def _spr_arg(function: Any) -> str | None:
    from code_loader.utils import sample_preprocess_response_arg_name

    try:
        return sample_preprocess_response_arg_name(function)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - a function code-loader cannot inspect takes no such argument
        return None


SAMPLE_KEY = "tl_sample"

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "float32": "float32",
    "int64": "int64",
    "int32": "int32",
}


def _as_type(value: Any, dtype: str | None) -> Any:
    """A metadata value as its declared DatasetMetadataType; absent values (None, NaN, inf) stay None."""
    from code_loader.utils import is_absent_metadata_value

    if dtype is None:
        return value
    if is_absent_metadata_value(value):
        return None
    try:
        return {"int": int, "float": float, "str": str, "bool": bool}[dtype](value)
    except (TypeError, ValueError):
        return None  # code-loader stores it as missing too


class _Directions(dict):  # type: ignore[type-arg]
    """Per-key metric directions; keys code-loader was not told about default to 'lower' as there."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, "lower")


def _direction(value: Any) -> Any:
    if isinstance(value, dict):
        return _Directions({str(k): _direction(v) for k, v in value.items()})
    return "higher" if getattr(value, "value", value) == "Upward" else "lower"


# --- translation ------------------------------------------------------------------


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

    # model -------------------------------------------------------------------------
    def predictions(self) -> list[Prediction]:
        preds = []
        for p in self.setup.prediction_types:
            cd = p.channel_dim if isinstance(p.channel_dim, int) else -1
            preds.append(
                Prediction(_name(p.name), [str(label) for label in p.labels] or None, cd - 1 if cd > 0 else cd)
            )
        return preds

    def model_loader(self, tl_load_model: Callable[[], Any] | None, wiring: TLWiring) -> ModelLoader:
        predictions = self.predictions()
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
            arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            return arr.reshape(1) if arr.ndim == 0 else arr

        loss.__signature__ = run.__signature__  # type: ignore[attr-defined]
        loss.__name__ = run.__name__
        return _locate(Loss(loss, name), handler.function, label)  # type: ignore[return-value]


@contextlib.contextmanager
def _lenient_keras_loading() -> Iterator[None]:
    """While ``@tensorleap_load_model`` runs, ``(tf.)keras.models.load_model`` that fails on a tf.keras 2 file
    (an unknown compiled loss, RNN ``time_major``) is retried as leapscope loads .h5 files: ``compile=False`` and
    leapscope's compatibility layers. Nothing changes for a call that succeeds."""
    keras = sys.modules.get("keras")
    saving, models = getattr(keras, "saving", None), getattr(keras, "models", None)
    if keras is None or saving is None or models is None:
        yield
        return
    originals = (saving.load_model, models.load_model)
    original = originals[0]

    def load_model(filepath: Any, custom_objects: Any = None, compile: bool = True, **kwargs: Any) -> Any:
        try:
            return original(filepath, custom_objects=custom_objects, compile=compile, **kwargs)
        except Exception as first:  # noqa: BLE001 - any loading failure gets the lenient retry
            from leapscope.models._keras import _legacy_objects

            log.warning("keras could not load %s as saved (%s); retrying with compile=False", filepath, first)
            objects = {**_legacy_objects(keras), **(custom_objects or {})}
            try:
                return original(filepath, custom_objects=objects, compile=False, **kwargs)
            except Exception:  # noqa: BLE001 - the user's own error is the one worth showing
                raise first from None

    with LOCK:
        saving.load_model = models.load_model = load_model
        try:
            yield
        finally:
            saving.load_model, models.load_model = originals


@contextlib.contextmanager
def _tensorflow_blocked() -> Iterator[None]:
    with LOCK:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
        try:
            yield
        finally:
            if sys.modules.get("tensorflow", 0) is None:
                del sys.modules["tensorflow"]


def _load_without_importing_tensorflow(load: Callable[[], Any]) -> Any:
    """Call ``@tensorleap_load_model``: its result check imports TensorFlow (seconds) just to ask whether the
    model is a tf.keras one. An integration that never imported TensorFlow does not get it imported for that;
    if its own load_model needs TensorFlow, it is called again without the block."""
    if "tensorflow" in sys.modules:
        return load()
    try:
        with _tensorflow_blocked():
            return load()
    except ImportError as exc:
        if "tensorflow" not in str(exc):
            raise
    return load()


def _metric_value(value: Any) -> Any:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [
            [
                ConfusionMatrixElement(
                    str(e.label),
                    str(getattr(e.expected_outcome, "value", e.expected_outcome)) == "Positive",
                    float(e.predicted_probability),
                )
                for e in row
            ]
            for row in value
        ]
    if isinstance(value, list | tuple):
        return np.asarray([np.nan if v is None else float(v) for v in value], dtype=np.float32)
    arr = np.asarray(value)
    return arr.reshape(1) if arr.ndim == 0 else arr


def _metric_result(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _metric_value(v) for k, v in value.items()}
    return _metric_value(value)


# --- the generated integration test -----------------------------------------------


def _integration_test(
    wiring: TLWiring,
    encoders: dict[str, InputEncoder],
    gts: dict[str, GroundTruthEncoder],
    model: ModelLoader,
    calls: list[tuple[Call, Decorated]],
) -> Callable[[Any, Subset], None]:
    """A leapscope integration test that replays the Tensorleap wiring (encoders are keyed by Tensorleap name)."""
    from leapscope.integration._trace import TracedOutputs

    slots = [n for n in wiring.model_inputs if n in encoders] or [n for n in encoders if n != SAMPLE_KEY]

    def integration_test(sample_id: Any, subset: Subset) -> None:
        values: dict[Source, Any] = {}
        for name, enc in encoders.items():
            values[Source("input", name)] = enc(sample_id, subset)
        if subset.state is not DataState.UNLABELED:
            for name, gt in gts.items():
                values[Source("gt", name)] = gt(sample_id, subset)
        out = model()([values[Source("input", s)] for s in slots])
        predictions = list(out) if isinstance(out, list | tuple | TracedOutputs) else [out]
        for i, p in enumerate(predictions):
            values[Source("prediction", index=i)] = p
        for call, fn in calls:
            if all(src in values for src in call.args.values()):
                fn(**{arg: values[src] for arg, src in call.args.items() if arg in fn.params or arg == SAMPLE_KEY})

    integration_test.__name__ = "integration_test"
    return integration_test


def _warn_unsupported(setup: Any, entry: Path) -> None:
    """Say which registered parts leapscope does not run yet (they are ignored, never an error)."""
    parts = {
        "custom latent spaces (@tensorleap_custom_latent_space)": setup.custom_latent_spaces,
        "custom layers (@tensorleap_custom_layer)": setup.custom_layers,
        "element instances (@tensorleap_instances_masks_encoder)": setup.instance_masks,
        "simulations (@tensorleap_simulation)": setup.simulations,
        "instance metrics (@tensorleap_custom_instances_metric)": setup.instance_metrics,
        "an autoregressive step (@tensorleap_autoregressive_step)": setup.autoregressive_step,
    }
    for what, value in parts.items():
        if value:
            log.warning("%s registers %s, which leapscope does not support yet; they are ignored", entry.name, what)


def _find_load_model(binder: _Binder, helpers: dict[str, ModuleType]) -> Callable[[], Any] | None:
    """The ``@tensorleap_load_model`` function the integration test calls (or any in the integration's modules)."""
    qualname = "tensorleap_load_model.<locals>.decorating_function.<locals>.final_inner"
    test = binder.state.get("integration_test_func")
    spaces: list[dict[str, Any]] = []
    names: tuple[str, ...] = ()
    if test is not None:
        spaces.append(getattr(test, "__globals__", {}))
        names = getattr(getattr(test, "__code__", None), "co_names", ())
    spaces += [vars(m) for m in helpers.values()]
    found = [v for space in spaces for v in space.values() if getattr(v, "__qualname__", "") == qualname]
    if not found:
        return None
    for space in spaces:
        for key, value in space.items():
            if key in names and value in found:
                return value  # type: ignore[no-any-return]
    return found[0]  # type: ignore[no-any-return]


def _code_hash(root: Path, entry: Path, config: dict[str, Any]) -> str:
    digest = hashlib.sha256(entry.read_bytes())
    extra = [TENSORLEAP_CONFIG, MAPPING_FILE, *[str(p) for p in config.get("include") or [] if isinstance(p, str)]]
    for rel in sorted(set(extra)):
        path = root / rel
        if path.is_file() and path != entry:
            digest.update(rel.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def load_tensorleap(root: Path, entry: Path, leap_config: dict[str, Any]) -> Any:
    """Load a Tensorleap integration with code-loader and return a :class:`LoadedIntegration`.

    Parameters
    ----------
    root : Path
        The integration folder (``leap.yaml`` lives there).
    entry : Path
        The entry file (``entryFile`` of ``leap.yaml``, default ``leap_integration.py``).
    leap_config : dict
        The parsed ``leap.yaml`` (``{}`` without one).

    Raises
    ------
    IntegrationLoadError
        code-loader is missing, the entry does not exist, importing it or its preprocess failed
        (message: the user's file:line, code-loader's own message, and the fix), or the wiring
        names a function that is not registered.
    """
    from leapscope.integration._loader import LoadedIntegration

    if not entry.exists():
        raise IntegrationLoadError(
            f"Tensorleap entry file {entry} does not exist; fix: set 'entryFile:' in {root / TENSORLEAP_CONFIG} "
            "or create the file (`leapscope init --tensorleap DIR` writes a template)"
        )
    _, _, leap_binder = import_code_loader()
    helpers: dict[str, ModuleType] = {}
    with LOCK:
        saved = leap_binder.__dict__
        try:
            results, state = _run_script(root, entry, leap_binder, helpers)
        finally:
            leap_binder.__dict__ = saved
    binder = _Binder(leap_binder, state)
    _warn_unsupported(state["setup_container"], entry)
    tr = _Translation(root, entry, binder, results, leap_config)
    integration = Integration(
        name=str(leap_config.get("projectName") or root.name),
        source=str(entry),
        config={"entry": str(entry.relative_to(root)), "name": root.name, "tensorleap": True},
    )
    with binder.active():
        inputs = tr.input_encoders()
        gts = tr.gt_encoders()
        integration.input_encoders = inputs
        integration.gt_encoders = gts
        integration.metadata = tr.metadata()
        mapping = root / MAPPING_FILE
        if state.get("mapping_connections") and state.get("integration_test_func") is not None:
            wiring = from_connections(state["mapping_connections"])
        elif mapping.exists():
            wiring = from_mapping_yaml(
                mapping,
                [p.name for p in state["setup_container"].prediction_types],
                [h.name for h in state["setup_container"].inputs],
            )
        else:
            wiring = TLWiring(origin="no wiring")
            log.warning(
                "%s has no @tensorleap_integration_test and no %s: only encoders and metadata are used",
                entry,
                MAPPING_FILE,
            )
        integration.visualizers, integration.metrics, integration.losses, calls = tr.wired(wiring)
        integration.model_loader = tr.model_loader(_find_load_model(binder, helpers), wiring)
    integration.preprocess = _locate(
        Preprocess(lambda: tr.subsets(False)),
        state["setup_container"].preprocess.function,
        _label("tensorleap_preprocess", None, state["setup_container"].preprocess.function),
    )  # type: ignore[assignment]
    if "unlabeled" in tr.responses:
        integration.unlabeled_preprocess = UnlabeledPreprocess(lambda: tr.subsets(True))
    encoders = dict(tr.encoders)
    if tr.sample_key is not None:
        encoders[SAMPLE_KEY] = tr.sample_key
        integration.input_encoders[SAMPLE_KEY] = tr.sample_key
    test = IntegrationTest(_integration_test(wiring, encoders, tr.gts, integration.model_loader, calls))
    test.__name__ = (
        "integration_test [from @tensorleap_integration_test]"
        if wiring.origin == "mapping pass"
        else f"integration_test [from {MAPPING_FILE}]"
    )
    integration.integration_test = test
    integration.tensorleap = {"binder": binder, "wiring": wiring, "leap_yaml": leap_config}  # type: ignore[attr-defined]
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return LoadedIntegration(
        integration=integration,
        root=root,
        entry=entry,
        config=integration.config,
        code_hash=_code_hash(root, entry, leap_config),
        helper_modules=helpers,
    )
