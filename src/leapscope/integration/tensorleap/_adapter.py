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

Where each step lives: ``_detect`` (is it a Tensorleap integration), ``_binder`` (binder state, importing
the entry), ``_handlers`` (looking through code-loader's wrappers, value conversion), ``_translation``
(registry to declarations), ``_model`` (calling ``@tensorleap_load_model``), ``_wiring`` and ``_visuals``;
this module assembles the :class:`LoadedIntegration` and the generated integration test.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from leapscope.exceptions import IntegrationLoadError
from leapscope.integration.tensorleap._binder import _Binder, _run_script
from leapscope.integration.tensorleap._detect import TENSORLEAP_CONFIG, find_tensorleap
from leapscope.integration.tensorleap._env import LOCK, import_code_loader
from leapscope.integration.tensorleap._handlers import SAMPLE_KEY, _label, _locate
from leapscope.integration.tensorleap._translation import _Translation
from leapscope.integration.tensorleap._wiring import (
    MAPPING_FILE,
    Call,
    Source,
    TLWiring,
    from_connections,
    from_mapping_yaml,
)
from leapscope.sdk._decorators import (
    Decorated,
    GroundTruthEncoder,
    InputEncoder,
    Integration,
    IntegrationTest,
    ModelLoader,
    Preprocess,
    UnlabeledPreprocess,
)
from leapscope.sdk._subset import DataState, Subset

__all__ = ["TENSORLEAP_CONFIG", "find_tensorleap", "load_tensorleap"]

log = logging.getLogger("leapscope.tensorleap")


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


def _read_wiring(root: Path, entry: Path, state: dict[str, Any]) -> TLWiring:
    """The wiring recorded by the mapping pass, else ``leap_mapping.yaml``, else none (with a warning)."""
    mapping = root / MAPPING_FILE
    if state.get("mapping_connections") and state.get("integration_test_func") is not None:
        return from_connections(state["mapping_connections"])
    if mapping.exists():
        return from_mapping_yaml(
            mapping,
            [p.name for p in state["setup_container"].prediction_types],
            [h.name for h in state["setup_container"].inputs],
        )
    log.warning(
        "%s has no @tensorleap_integration_test and no %s: only encoders and metadata are used",
        entry,
        MAPPING_FILE,
    )
    return TLWiring(origin="no wiring")


def _generated_test(
    tr: _Translation,
    integration: Integration,
    model: ModelLoader,
    wiring: TLWiring,
    calls: list[tuple[Call, Decorated]],
) -> IntegrationTest:
    """The integration test replaying ``wiring``; adds the hidden sample-key input where one is needed."""
    encoders = dict(tr.encoders)
    if tr.sample_key is not None:
        encoders[SAMPLE_KEY] = tr.sample_key
        integration.input_encoders[SAMPLE_KEY] = tr.sample_key
    test = IntegrationTest(_integration_test(wiring, encoders, tr.gts, model, calls))
    test.__name__ = (
        "integration_test [from @tensorleap_integration_test]"
        if wiring.origin == "mapping pass"
        else f"integration_test [from {MAPPING_FILE}]"
    )
    return test


def _import_entry(root: Path, entry: Path, helpers: dict[str, ModuleType]) -> tuple[_Binder, dict[Any, Any]]:
    """Import the entry with a fresh binder state (the process-wide one is put back); fills ``helpers``."""
    _, _, leap_binder = import_code_loader()
    with LOCK:
        saved = leap_binder.__dict__
        try:
            results, state = _run_script(root, entry, leap_binder, helpers)
        finally:
            leap_binder.__dict__ = saved
    return _Binder(leap_binder, state), results


def _set_preprocesses(tr: _Translation, integration: Integration, state: dict[str, Any]) -> None:
    """The preprocess (labelled subsets) and, where code-loader has one, the unlabeled preprocess."""
    integration.preprocess = _locate(
        Preprocess(lambda: tr.subsets(False)),
        state["setup_container"].preprocess.function,
        _label("tensorleap_preprocess", None, state["setup_container"].preprocess.function),
    )  # type: ignore[assignment]
    if "unlabeled" in tr.responses:
        integration.unlabeled_preprocess = UnlabeledPreprocess(lambda: tr.subsets(True))


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
    helpers: dict[str, ModuleType] = {}
    binder, results = _import_entry(root, entry, helpers)
    state = binder.state
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
        integration.latent_spaces = tr.latent_spaces()  # @tensorleap_custom_latent_space -> @ls.latent_space
        wiring = _read_wiring(root, entry, state)
        integration.visualizers, integration.metrics, integration.losses, calls = tr.wired(wiring)
        integration.model_loader = tr.model_loader(_find_load_model(binder, helpers), wiring)
    _set_preprocesses(tr, integration, state)
    integration.integration_test = _generated_test(tr, integration, integration.model_loader, wiring, calls)
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
