"""The run format, defined once: column names of ``samples.parquet`` and file names of a run folder.

Columns of ``samples.parquet`` (one row per sample)::

    row, subset, sample_id, input_hash, error     reserved key columns (RESERVED_COLUMNS)
    gt_<name>[_label]                             ground truths (list<float32>), argmax label (string)
    pred_<name>[_label, _score]                   predictions, argmax label and its score
    pred_/gt_<name>_value[_<i>]                   regression values (float64; the first few)
    pred_/gt_<name>_positive, pred_<name>_mean    dense maps: positive fraction, mean of the main channel
    pred_<name>_count                             boxes: boxes per sample

Which of these a prediction gets follows its kind (``PREDICTION_KINDS``, stored per
prediction in the manifest): ``class`` -> label + score; ``multilabel`` -> label (the labels
above 0.5, joined by ","); ``dense`` -> positive + mean; ``regression`` -> value; ``boxes`` -> count.
    loss_<name>[_<key>], metric_<name>[_<key>]    per-sample losses and metrics (float64)
    anything else                                 metadata columns

Files of ``runs/<run_id>/``: see :mod:`leapscope.store._run` for the life cycle; every
name is built here (chunk parts, merged files, caches under ``projections/`` and
``explanations/``). :mod:`leapscope.store._typescript` prints the column names as
TypeScript constants (``web/src/generated/runFormat.ts``; a test fails on drift).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "COMMIT_FILE",
    "COUNT_SUFFIX",
    "ERRORS_FILE",
    "ERRORS_PART_GLOB",
    "ERROR",
    "ERROR_COLUMNS",
    "EXPLANATIONS_DIR",
    "FUNCTION",
    "GT_PREFIX",
    "INPUT_HASH",
    "INSIGHTS_FILE",
    "KEY_COLUMNS",
    "LABEL_SUFFIX",
    "LATENT_DIR",
    "LOSS_PREFIX",
    "MANIFEST_FILE",
    "MEAN_SUFFIX",
    "MESSAGE",
    "METRIC_PREFIX",
    "PARTS_DIR",
    "PRED_PREFIX",
    "PREDICTION_KINDS",
    "POSITIVE_SUFFIX",
    "PROGRESS_FILE",
    "PROJECTIONS_DIR",
    "RESERVED_COLUMNS",
    "RESERVED_PREFIXES",
    "ROW",
    "SAMPLE_ID",
    "SAMPLES_FILE",
    "SCORE_PREFIXES",
    "SCORE_SUFFIX",
    "SUBSET",
    "VALUE_SUFFIX",
    "errors_part",
    "explanation_file",
    "gt_column",
    "is_metadata_column",
    "is_score_column",
    "label_column",
    "latent_file",
    "latent_part",
    "loss_column",
    "metadata_columns",
    "metric_column",
    "pred_column",
    "projection_file",
    "projection_key",
    "projection_prefix",
    "samples_part",
    "score_column",
    "value_column",
]

# --- columns of samples.parquet ------------------------------------------------------

ROW = "row"
SUBSET = "subset"
SAMPLE_ID = "sample_id"
INPUT_HASH = "input_hash"
ERROR = "error"
#: columns every run has; integration metadata may not use these names
RESERVED_COLUMNS = (ROW, SUBSET, SAMPLE_ID, INPUT_HASH, ERROR)
#: the columns that address one sample
KEY_COLUMNS = (ROW, SUBSET, SAMPLE_ID)

GT_PREFIX = "gt_"
PRED_PREFIX = "pred_"
LOSS_PREFIX = "loss_"
METRIC_PREFIX = "metric_"
#: prefixes of the columns evaluate writes; metadata names may not start with them
RESERVED_PREFIXES = (GT_PREFIX, PRED_PREFIX, LOSS_PREFIX, METRIC_PREFIX)
#: prefixes of the per-sample score columns (losses first: lower is better)
SCORE_PREFIXES = (LOSS_PREFIX, METRIC_PREFIX)

#: ``gt_<name>_label`` / ``pred_<name>_label``: the argmax class name (string)
LABEL_SUFFIX = "_label"
#: ``pred_<name>_score``: the argmax score
SCORE_SUFFIX = "_score"
#: ``pred_<name>_value`` / ``gt_<name>_value``: a regression value (``_value_<i>`` for the i-th of several)
VALUE_SUFFIX = "_value"
#: ``pred_<name>_positive`` / ``gt_<name>_positive``: fraction of a dense map's positions that are positive
POSITIVE_SUFFIX = "_positive"
#: ``pred_<name>_mean``: mean of a dense map's main channel
MEAN_SUFFIX = "_mean"
#: ``pred_<name>_count``: number of boxes of a boxes prediction
COUNT_SUFFIX = "_count"
#: the kinds of a prediction (``manifest.json`` ``predictions[].kind``)
PREDICTION_KINDS = ("class", "multilabel", "dense", "boxes", "regression")

#: columns of ``errors.parquet`` (one row per failing function of a sample)
FUNCTION = "function"
MESSAGE = "message"
ERROR_COLUMNS = (ROW, SUBSET, SAMPLE_ID, FUNCTION, MESSAGE)


def gt_column(name: str) -> str:
    """``gt_<name>``: the column of a ground truth encoder."""
    return GT_PREFIX + name


def pred_column(name: str) -> str:
    """``pred_<name>``: the column of a model prediction."""
    return PRED_PREFIX + name


def _keyed(prefix: str, name: str, key: str) -> str:
    return f"{prefix}{name}" + (f"_{key}" if key else "")


def loss_column(name: str, key: str = "") -> str:
    """``loss_<name>`` (or ``loss_<name>_<key>`` for one key of a loss returning a dict)."""
    return _keyed(LOSS_PREFIX, name, key)


def metric_column(name: str, key: str = "") -> str:
    """``metric_<name>`` (or ``metric_<name>_<key>`` for one key of a metric returning a dict)."""
    return _keyed(METRIC_PREFIX, name, key)


def label_column(column: str) -> str:
    """``<column>_label``: the argmax class name of a ``gt_`` / ``pred_`` column."""
    return column + LABEL_SUFFIX


def score_column(column: str) -> str:
    """``<column>_score``: the argmax score of a ``pred_`` column."""
    return column + SCORE_SUFFIX


def value_column(column: str, index: int | None = None) -> str:
    """``<column>_value`` (or ``<column>_value_<index>``): a regression value of a ``gt_`` / ``pred_`` column."""
    return column + VALUE_SUFFIX + ("" if index is None else f"_{index}")


def is_score_column(name: str) -> bool:
    """Whether ``name`` is a ``loss_*`` or ``metric_*`` column."""
    return name.startswith(SCORE_PREFIXES)


def is_metadata_column(name: str) -> bool:
    """Whether ``name`` is a metadata column (not reserved, no reserved prefix)."""
    return name not in RESERVED_COLUMNS and not name.startswith(RESERVED_PREFIXES)


def metadata_columns(names: Iterable[str]) -> list[str]:
    """The metadata columns among ``names``, in order."""
    return [n for n in names if is_metadata_column(n)]


# --- files of a run folder -------------------------------------------------------------

MANIFEST_FILE = "manifest.json"
PROGRESS_FILE = "progress.json"
SAMPLES_FILE = "samples.parquet"
ERRORS_FILE = "errors.parquet"
COMMIT_FILE = "committed.json"
INSIGHTS_FILE = "insights.json"
PARTS_DIR = "parts"
LATENT_DIR = "latent"
PROJECTIONS_DIR = "projections"
EXPLANATIONS_DIR = "explanations"
#: the chunk parts of errors under ``parts/`` (for ``Path.glob``)
ERRORS_PART_GLOB = "errors-*.parquet"


def samples_part(index: int) -> str:
    """``samples-<index:06d>.parquet``: the rows of chunk ``index`` under ``parts/``."""
    return f"samples-{index:06d}.parquet"


def latent_part(space: str, index: int) -> str:
    """``latent-<space>-<index:06d>.npy``: the latent block of chunk ``index`` under ``parts/``."""
    return f"latent-{space}-{index:06d}.npy"


def errors_part(index: int) -> str:
    """``errors-<index:06d>.parquet``: the errors of chunk ``index`` under ``parts/`` (only when it has some)."""
    return f"errors-{index:06d}.parquet"


def latent_file(space: str) -> str:
    """``latent/<space>.npy``, relative to the run folder: the merged (N, D) float32 array."""
    return f"{LATENT_DIR}/{space}.npy"


def explanation_file(method: str) -> str:
    """``explanations/<method>.npy``, relative to the run folder: stored heatmaps of one method."""
    return f"{EXPLANATIONS_DIR}/{method}.npy"


def projection_key(
    space: str, method: str, n_components: int, seed: int, params: Mapping[str, Any] | None = None
) -> str:
    """The cache key of a projection: sorted JSON of its space, method, components, seed and parameters."""
    return json.dumps(
        {"space": space, "method": method, "k": n_components, "seed": seed, **(params or {})}, sort_keys=True
    )


def projection_prefix(space: str, method: str) -> str:
    """``<space>-<method>-``: the start of every cached projection file name of that space and method."""
    return f"{space}-{method}-"


def projection_file(
    space: str, method: str, n_components: int, seed: int, params: Mapping[str, Any] | None = None
) -> str:
    """``projections/<space>-<method>-<sha256(key)[:12]>.npy``, relative to the run folder (see :func:`projection_key`)."""
    digest = hashlib.sha256(projection_key(space, method, n_components, seed, params).encode()).hexdigest()[:12]
    return f"{PROJECTIONS_DIR}/{projection_prefix(space, method)}{digest}.npy"
