"""Calling ``@tensorleap_load_model``: lenient Keras loading of tf.keras 2 files, and no TensorFlow import
just for code-loader's result check.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

from leapscope.integration.tensorleap._env import LOCK

log = logging.getLogger("leapscope.tensorleap")


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
