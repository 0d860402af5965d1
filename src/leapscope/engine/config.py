"""What an evaluation is asked to do: the run's content (:class:`EvaluateConfig`) and how this call runs it.

:class:`EvaluateConfig` is stored in the catalog with the run: a killed run is resumed
only by a call with the same config, and ``--resume RUN_ID`` reuses the stored one.
:class:`EvaluateOptions` (workers, fail-fast, progress callback, project and version
names, the run to resume) never changes a run's content and is not stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EvaluateConfig", "EvaluateOptions", "ProgressCallback"]

#: ``on_progress(subset, done, total)``: samples of ``subset`` evaluated so far
ProgressCallback = Callable[[str, int, int], None]


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
        """The config as stored in the catalog (field name -> value)."""
        return dict(self.__dict__)

    @classmethod
    def from_arguments(
        cls,
        *,
        subsets: Sequence[str] | None,
        max_samples: int | None,
        batch_size: int,
        chunk_size: int,
        latent: Sequence[str] | None,
        model: str | Path | None,
    ) -> EvaluateConfig:
        """The config of :func:`leapscope.engine.evaluate`'s keyword arguments (empty lists mean "all"; the
        model path made absolute)."""
        return cls(
            subsets=list(subsets) if subsets else None,
            max_samples=max_samples,
            batch_size=batch_size,
            chunk_size=chunk_size,
            latent=list(latent) if latent else None,
            model=str(Path(model).resolve()) if model else None,
        )


@dataclass(frozen=True)
class EvaluateOptions:
    """How one call of evaluate runs; none of it changes the run's content (see the module docstring)."""

    project: str | None = None
    version: str | None = None
    workers: int | None = None
    resume: str | None = None
    fail_fast: bool = False
    on_progress: ProgressCallback | None = None
    #: ``"local"`` (a Ray cluster started for the run), ``"auto"`` (``$RAY_ADDRESS``) or a Ray address; None: local
    #: worker processes. See :mod:`leapscope.engine.ray_backend`.
    ray: str | None = None

    @property
    def n_workers(self) -> int:
        """Encoding processes: ``workers``, default one per CPU core (0 encodes in the evaluating process)."""
        # one encoder per core: measured fastest on 2 cores (the parent mostly waits on encoded batches)
        return max(1, os.cpu_count() or 1) if self.workers is None else self.workers

    @property
    def read_ahead(self) -> int:
        """Batches encoded ahead of the model loop."""
        return 2 * max(1, self.n_workers)
