"""The plan of a run: which subsets, and their samples in chunks (the unit of checkpointing) and batches.

The plan's ``digest`` identifies the ordered sample ids; a run resumes only under
the plan it started with (see :mod:`leapscope.engine.resume`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from leapscope.engine.config import EvaluateConfig
from leapscope.exceptions import ValidationError
from leapscope.sdk._subset import Subset

__all__ = ["Plan", "batches", "choose_subsets", "make_plan"]


@dataclass
class Plan:
    """The ordered samples of a run: ``chunks`` of one subset each (evaluated in batches of ``batch_size``),
    ``counts`` per subset, and the ``digest`` of the ordered sample ids."""

    chunks: list[tuple[str, list[Any]]]
    counts: dict[str, int]
    digest: str
    batch_size: int = 64

    @property
    def total(self) -> int:
        """Samples in the plan."""
        return sum(self.counts.values())

    def first_rows(self) -> list[int]:
        """Row number (in samples.parquet) of each chunk's first sample, plus the total at the end."""
        starts = [0]
        for _, ids in self.chunks:
            starts.append(starts[-1] + len(ids))
        return starts


def make_plan(subsets: Sequence[Subset], config: EvaluateConfig) -> Plan:
    """Chunks of ``config.chunk_size`` samples (the first ``config.max_samples`` of each subset)."""
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
    return Plan(chunks, counts, digest.hexdigest()[:16], config.batch_size)


def choose_subsets(all_subsets: list[Subset], names: list[str] | None) -> list[Subset]:
    """The subsets called ``names`` (all when None). Raises :class:`ValidationError` naming unknown ones."""
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


def batches(ids: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of ``size`` ids (the last may be shorter)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
