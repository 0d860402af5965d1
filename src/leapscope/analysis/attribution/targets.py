"""What is explained: which model output, and which class of it per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.models import ModelWrapper

__all__ = ["channel_axis", "output_index", "resolve_targets"]


def output_index(wrapper: ModelWrapper, output: int | str | None) -> int:
    """The position of ``output`` (an index, an output name, or ``None`` for the first).

    Raises
    ------
    LeapscopeError
        An unknown output name; the message lists the outputs.
    """
    if output is None:
        return 0
    if isinstance(output, int):
        return output
    names = [o.name for o in wrapper.outputs]
    if output not in names:
        raise LeapscopeError(f"explain: unknown output {output!r}; outputs: {', '.join(names)}")
    return names.index(output)


def channel_axis(wrapper: ModelWrapper, index: int, array: np.ndarray) -> int | None:
    """The batched channel axis of input ``index`` (3 for NHWC, 1 for NCHW), or ``None`` unless 4-D."""
    if array.ndim == 4:
        return 3 if wrapper.inputs[index].layout == "NHWC" else 1
    return None


def _n_targets(wrapper: ModelWrapper, inputs: list[np.ndarray], out_index: int) -> int:
    """Values per sample of output ``out_index`` (from its spec, else from one forward pass)."""
    shape = wrapper.outputs[out_index].shape if out_index < len(wrapper.outputs) else None
    dims = [d for d in shape[1:] if isinstance(d, int)] if shape is not None else None
    if shape is not None and dims is not None and len(dims) == len(shape) - 1:
        return int(np.prod(dims, dtype=np.int64))
    return int(wrapper.predict([a[:1] for a in inputs])[out_index].reshape(1, -1).shape[1])


def _valid_targets(n: int, labels: list[str] | None) -> str:
    named = f", labels {', '.join(labels)}" if labels else ""
    return f"class indices 0..{n - 1}{named}, or 'loss'" if n > 0 else "none (the output is empty)"


def resolve_targets(
    wrapper: ModelWrapper, inputs: list[np.ndarray], target: Any, out_index: int, labels: list[str] | None
) -> list[int]:
    """The class index explained for each sample.

    ``target`` is ``None`` (the predicted class), a class index, a label name, or one index per sample.

    Raises
    ------
    LeapscopeError
        A label that the prediction does not have, or an index outside ``0..C-1``
        (``C`` values per sample of the output); the message lists the valid targets.
    """
    n = len(inputs[0])
    if target is None:
        scores = wrapper.predict(inputs)[out_index].reshape(n, -1)
        return [int(i) for i in scores.argmax(1)]
    if isinstance(target, str):
        if labels is None or target not in labels:
            valid = _valid_targets(_n_targets(wrapper, inputs, out_index), labels)
            raise LeapscopeError(
                f"explain: target {target!r} is not a label of the prediction; valid targets: {valid}; "
                "fix: pass one of them (--target in the CLI)"
            )
        return [labels.index(target)] * n
    targets = [int(target)] * n if isinstance(target, int | np.integer) else [int(t) for t in target]
    if len(targets) != n:
        raise LeapscopeError(
            f"explain: {len(targets)} targets for {n} samples; fix: give one target per sample, or one for all"
        )
    size = _n_targets(wrapper, inputs, out_index)
    bad = sorted({t for t in targets if not 0 <= t < size})
    if bad:
        raise LeapscopeError(
            f"explain: target {bad[0] if len(bad) == 1 else bad} is out of range: output {out_index} of the model has "
            f"{size} value(s) per sample; valid targets: {_valid_targets(size, labels)}; fix: pass a target in that "
            "range (--target in the CLI)"
        )
    return targets
