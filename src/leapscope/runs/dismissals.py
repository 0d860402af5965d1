"""Dismissals ("not a duplicate"): a user marks a pair that the ``duplicates`` / ``data_leakage`` detectors
reported (or might report) as distinct; every later ``analyze`` of a run of the same project skips it.

A pair is named either by its two samples (``{"subset": ..., "sample_id": ...}`` each, or
``(subset, sample_id)`` tuples) or by two input hashes (``{"input_hash": ...}`` each): a hash pair
follows the inputs across re-splits and re-numbered sample ids. Dismissals live in the
workspace catalog (table ``dismissals``, one row per project and unordered pair).

Functions: :func:`dismiss_pair`, :func:`undismiss_pair`, :func:`list_dismissals` (the API's
``POST`` / ``DELETE`` / ``GET /api/v1/projects/{project}/dismissals``), and
:func:`dismissed_pairs` (what :func:`leapscope.runs.analyze` hands the detectors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leapscope.analysis.insights.base import DismissedPairs
from leapscope.exceptions import LeapscopeError, NotFoundError, StoreError
from leapscope.store import Workspace
from leapscope.store._catalog import DismissalRow

__all__ = ["Dismissal", "PairEnd", "dismiss_pair", "dismissed_pairs", "list_dismissals", "undismiss_pair"]

#: one end of a pair: {"subset": str, "sample_id": str|int} | {"input_hash": str} | (subset, sample_id)
PairEnd = Mapping[str, Any] | Sequence[Any]


@dataclass(frozen=True)
class Dismissal:
    """One stored dismissal.

    Attributes
    ----------
    id : int
    project : str
    kind : "samples" or "hashes"
    a, b : dict; ``{"subset", "sample_id"}`` (kind samples) or ``{"input_hash"}`` (kind hashes)
    reason : str or None
    created_at : float; seconds since the epoch
    """

    id: int
    project: str
    kind: str
    a: dict[str, str]
    b: dict[str, str]
    reason: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"id", "project", "kind", "a", "b", "reason", "created_at"}``."""
        return {
            "id": self.id,
            "project": self.project,
            "kind": self.kind,
            "a": dict(self.a),
            "b": dict(self.b),
            "reason": self.reason,
            "created_at": self.created_at,
        }


def _end(end: PairEnd, which: str) -> tuple[str, str, dict[str, str]]:
    """(kind, catalog key, normalised dict) of one pair end. Raises LeapscopeError for a malformed one."""
    if isinstance(end, Mapping):
        if "input_hash" in end and not ({"subset", "sample_id"} & set(end)):
            value = str(end["input_hash"] or "")
            if value:
                return "hashes", value, {"input_hash": value}
        elif {"subset", "sample_id"} <= set(end) and "input_hash" not in end:
            subset, sample_id = str(end["subset"] or ""), str(end["sample_id"])
            if subset and sample_id:
                return "samples", json.dumps([subset, sample_id]), {"subset": subset, "sample_id": sample_id}
    elif isinstance(end, Sequence) and not isinstance(end, str | bytes) and len(end) == 2:
        subset, sample_id = str(end[0] or ""), str(end[1])
        if subset and sample_id:
            return "samples", json.dumps([subset, sample_id]), {"subset": subset, "sample_id": sample_id}
    raise LeapscopeError(
        f"dismiss_pair: argument {which}={end!r} names no sample; expected {{'subset': ..., 'sample_id': ...}}, "
        "(subset, sample_id), or {'input_hash': ...}"
    )


def _pair(a: PairEnd, b: PairEnd) -> tuple[str, str, str]:
    kind_a, key_a, _ = _end(a, "a")
    kind_b, key_b, _ = _end(b, "b")
    if kind_a != kind_b:
        raise LeapscopeError(
            f"dismiss_pair: a is named by {kind_a} but b by {kind_b}; fix: name both ends by subset + sample_id, "
            "or both by input_hash"
        )
    if key_a == key_b:
        raise LeapscopeError(f"dismiss_pair: a and b are the same sample ({a!r}); a pair needs two")
    return kind_a, key_a, key_b


def _decode(kind: str, key: str) -> dict[str, str]:
    if kind == "hashes":
        return {"input_hash": key}
    subset, sample_id = json.loads(key)
    return {"subset": str(subset), "sample_id": str(sample_id)}


def _dismissal(row: DismissalRow) -> Dismissal:
    return Dismissal(
        row.id,
        row.project,
        row.kind,
        _decode(row.kind, row.key_a),
        _decode(row.kind, row.key_b),
        row.reason,
        row.created_at,
    )


def _workspace(workspace: Workspace | str | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace(workspace)


def dismiss_pair(
    workspace: Workspace | str | None, project: str, a: PairEnd, b: PairEnd, *, reason: str | None = None
) -> Dismissal:
    """Mark the pair (``a``, ``b``) of ``project`` as "not a duplicate"; idempotent (the pair is unordered).

    Future :func:`leapscope.runs.analyze` calls on runs of ``project`` never report it as a
    duplicate or as leakage. Returns the stored :class:`Dismissal`.

    Raises
    ------
    StoreError
        No such project.
    NotFoundError
        The project has complete runs and an end names no sample (or input hash) of any of them.
    LeapscopeError
        A malformed end, ends of different kinds (samples vs hashes), or the same sample twice.
    """
    kind, key_a, key_b = _pair(a, b)
    if reason is not None and len(reason) > 1000:
        raise LeapscopeError(f"dismiss_pair: reason has {len(reason)} characters; at most 1000 are stored")
    ws = _workspace(workspace)
    ws.catalog.project(project, create=False)  # StoreError for an unknown project, before any run is read
    _check_exists(ws, project, kind, [(key_a, "a"), (key_b, "b")])
    row = ws.catalog.add_dismissal(project, kind, key_a, key_b, reason)
    return _dismissal(row)


def _check_exists(ws: Workspace, project: str, kind: str, keys: list[tuple[str, str]]) -> None:
    """Refuse a pair end that names no sample (or input hash) of any complete run of ``project``.

    A project without a complete run has nothing to check against: its pairs are stored as given.
    Raises NotFoundError naming the end and where it was looked for.
    """
    from leapscope.store._schema import INPUT_HASH, SAMPLE_ID, SUBSET

    complete = [r for r in ws.runs(project) if r.status == "complete"]
    if not complete:
        return
    columns = [INPUT_HASH] if kind == "hashes" else [SUBSET, SAMPLE_ID]
    known: set[str] = set()
    for run in complete:
        table = run.samples
        if not set(columns) <= set(table.column_names):
            continue
        if kind == "hashes":
            known.update(str(v) for v in table.column(INPUT_HASH).to_pylist() if v is not None)
        else:
            subsets, ids = table.column(SUBSET).to_pylist(), table.column(SAMPLE_ID).to_pylist()
            known.update(json.dumps([str(s), str(i)]) for s, i in zip(subsets, ids, strict=True))
    for key, which in keys:
        if key not in known:
            what = f"input hash {key!r}" if kind == "hashes" else "sample {}/{}".format(*json.loads(key))
            raise NotFoundError(
                f"dismiss_pair: argument {which} names {what}, which no complete run of project '{project}' has "
                f"({len(complete)} run(s) looked at); fix: name a sample of the project's runs (its subset and "
                "sample id, or its input_hash, as the duplicates insight lists them)"
            )


def undismiss_pair(workspace: Workspace | str | None, project: str, a: PairEnd, b: PairEnd) -> bool:
    """Forget a dismissal of ``project`` (either order of ``a``, ``b``); whether there was one.

    Raises StoreError (no such project) and LeapscopeError (malformed ends), as :func:`dismiss_pair`.
    """
    kind, key_a, key_b = _pair(a, b)
    return _workspace(workspace).catalog.delete_dismissal(project, kind, key_a, key_b)


def list_dismissals(workspace: Workspace | str | None, project: str) -> list[Dismissal]:
    """The dismissals of ``project``, oldest first. Raises :class:`StoreError` for an unknown project."""
    return [_dismissal(r) for r in _workspace(workspace).catalog.dismissals(project)]


def dismissed_pairs(workspace: Workspace | str | None, project: str | None) -> DismissedPairs:
    """The dismissals of ``project`` as the detectors read them (empty for None or an unknown project)."""
    if not project:
        return DismissedPairs()
    try:
        rows = _workspace(workspace).catalog.dismissals(project)
    except StoreError:
        return DismissedPairs()
    samples: set[frozenset[tuple[str, str]]] = set()
    hashes: set[frozenset[str]] = set()
    for row in rows:
        a, b = _decode(row.kind, row.key_a), _decode(row.kind, row.key_b)
        if row.kind == "hashes":
            hashes.add(frozenset({a["input_hash"], b["input_hash"]}))
        else:
            samples.add(frozenset({(a["subset"], a["sample_id"]), (b["subset"], b["sample_id"])}))
    return DismissedPairs(frozenset(samples), frozenset(hashes))
