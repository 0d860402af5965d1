"""A run's manifest (``manifest.json``): integration, wiring, model signature, subsets, latent spaces, config.

Also the model hash (which, with the code hash, names a version) and the versions of
the dependencies recorded with the run in the catalog.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapscope.integration import prediction_names
from leapscope.models import ModelWrapper
from leapscope.sdk._subset import DataState, Subset

if TYPE_CHECKING:
    from leapscope.engine.setup import Setup

__all__ = ["DEPENDENCIES", "build_manifest", "dependencies", "model_hash"]

#: packages whose installed versions are recorded with every run
DEPENDENCIES = ("leapscope", "numpy", "onnxruntime", "onnx", "torch", "keras", "pyarrow", "duckdb", "scikit-learn")


def dependencies() -> dict[str, str]:
    """Python's version and the installed version of each of :data:`DEPENDENCIES` (missing ones left out)."""
    found = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hash(source: Any, wrapper: ModelWrapper) -> str:
    """SHA-256 (hex) of the model file; of an in-memory model: its type name and, for torch, its weights."""
    if isinstance(source, Path) and source.exists():
        return _file_hash(source)
    digest = hashlib.sha256(type(source).__qualname__.encode())
    module = wrapper.torch_module() if wrapper.framework == "torch" else None
    if module is not None:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def build_manifest(setup: Setup, run_id: str, project: str, version: str) -> dict[str, Any]:
    """The JSON-ready manifest of run ``run_id`` of ``project`` / ``version``."""
    loaded, wrapper, source, all_subsets = setup.loaded, setup.wrapper, setup.source, setup.all_subsets
    integration = loaded.integration
    return {
        "run_id": run_id,
        "project": project,
        "version": version,
        "integration": {
            "root": str(loaded.root),
            "entry": str(loaded.entry),
            "code_hash": loaded.code_hash,
            **integration.describe(),
        },
        "wiring": [e.to_dict() for e in setup.wiring.edges],
        "model": wrapper.signature() | {"source": str(source) if isinstance(source, Path) else type(source).__name__},
        "predictions": [
            p.describe()
            | {"kind": setup.kinds.get(p.name, p.kind), "channel_dim": setup.class_axes.get(p.name, p.channel_dim)}
            for p in integration.predictions
        ]
        or [{"name": n, "labels": None, "kind": setup.kinds.get(n)} for n in prediction_names(integration, wrapper)],
        "subsets": _subsets(setup),
        "latent_spaces": {space: {"layer": layer, "pool": "mean"} for space, layer in setup.spaces.items()},
        "config": setup.config.to_dict(),
        "unlabeled_subsets": [s.name for s in all_subsets if s.state is DataState.UNLABELED],
    }


def _subsets(setup: Setup) -> dict[str, dict[str, Any]]:
    """Per evaluated subset: samples evaluated, samples it has, and the type of its sample ids."""
    by_name: dict[str, Subset] = {}
    for subset in setup.all_subsets:
        by_name.setdefault(subset.name, subset)
    out = {}
    for name, n in setup.plan.counts.items():
        subset = by_name[name]
        id_type = "int" if subset.sample_ids and isinstance(subset.sample_ids[0], int) else "str"
        out[name] = {"count": n, "total": len(subset), "id_type": id_type}
    return out
