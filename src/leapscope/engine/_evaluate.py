"""Evaluate: stream every sample through the integration and the model into a run.

Pipeline (one chunk = ``chunk_size`` samples of one subset, split in batches):

    workers (processes)      parent
    encode_batch ──────────▶ model.predict_with_latent ─▶ metrics, losses (batched)
                             ─▶ rows ─▶ chunk parts (Parquet, .npy) ─▶ progress.json

Memory is bounded by the batches in flight and one chunk of rows; the merged
latent array is the only thing that grows with N (and it is written through a
memory map). A killed run resumes from its last durable chunk.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import hashlib
import importlib.metadata
import logging
import multiprocessing
import os
import platform
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leapscope.engine import _encode
from leapscope.engine._encode import EncodedBatch, EncodeState, encode_batch
from leapscope.exceptions import DiskFullError, LeapscopeError, ModelError, StoreError, ValidationError
from leapscope.integration import (
    MODEL_TARGET,
    LoadedIntegration,
    WiringEdge,
    call_user,
    load,
    load_subsets,
    prediction_names,
    resolve_model_source,
    run_integration_test,
)
from leapscope.integration._validate import ShapeTracker, fn_label, validate_per_sample, validate_predictions
from leapscope.models import ModelWrapper
from leapscope.models import load as load_model
from leapscope.sdk._decorators import Decorated, Integration
from leapscope.sdk._runtime import SECRET_ENV, redact, with_secret_file
from leapscope.sdk._subset import DataState, Subset
from leapscope.store import (
    MANIFEST_FILE,
    SAMPLES_FILE,
    Run,
    RunLock,
    RunLockedError,
    RunWriter,
    Workspace,
    space_name,
    summarize,
    write_json,
)

__all__ = ["EvaluateConfig", "evaluate"]

logger = logging.getLogger("leapscope.engine")

#: vectors longer than this are not stored per sample (a segmentation mask would bloat the table)
MAX_STORED_VALUES = 4096
DEPENDENCIES = ("leapscope", "numpy", "onnxruntime", "onnx", "torch", "keras", "pyarrow", "duckdb", "scikit-learn")


@dataclass
class EvaluateConfig:
    """What defines a run's content; stored in the catalog and reused on resume."""

    subsets: list[str] | None = None
    max_samples: int | None = None
    batch_size: int = 64
    chunk_size: int = 1024
    latent: list[str] | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Plan:
    """The ordered samples of a run: chunks of one subset each."""

    chunks: list[tuple[str, list[Any]]]
    counts: dict[str, int]
    digest: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _make_plan(subsets: Sequence[Subset], config: EvaluateConfig) -> _Plan:
    chunks: list[tuple[str, list[Any]]] = []
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    for subset in subsets:
        ids = subset.sample_ids[: config.max_samples] if config.max_samples else subset.sample_ids
        counts[subset.name] = len(ids)
        digest.update(f"{subset.name}:{len(ids)}:".encode())
        digest.update(repr(ids).encode())
        for start in range(0, len(ids), config.chunk_size):
            chunks.append((subset.name, ids[start : start + config.chunk_size]))
    return _Plan(chunks, counts, digest.hexdigest()[:16])


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_hash(source: Any, wrapper: ModelWrapper) -> str:
    if isinstance(source, Path) and source.exists():
        return _file_hash(source)
    digest = hashlib.sha256(type(source).__qualname__.encode())
    module = wrapper.torch_module() if wrapper.framework == "torch" else None
    if module is not None:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def _dependencies() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _pid_alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return bool(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


# --- wiring ---------------------------------------------------------------------


@dataclass
class _Wiring:
    """How evaluate calls each function, derived from the traced integration test."""

    model_inputs: list[str]
    arguments: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_edges(cls, edges: Sequence[WiringEdge], wrapper: ModelWrapper) -> _Wiring:
        slots = {e.argument: e.source.split(":", 1)[1] for e in edges if e.target == MODEL_TARGET and e.kind == "model"}
        order = [s.name for s in wrapper.inputs]
        missing = [slot for slot in order if slot not in slots]
        if missing:
            raise ValidationError(
                "the wiring does not feed every model input",
                function="integration_test",
                expected=f"model inputs {order} each fed by an input encoder",
                actual=f"unfed: {missing}",
                fix="pass every encoder output to model() in the integration test",
            )
        wiring = cls([slots[slot] for slot in order])
        for e in edges:
            if e.kind != "model" and not e.source.startswith("constant:"):
                wiring.arguments.setdefault((e.kind, e.target), {})[e.argument] = e.source
        return wiring


def _call_batched(
    fn: Decorated, wiring: _Wiring, arrays: dict[str, np.ndarray], batch: int, subset: str, sample_ids: Sequence[Any]
) -> tuple[dict[str, np.ndarray] | None, list[tuple[int, str, str]]]:
    """Call a metric or loss on a batch; on failure find the failing samples one by one."""
    sources = wiring.arguments.get((fn.kind.value, fn.name), {})
    if any(src not in arrays for src in sources.values()):
        return None, []  # e.g. a ground truth on an unlabeled subset
    kwargs = {param: arrays[src] for param, src in sources.items()}
    try:
        value = call_user(functools.partial(fn.function, **kwargs), name=fn_label(fn), subset=subset)
        result = validate_per_sample(fn, value, batch=batch, subset=subset, sample_id=None)
    except LeapscopeError:
        if batch == 1:
            raise
        return _call_per_sample(fn, kwargs, batch, subset, sample_ids)
    if isinstance(result, list):  # confusion-matrix elements are not stored per sample
        return None, []
    return result, []


def _call_per_sample(
    fn: Decorated, kwargs: dict[str, np.ndarray], batch: int, subset: str, sample_ids: Sequence[Any]
) -> tuple[dict[str, np.ndarray] | None, list[tuple[int, str, str]]]:
    columns: dict[str, np.ndarray] = {}
    errors: list[tuple[int, str, str]] = []
    for i in range(batch):
        one = {k: v[i : i + 1] for k, v in kwargs.items()}
        try:
            value = call_user(functools.partial(fn.function, **one), name=fn_label(fn), subset=subset, sample_id=sample_ids[i])
            result = validate_per_sample(fn, value, batch=1, subset=subset, sample_id=sample_ids[i])
        except LeapscopeError as exc:
            errors.append((i, fn_label(fn), str(exc)))
            continue
        if isinstance(result, list):
            return None, []
        for key, arr in result.items():
            columns.setdefault(key, np.full(batch, np.nan, np.float32))[i] = arr[0]
    return columns, errors


# --- rows ---------------------------------------------------------------------


class _ChunkRows:
    """One chunk being assembled: pyarrow column segments per batch, latent blocks, errors."""

    def __init__(self, spaces: list[str]):
        self.segments: dict[str, list[Any]] = {}
        self.latents: dict[str, list[np.ndarray]] = {s: [] for s in spaces}
        self.errors: list[dict[str, Any]] = []
        self.n = 0

    def add(self, columns: dict[str, Any], size: int) -> None:
        """Append one batch's columns (pyarrow arrays of length ``size``)."""
        import pyarrow as pa

        for name in set(self.segments) - set(columns):  # a column this batch lacks
            columns[name] = pa.nulls(size)
        for name, array in columns.items():
            if name not in self.segments:
                self.segments[name] = [pa.nulls(self.n)] if self.n else []  # a column first seen mid-chunk
            self.segments[name].append(array)
        self.n += size

    def table(self) -> Any:
        import pyarrow as pa

        data = {}
        for name, parts in self.segments.items():
            types = {p.type for p in parts if p.type != pa.null()}
            if len(types) > 1:  # e.g. int metadata in one batch, float in another: let arrow promote
                data[name] = pa.array([v for p in parts for v in p.to_pylist()])
            else:
                target = types.pop() if types else pa.null()
                data[name] = pa.concat_arrays([p.cast(target) for p in parts])
        return pa.table(data)

    def error_table(self) -> Any:
        import pyarrow as pa

        if not self.errors:
            return None
        return pa.Table.from_pylist(self.errors)


def _vectors(values: np.ndarray, ok: np.ndarray, size: int) -> Any:
    """(n_ok, ...) arrays -> a list<float32> column of ``size`` rows, null where not ok."""
    import pyarrow as pa

    flat = np.asarray(values, np.float32).reshape(len(values), -1)
    full = np.zeros((size, flat.shape[1]), np.float32)
    full[ok] = flat
    offsets = np.arange(size + 1, dtype=np.int32) * flat.shape[1]
    mask = np.ones(size, bool)
    mask[ok] = False
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(full.ravel()), mask=pa.array(mask))


def _scalars(values: np.ndarray, ok: np.ndarray, size: int, valid: np.ndarray | None = None) -> Any:
    """(n_ok,) values -> a column of ``size`` rows, null where not ok (or not ``valid``)."""
    import pyarrow as pa

    full = np.zeros(size, values.dtype if values.dtype.kind in "fiub" else object)
    full[ok] = values
    mask = np.ones(size, bool)
    mask[ok] = False if valid is None else ~valid
    return pa.array(full, mask=mask)


class _Evaluation:
    def __init__(
        self,
        loaded: LoadedIntegration,
        wrapper: ModelWrapper,
        wiring: _Wiring,
        spaces: dict[str, str],
        config: EvaluateConfig,
        fail_fast: bool,
    ):
        self.loaded, self.integration = loaded, loaded.integration
        self.wrapper, self.wiring, self.spaces, self.config, self.fail_fast = wrapper, wiring, spaces, config, fail_fast
        self.predictions = prediction_names(self.integration, wrapper)
        self.labels = {p.name: p.labels for p in self.integration.predictions if p.labels}
        loader = self.integration.model_loader
        self.model_label = fn_label(loader) if loader is not None else "model"

    def rows_for(self, batch: EncodedBatch, rows: _ChunkRows, first_row: int) -> None:
        """Predict, score and add one encoded batch to the chunk (vectorised per batch)."""
        import pyarrow as pa

        size, n_ok = len(batch.sample_ids), len(batch.ok)
        ok = np.asarray(batch.ok, dtype=np.int64)
        ok_ids = [batch.sample_ids[i] for i in batch.ok]
        errors: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
        for position, function, message in batch.errors:
            errors[position].append((function, message))
        preds: dict[str, np.ndarray] = {}
        latents: dict[str, np.ndarray] = {}
        if n_ok:
            inputs = [batch.inputs[name] for name in self.wiring.model_inputs]
            try:
                if self.spaces:
                    outputs, acts = self.wrapper.predict_with_latent(inputs, list(self.spaces.values()))
                    latents = {space: acts[layer] for space, layer in self.spaces.items()}
                else:
                    outputs = self.wrapper.predict(inputs)
                preds = dict(zip(self.predictions, outputs, strict=True))
            except LeapscopeError as exc:
                if self.fail_fast:
                    raise
                for i in batch.ok:
                    errors[i].append(("model", str(exc)))
        # a sample with a NaN/inf prediction is a model error: no prediction, label, metric or loss for it
        keep = np.ones(n_ok, bool)
        bad = validate_predictions(self.model_label, preds, subset=batch.subset, sample_ids=ok_ids) if preds else {}
        for i in sorted(bad):
            if self.fail_fast:
                raise bad[i]
            errors[batch.ok[i]].append((self.model_label, str(bad[i])))
            keep[i] = False
        scored, scored_ids = ok, ok_ids
        arrays = {f"input:{k}": v for k, v in batch.inputs.items()}
        arrays.update({f"gt:{k}": v for k, v in batch.gts.items()})
        if bad:  # copy the arrays of the finite samples only when some are not
            scored, scored_ids = ok[keep], [sid for sid, k in zip(ok_ids, keep, strict=True) if k]
            preds = {k: v[keep] for k, v in preds.items()} if keep.any() else {}
            arrays = {k: v[keep] for k, v in arrays.items()}
        arrays.update({f"prediction:{k}": v for k, v in preds.items()})
        start = first_row + rows.n
        columns: dict[str, Any] = {
            "row": pa.array(np.arange(start, start + size, dtype=np.int64)),
            "subset": pa.array([batch.subset] * size, pa.string()),
            "sample_id": pa.array([str(i) for i in batch.sample_ids], pa.string()),
            "input_hash": pa.array(batch.input_hashes, pa.string()),
        }
        for name, arr in batch.gts.items():
            self._vector_columns(columns, f"gt_{name}", arr, ok, size)
        for name, arr in preds.items():
            self._vector_columns(columns, f"pred_{name}", arr, scored, size, self.labels.get(name))
        if preds:
            for prefix, group in (("loss", self.integration.losses), ("metric", self.integration.metrics)):
                for name, fn in group.items():
                    try:
                        result, fails = _call_batched(fn, self.wiring, arrays, len(scored), batch.subset, scored_ids)
                    except LeapscopeError as exc:
                        if self.fail_fast:
                            raise
                        result, fails = None, [(0, fn_label(fn), str(exc))]
                    for i, function, message in fails:
                        if self.fail_fast:
                            raise ValidationError(message, function=function, subset=batch.subset, sample_id=scored_ids[i])
                        errors[int(scored[i])].append((function, message))
                    for key, arr in (result or {}).items():
                        column = f"{prefix}_{name}" + (f"_{key}" if key else "")
                        columns[column] = _scalars(arr.astype(np.float64), scored, size, np.asarray(np.isfinite(arr)))
        for key in dict.fromkeys(k for meta in batch.metadata for k in meta):
            columns[key] = pa.array([meta.get(key) for meta in batch.metadata])
        messages: list[str | None] = [None] * size
        for position, sample_errors in errors.items():
            messages[position] = "; ".join(f"{f}: {m.splitlines()[0]}" for f, m in sample_errors)
            for function, message in sample_errors:
                rows.errors.append(
                    {"row": start + position, "subset": batch.subset, "sample_id": str(batch.sample_ids[position]),
                     "function": redact(function), "message": redact(message)}
                )
        columns["error"] = pa.array(messages, pa.string())
        failed = np.asarray(sorted(errors), dtype=np.int64)
        for space in self.spaces:
            dim = latents[space].shape[1] if space in latents else 0
            block = np.full((size, dim), np.nan, np.float32)
            if space in latents:
                block[ok] = latents[space]
                block[failed] = np.nan  # a sample whose metric failed is an error row: no latent either
            rows.latents[space].append(block)
        rows.add(columns, size)

    def _vector_columns(
        self, columns: dict[str, Any], name: str, values: np.ndarray, ok: np.ndarray, size: int, labels: list[str] | None = None
    ) -> None:
        import pyarrow as pa

        per_sample = int(np.prod(values.shape[1:], dtype=np.int64))
        if per_sample > MAX_STORED_VALUES:
            return
        columns[name] = _vectors(values, ok, size)
        if labels is None and name.startswith("gt_"):
            labels = next((lab for lab in self.labels.values() if len(lab) == per_sample), None)
        if labels is None or per_sample != len(labels):
            return
        flat = values.reshape(len(values), -1)
        names = np.asarray(labels, dtype=object)[flat.argmax(1)]
        label_column = _scalars(names, ok, size, np.asarray(flat.any(axis=1)))
        columns[name + "_label"] = label_column.cast(pa.string()) if label_column.type != pa.null() else pa.nulls(size, pa.string())
        if name.startswith("pred_"):
            columns[name + "_score"] = _scalars(flat.max(1).astype(np.float64), ok, size)


def _latent_blocks(rows: _ChunkRows, dims: dict[str, int]) -> dict[str, np.ndarray]:
    out = {}
    for space, blocks in rows.latents.items():
        dim = dims.get(space) or max((b.shape[1] for b in blocks), default=0)
        dims[space] = dim
        out[space] = np.concatenate([b if b.shape[1] == dim else np.full((len(b), dim), np.nan, np.float32) for b in blocks])
    return out


def _batches(ids: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@with_secret_file  # AUTH_SECRET is set for this call only, then restored
def evaluate(
    path: str | Path | LoadedIntegration,
    *,
    model: str | Path | None = None,
    workspace: str | Path | Workspace | None = None,
    project: str | None = None,
    version: str | None = None,
    subsets: Sequence[str] | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    latent: Sequence[str] | None = None,
    resume: str | None = None,
    max_samples: int | None = None,
    fail_fast: bool = False,
    secret_file: str | Path | None = None,
    chunk_size: int = 1024,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Run:
    """Evaluate a model version on every sample and store the run.

    Parameters
    ----------
    path : integration folder, ``.py`` file or loaded integration
    model : path, optional
        Replaces the model the integration names.
    workspace : folder or Workspace, optional
        Default ``$LEAPSCOPE_WORKSPACE`` or ``~/.leapscope``.
    project, version : str, optional
        Default: the integration's name; a version per (model hash, code hash).
    subsets : list of str, optional
        Subset states to evaluate (default all).
    batch_size : int, default 64
    workers : int, optional
        Encoding processes (default: one per CPU core; 0 encodes in this process).
    latent : list of str, optional
        Layers whose pooled activations are stored (default: the model's default latent layer).
    resume : str, optional
        A run id to continue; without it, a killed run of the same version and
        config is resumed automatically.
    max_samples : int, optional
        Evaluate only the first N samples of each subset.
    fail_fast : bool
        Stop at the first failing sample instead of recording it.
    secret_file : path, optional
        Its content is exposed to the integration as ``AUTH_SECRET`` (never stored).
    chunk_size : int, default 1024
        Samples per checkpoint.
    on_progress : callable(subset, done, total), optional

    Returns
    -------
    Run
        The completed run. Raises :class:`LeapscopeError` subclasses for an invalid
        integration, a failed run, or a resume that does not match.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    loaded = path if isinstance(path, LoadedIntegration) else load(path)
    integration = loaded.integration
    all_subsets = load_subsets(integration)

    config = EvaluateConfig(
        subsets=list(subsets) if subsets else None,
        max_samples=max_samples,
        batch_size=batch_size,
        chunk_size=chunk_size,
        latent=list(latent) if latent else None,
        model=str(Path(model).resolve()) if model else None,
    )
    resumed = ws.catalog.run(resume) if resume else None
    if resumed is not None:
        if resumed.status == "complete":
            return ws.open_run(resumed.id)
        config = EvaluateConfig(**resumed.config)
    chosen = _choose_subsets(all_subsets, config.subsets)
    plan = _make_plan(chosen, config)
    lock: RunLock | None = None  # held from choosing the run until its status is final

    # one encoder per core: measured fastest on 2 cores (the parent mostly waits on encoded batches)
    n_workers = max(1, os.cpu_count() or 1) if workers is None else workers
    executor = _start_workers(integration, all_subsets, n_workers, plan)
    try:
        source = resolve_model_source(loaded, config.model)
        wrapper = load_model(source)
        report = run_integration_test(loaded, lambda _: wrapper, samples=1, model_source=source, subsets=all_subsets)
        if not report.valid:
            failing = [p for p in report.parts if p.status == "fail"]
            first = failing[0].error or {} if failing else {}
            raise ValidationError(
                f"the integration test fails ({', '.join(p.part for p in failing)}); evaluate needs a valid integration",
                function=first.get("function"),
                subset=first.get("subset"),
                sample_id=first.get("sample_id"),
                actual=str(first.get("message", "")).splitlines()[0] if first else None,
                fix=f"run `leapscope check {loaded.root}` and fix the parts marked ✗",
            )
        wiring = _Wiring.from_edges(report.wiring, wrapper)
        spaces = _latent_spaces(wrapper, config.latent)
        model_hash = _model_hash(source, wrapper)
        proj = ws.catalog.project(project or integration.name)
        ver = ws.catalog.version(proj, model_hash=model_hash, code_hash=loaded.code_hash, name=version)
        if resumed is None:
            resumed, lock = _find_resumable(ws, ver.id, config)
        if resumed is not None:
            if resumed.version_id != ver.id:
                raise StoreError(
                    f"run {resumed.id} was started with another model or integration code; fix: evaluate without "
                    "--resume to start a new run"
                )
            run_id = resumed.id
            lock = lock or RunLock(ws.run_dir(run_id)).acquire()  # RunLockedError: "run RID is being evaluated by pid N"
            if ws.catalog.run(run_id).status == "complete":  # finished meanwhile by the process that held the lock
                lock.release()
                return ws.open_run(run_id)
            ws.catalog.update_run(run_id, pid=os.getpid(), status="running", error=None)
        else:
            run_id = _new_run_id()
            lock = RunLock(ws.run_dir(run_id)).acquire()  # before the catalog row: no other process may resume it
            ws.catalog.create_run(run_id, ver, config.to_dict(), _dependencies(), os.getpid())
        run_dir = ws.run_dir(run_id)
        manifest = _manifest(loaded, wrapper, source, report.wiring, spaces, plan, all_subsets, config, run_id, proj.name, ver.name)
        write_json(run_dir / MANIFEST_FILE, manifest)
        started = time.time()
        try:
            counts = _run_chunks(
                _Evaluation(loaded, wrapper, wiring, spaces, config, fail_fast),
                executor,
                plan,
                run_dir,
                config,
                on_progress,
                read_ahead=2 * max(1, n_workers),
            )
        except BaseException as exc:
            _record_failure(ws, run_id, exc)
            raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        _encode.STATE = None

    try:
        status = "failed" if counts["failed"] == counts["samples"] else "complete"
        summary = _summary(run_dir) if status == "complete" else {}
        ws.catalog.update_run(
            run_id, status=status, finished_at=time.time(), seconds=time.time() - started, counts=counts, summary=summary,
            error=None if status == "complete" else "every sample failed; see errors.parquet",
        )
    except BaseException as exc:  # never leave a run 'running' forever (it would be re-evaluated on every retry)
        _record_failure(ws, run_id, exc)
        raise
    finally:
        lock.release()
    run = ws.open_run(run_id)
    if status == "failed":
        raise StoreError(f"run {run_id} failed: every one of its {counts['samples']} samples failed; see `{run_dir}/errors.parquet`")
    return run


def _choose_subsets(all_subsets: list[Subset], names: list[str] | None) -> list[Subset]:
    if not names:
        return all_subsets
    by_name = {s.name: s for s in all_subsets}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValidationError(
            "unknown subset",
            function="evaluate",
            argument="subsets",
            expected=f"some of {list(by_name)}",
            actual=str(unknown),
            fix="name subsets the integration's preprocess returns",
        )
    return [by_name[n] for n in names]


def _start_workers(integration: Integration, subsets: list[Subset], n_workers: int, plan: _Plan) -> cf.ProcessPoolExecutor | None:
    tracker = ShapeTracker()
    _encode.STATE = EncodeState(integration, {s.name: s for s in subsets}, tracker)
    if plan.chunks:  # fix the reference shapes from the first sample so every worker checks against it
        subset, ids = plan.chunks[0]
        encode_batch(subset, ids[:1])
    if n_workers <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    # fork before the model is loaded: workers inherit the integration and subsets
    # (no second preprocess) and no runtime thread pools exist yet
    # each worker exits when this process dies (even by kill -9) and takes the run's secret
    executor = cf.ProcessPoolExecutor(
        n_workers, mp_context=multiprocessing.get_context("fork"), initializer=_encode.init_worker,
        initargs=(os.getpid(), os.environ.get(SECRET_ENV)),
    )
    cf.wait([executor.submit(os.getpid) for _ in range(n_workers)])
    return executor


def _latent_spaces(wrapper: ModelWrapper, layers: list[str] | None) -> dict[str, str]:
    if layers:
        wrapper.resolve_layers(layers)
        return {space_name(layer): layer for layer in layers}
    try:
        layer = wrapper.default_latent_layer()
    except ModelError as exc:
        logger.warning("no latent space stored: %s", exc)
        return {}
    return {space_name(layer): layer}


def _find_resumable(ws: Workspace, version_id: int, config: EvaluateConfig) -> tuple[Any, RunLock | None]:
    """The latest stopped run of this version and config, with its lock now held; else (None, None).

    A run whose lock another process holds is being evaluated, so it is skipped.
    """
    for row in reversed(ws.catalog.runs()):
        if row.version_id == version_id and row.status == "running" and row.config == config.to_dict():
            try:
                lock = RunLock(ws.run_dir(row.id)).acquire()
            except RunLockedError:
                continue
            logger.warning("resuming run %s (stopped before it completed)", row.id)
            return row, lock
    return None, None


def _record_failure(ws: Workspace, run_id: str, exc: BaseException) -> None:
    """Record why a run stopped. A full disk leaves it 'running' (resumed by the same command once space is free);
    anything else marks it 'failed' (``--resume RUN_ID`` still continues it)."""
    error = redact(f"{type(exc).__name__}: {exc}")[:2000]
    try:
        if isinstance(exc, DiskFullError):
            ws.catalog.update_run(run_id, error=error, pid=None)
        else:
            ws.catalog.update_run(run_id, status="failed", error=error, finished_at=time.time())
    except StoreError as catalog_error:  # e.g. the catalog is on the same full disk: the original error matters more
        logger.warning("could not record the failure of run %s in the catalog: %s", run_id, catalog_error)


def _run_chunks(
    evaluation: _Evaluation,
    executor: cf.ProcessPoolExecutor | None,
    plan: _Plan,
    run_dir: Path,
    config: EvaluateConfig,
    on_progress: Callable[[str, int, int], None] | None,
    read_ahead: int,
) -> dict[str, Any]:
    """Encode (in workers, ``read_ahead`` batches ahead), predict and write every chunk not done yet."""
    writer = RunWriter(run_dir)
    writer.remove_temp_files()  # of writes a killed process left behind (this process holds the run lock)
    committed = writer.committed()
    if committed is not None:  # killed after the merge was durable: only clean up
        if committed.get("plan") not in (None, plan.digest):
            raise StoreError(
                f"run {run_dir.name} cannot resume: its merged files belong to another plan ({committed['plan']} != "
                f"{plan.digest}); fix: evaluate without --resume to start a new run"
            )
        record = writer.finalize(len(plan.chunks), list(evaluation.spaces), plan.digest)
        return {"samples": plan.total, "failed": int(record["failed"]), "subsets": plan.counts}
    progress = writer.progress()
    if progress.get("plan") not in (None, plan.digest):
        raise StoreError(
            f"run {run_dir.name} cannot resume: the subsets changed since it started (plan {progress['plan']} != "
            f"{plan.digest}); fix: evaluate without --resume to start a new run"
        )
    done = {int(k): v for k, v in progress["chunks"].items()}
    dims: dict[str, int] = progress.get("dims", {})
    first_rows = np.cumsum([0] + [len(ids) for _, ids in plan.chunks])
    per_subset_done: dict[str, int] = collections.Counter()
    for index in done:
        per_subset_done[plan.chunks[index][0]] += len(plan.chunks[index][1])
    if on_progress:
        for subset, total in plan.counts.items():
            on_progress(subset, per_subset_done[subset], total)

    todo = [(i, subset, ids) for i, (subset, ids) in enumerate(plan.chunks) if i not in done]
    batch_jobs = [(i, subset, b) for i, subset, ids in todo for b in _batches(ids, config.batch_size)]
    results = _encoded_stream(executor, batch_jobs, evaluation.fail_fast, read_ahead)
    current: int | None = None
    rows: _ChunkRows | None = None
    for (index, subset, batch_ids), encoded in zip(batch_jobs, results, strict=True):
        if index != current:
            current, rows = index, _ChunkRows(list(evaluation.spaces))
        assert rows is not None  # noqa: S101 - set on the first batch of every chunk
        evaluation.rows_for(encoded, rows, int(first_rows[index]))
        per_subset_done[subset] += len(batch_ids)
        if on_progress:
            on_progress(subset, per_subset_done[subset], plan.counts[subset])
        if rows.n == len(plan.chunks[index][1]):
            errors = rows.error_table()
            writer.write_chunk(index, rows.table(), _latent_blocks(rows, dims), errors, {"plan": plan.digest, "dims": dims})
            done[index] = {"rows": rows.n, "errors": 0 if errors is None else errors.num_rows}
    record = writer.finalize(len(plan.chunks), list(evaluation.spaces), plan.digest)  # idempotent: see RunWriter
    return {"samples": plan.total, "failed": int(record["failed"]), "subsets": plan.counts}


def _encoded_stream(
    executor: cf.ProcessPoolExecutor | None, jobs: list[tuple[int, str, list[Any]]], fail_fast: bool, read_ahead: int
) -> Iterator[EncodedBatch]:
    if executor is None:
        for _, subset, ids in jobs:
            yield encode_batch(subset, ids, fail_fast)
        return
    in_flight: collections.deque[cf.Future[EncodedBatch]] = collections.deque()
    pending = iter(jobs)
    depth = max(1, read_ahead)
    for _, subset, ids in pending:
        in_flight.append(executor.submit(encode_batch, subset, ids, fail_fast))
        if len(in_flight) >= depth:
            break
    while in_flight:
        result = in_flight.popleft().result()
        nxt = next(pending, None)
        if nxt is not None:
            in_flight.append(executor.submit(encode_batch, nxt[1], nxt[2], fail_fast))
        yield result


def _manifest(
    loaded: LoadedIntegration,
    wrapper: ModelWrapper,
    source: Any,
    wiring: list[WiringEdge],
    spaces: dict[str, str],
    plan: _Plan,
    all_subsets: list[Subset],
    config: EvaluateConfig,
    run_id: str,
    project: str,
    version: str,
) -> dict[str, Any]:
    integration = loaded.integration
    id_types = {s.name: ("int" if s.sample_ids and isinstance(s.sample_ids[0], int) else "str") for s in all_subsets}
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
        "wiring": [e.to_dict() for e in wiring],
        "model": wrapper.signature() | {"source": str(source) if isinstance(source, Path) else type(source).__name__},
        "predictions": [p.describe() for p in integration.predictions] or [{"name": n, "labels": None} for n in prediction_names(integration, wrapper)],
        "subsets": {name: {"count": n, "total": len(next(s for s in all_subsets if s.name == name)), "id_type": id_types[name]} for name, n in plan.counts.items()},
        "latent_spaces": {space: {"layer": layer, "pool": "mean"} for space, layer in spaces.items()},
        "config": config.to_dict(),
        "unlabeled_subsets": [s.name for s in all_subsets if s.state is DataState.UNLABELED],
    }


def _summary(run_dir: Path) -> dict[str, Any]:
    """Per subset: samples, failed, and the mean of every loss and metric column (see :func:`store.summarize`)."""
    return summarize(run_dir / SAMPLES_FILE)
