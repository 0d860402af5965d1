"""Subsets: the groups of samples a preprocess function returns."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leapscope.exceptions import ValidationError

__all__ = ["DataState", "SampleId", "Subset"]

SampleId = str | int


class DataState(enum.StrEnum):
    """The role of a subset. Plain strings (``"training"``) are accepted everywhere."""

    TRAINING = "training"
    VALIDATION = "validation"
    TEST = "test"
    UNLABELED = "unlabeled"

    def __str__(self) -> str:
        return self.value


@dataclass
class Subset:
    """A named group of samples.

    Parameters
    ----------
    state : DataState or str
        ``training``, ``validation``, ``test`` or ``unlabeled``.
    sample_ids : sequence of str or int
        Unique ids, all of one type. Encoders receive one id at a time.
    data : any, optional
        Whatever the encoders need to find a sample (arrays, paths, a dataframe).
        leapscope never reads it.

    Raises
    ------
    ValidationError
        Unknown state, ids that are not all ``str`` or all ``int``, or duplicates.
    """

    state: DataState
    sample_ids: list[SampleId]
    data: Any = None
    _index: dict[SampleId, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __init__(self, state: DataState | str, sample_ids: Sequence[SampleId], data: Any = None):
        self.state = _parse_state(state)
        self.sample_ids = _check_ids(self.state, sample_ids)
        self.data = data
        self._index = {sid: i for i, sid in enumerate(self.sample_ids)}

    @property
    def name(self) -> str:
        """The state as a string (``"training"``)."""
        return self.state.value

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._index

    def position(self, sample_id: SampleId) -> int:
        """Row of ``sample_id`` in ``sample_ids``; raises ``KeyError`` if absent."""
        return self._index[sample_id]

    def __repr__(self) -> str:
        return f"Subset({self.state.value!r}, {len(self.sample_ids)} samples)"


def _parse_state(state: DataState | str) -> DataState:
    try:
        return DataState(state)
    except ValueError:
        raise ValidationError(
            "unknown subset state",
            function="Subset",
            argument="state",
            expected=" | ".join(repr(s.value) for s in DataState),
            actual=repr(state),
            fix="name the subset with one of the expected states (ls.DataState)",
        ) from None


def _check_ids(state: DataState, sample_ids: Sequence[SampleId]) -> list[SampleId]:
    ids: list[SampleId] = []
    for sid in sample_ids:
        # numpy scalars are common here (ids from np.arange); store plain Python values
        if hasattr(sid, "item") and not isinstance(sid, str | int):
            sid = sid.item()
        if isinstance(sid, bool) or not isinstance(sid, str | int):
            raise ValidationError(
                "sample ids must be str or int",
                function="Subset",
                argument="sample_ids",
                subset=state.value,
                sample_id=repr(sid),
                expected="str or int",
                actual=type(sid).__name__,
                fix="convert the ids, e.g. [str(i) for i in ids]",
            )
        ids.append(sid)
    kinds = {type(s) for s in ids}
    if len(kinds) > 1:
        raise ValidationError(
            "sample ids mix str and int",
            function="Subset",
            argument="sample_ids",
            subset=state.value,
            expected="one type for every id of a subset",
            actual="str and int",
            fix="use one type, e.g. [str(i) for i in ids]",
        )
    if len(set(ids)) != len(ids):
        seen: set[SampleId] = set()
        dup = next(s for s in ids if s in seen or seen.add(s))  # type: ignore[func-returns-value]
        raise ValidationError(
            "sample ids are not unique",
            function="Subset",
            argument="sample_ids",
            subset=state.value,
            sample_id=dup,
            expected="unique ids",
            actual=f"{len(ids) - len(set(ids))} duplicate(s), first {dup!r}",
            fix="make every sample id unique within its subset",
        )
    return ids
