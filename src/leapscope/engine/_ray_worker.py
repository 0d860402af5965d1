"""What one Ray actor of an evaluation does: load the integration and the model once, then evaluate whole chunks.

:class:`ChunkWorker` is a plain class; :mod:`leapscope.engine.ray_backend` turns it into a
Ray actor class. An actor imports the integration **by its path** (the same file the driver
loaded: the cluster's nodes must see it, e.g. on a shared file system), runs ``preprocess``,
loads the model and passes the integration test as the driver did, and checks that it sees
the same code, model and samples (code hash, model hash, plan digest); nothing the driver
holds is pickled into it. :meth:`ChunkWorker.evaluate` turns one chunk (subset, sample ids,
row of its first sample) into its ``samples.parquet`` rows, latent blocks and error records
(:class:`ChunkResult`) with the function a local run uses for a chunk
(:func:`leapscope.engine.chunks.evaluate_chunk`), so both produce the same rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.engine import encode
from leapscope.engine.chunks import evaluate_chunk
from leapscope.engine.config import EvaluateConfig
from leapscope.engine.encode import EncodeState, encode_batch
from leapscope.engine.plan import choose_subsets, make_plan
from leapscope.engine.rows import latent_blocks
from leapscope.engine.scoring import Scorer
from leapscope.engine.setup import prepare
from leapscope.exceptions import LeapscopeError
from leapscope.integration import load, load_subsets
from leapscope.integration._validate import ShapeTracker
from leapscope.sdk._runtime import redact, use_secret

__all__ = ["ChunkResult", "ChunkWorker", "WorkerSpec"]

#: environment variable capping onnxruntime's intra-op threads (read by leapscope.models._onnx)
ORT_THREADS_ENV = "LEAPSCOPE_ORT_THREADS"


@dataclass(frozen=True)
class WorkerSpec:
    """What an actor needs to rebuild the driver's evaluation: the integration's entry file, the run's config,
    the code hash and plan digest it must reproduce, the first sample (it fixes the reference shapes), fail-fast,
    and the CPUs Ray gave the actor (caps the model runtime's threads). Built before the driver loads the model,
    so that actors start while it does; the model hash is compared by the driver (see :meth:`ChunkWorker.ready`)."""

    entry: str
    config: dict[str, Any]
    code_hash: str
    plan_digest: str
    first_sample: tuple[str, Any] | None
    fail_fast: bool
    cpus: int = 1


@dataclass
class ChunkResult:
    """One evaluated chunk: ``table`` (``pyarrow.Table``, one row per sample, row numbers from the chunk's first
    row), ``latents`` (space -> (rows, D) float32; D is 0 for a space whose every model call failed), ``errors``
    (``pyarrow.Table`` of error records, or None) and the worker's process id."""

    index: int
    table: Any
    latents: dict[str, np.ndarray]
    errors: Any
    pid: int


class ChunkWorker:
    """One Ray actor of an evaluation (see the module docstring).

    The constructor never raises: a failure to rebuild the evaluation is kept and reported
    by :meth:`ready`, so the driver can show the integration's own error instead of Ray's
    "actor died".
    """

    def __init__(self, spec: WorkerSpec, secret: str | None):
        use_secret(secret)  # the run's AUTH_SECRET, in this process's memory only; redacted from errors and logs
        self.spec = spec
        self.scorer: Scorer | None = None
        self.failure: tuple[str, str] | None = None
        self.model_hash: str | None = None
        try:
            self.scorer, self.model_hash = self._build(spec)
        except LeapscopeError as exc:
            self.failure = (type(exc).__name__, redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises a LeapscopeError with it
            self.failure = (type(exc).__name__, redact(f"{exc}"))

    @staticmethod
    def _build(spec: WorkerSpec) -> tuple[Scorer, str]:
        os.environ.setdefault(ORT_THREADS_ENV, str(max(1, spec.cpus)))  # one runtime thread per CPU Ray gave us
        loaded = load(spec.entry)
        if loaded.code_hash != spec.code_hash:
            raise LeapscopeError(
                f"Ray worker: the integration at {spec.entry} differs from the driver's (code hash "
                f"{loaded.code_hash[:12]} != {spec.code_hash[:12]}); fix: give every node the same integration files"
            )
        config = EvaluateConfig(**spec.config)
        all_subsets = load_subsets(loaded.integration)
        plan = make_plan(choose_subsets(all_subsets, config.subsets), config)
        if plan.digest != spec.plan_digest:
            raise LeapscopeError(
                f"Ray worker: preprocess returned other samples than on the driver (plan {plan.digest} != "
                f"{spec.plan_digest}); fix: make preprocess deterministic and give every node the same data"
            )
        encode.STATE = EncodeState(loaded.integration, {s.name: s for s in all_subsets}, ShapeTracker())
        if spec.first_sample is not None:  # the reference shapes, fixed by the same sample as on the driver
            encode_batch(spec.first_sample[0], [spec.first_sample[1]])
        setup = prepare(loaded, all_subsets, config, plan)
        return Scorer(setup, spec.fail_fast), setup.model_hash

    def ready(self) -> dict[str, Any]:
        """``{"failure": None or (error type, message), "model_hash": str, "spaces": [latent space, ...]}``: what
        the driver checks before it sends chunks (the same model and latent spaces as its own)."""
        spaces = list(self.scorer.spaces) if self.scorer is not None else []
        return {"failure": self.failure, "model_hash": self.model_hash, "spaces": spaces}

    def evaluate(self, index: int, subset: str, sample_ids: list[Any], first_row: int) -> ChunkResult:
        """Encode, predict and score chunk ``index`` (``sample_ids`` of ``subset``, whose first row is ``first_row``).

        Per-sample failures are error rows, as locally; with fail-fast the first one's
        :class:`LeapscopeError` is raised (Ray hands it to the driver).
        """
        scorer = self.scorer
        if scorer is None:  # pragma: no cover - the driver never sends chunks to a worker that is not ready
            raise LeapscopeError(f"Ray worker is not ready: {self.failure}")
        batch_size = int(self.spec.config.get("batch_size") or 64)
        rows = evaluate_chunk(
            scorer, subset, sample_ids, first_row, batch_size=batch_size, fail_fast=self.spec.fail_fast
        )
        latents = latent_blocks(rows, {})  # D of this chunk; the driver conforms it to the run's
        return ChunkResult(index, rows.table(), latents, rows.error_table(), os.getpid())
