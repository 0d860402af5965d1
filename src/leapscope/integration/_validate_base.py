"""What every validator shares: the reserved column names, how messages name a function, and how they
describe a wrong value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.sdk._decorators import Decorated

__all__ = ["RESERVED_COLUMNS", "RESERVED_PREFIXES", "MetadataScalar", "fn_label"]

MetadataScalar = int | float | str | bool | None

#: columns of samples.parquet that evaluate writes itself (see ``engine._evaluate``)
RESERVED_COLUMNS = ("row", "subset", "sample_id", "input_hash", "error")
#: prefixes of the ground-truth, prediction, loss and metric columns; metadata columns never start with them
RESERVED_PREFIXES = ("gt_", "pred_", "loss_", "metric_")


def fn_label(fn: Decorated) -> str:
    """How messages name a decorated function: ``features (@input 'features')``."""
    return f"{fn.__name__} (@{fn.kind.value} '{fn.name}')"


def _ctx(fn: Decorated, subset: str | None, sample_id: Any) -> dict[str, Any]:
    return {"function": fn_label(fn), "subset": subset, "sample_id": sample_id}


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray dtype={value.dtype} shape={value.shape}"
    return type(value).__name__
