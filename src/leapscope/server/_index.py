"""Per-run read indexes of the server: the samples routes answer from memory, without a query per request.

A complete run is immutable, so the first request for it builds a :class:`RunIndex` once
(in a worker thread): every row of ``samples.parquet`` serialised to JSON (scalar columns,
with :mod:`orjson`, which writes NaN and infinities as ``null``), the row positions of each
subset, and a ``(subset, sample_id) -> position`` map. A page of samples is then a slice of a
cached selection (the matching positions in their order) joined from the pre-serialised rows:
no Python work per value and no DuckDB query per request.

- Selections (subset, ``where`` filter, insight, cluster, rows, sort) are cached per index
  (LRU); ``where`` filters are evaluated with :meth:`leapscope.store.Filter.mask` (pyarrow),
  which selects the same rows as the SQL the store generates; ``sample_id == "..."`` is
  answered from the sample-id map.
- Sort orders are computed once per (column, direction) with DuckDB (``ORDER BY col
  [DESC] NULLS LAST, row``: NaN sorts above every number, as before).
- Indexes are invalidated when the run changes: each use compares the ``samples.parquet``
  stamp (mtime, size) and, for insight/cluster selections, the ``insights.json`` stamp.
  At most :data:`MAX_RUNS` indexes are kept (least recently used dropped).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from leapscope.exceptions import NotFoundError, StoreError
from leapscope.store import Run, parse_filter
from leapscope.store._schema import INSIGHTS_FILE, ROW, SAMPLE_ID, SAMPLES_FILE, SUBSET

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MAX_RUNS", "Indexes", "RunIndex", "page_body"]

MAX_RUNS = 8
MAX_SELECTIONS = 256
_FULL_ROWS = 4096  # full records (vectors included) kept per run


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _sort_key(sort: str) -> tuple[str, bool]:
    """``"-loss"`` -> ``("loss", True)``, ``"loss"`` -> ``("loss", False)``; only one leading ``-`` is the
    direction (``"--row"`` names the column ``-row``, which no run has)."""
    return (sort[1:], True) if sort.startswith("-") else (sort, False)


def _dumps_rows(table: pa.Table) -> list[bytes]:
    """One JSON object (bytes) per row of ``table``; NaN / infinities become null."""
    out: list[bytes] = []
    dumps = orjson.dumps
    for batch in table.to_batches(max_chunksize=8192):
        out.extend(dumps(rec) for rec in batch.to_pylist())
    return out


class RunIndex:
    """The read structures of one complete run (see the module docstring).

    Attributes
    ----------
    run : Run
    stamp : (int, int)
        ``samples.parquet`` (mtime_ns, size) when the index was built.
    scalar : list of str
        The columns of a page (list/struct columns stay out of pages).
    """

    def __init__(self, run: Run):
        import pyarrow as pa

        self.run = run
        self.stamp = _stamp(run.samples_path)
        table = run.samples
        self.table = table
        self.schema = table.schema
        self.names = list(self.schema.names)
        self.scalar = [f.name for f in self.schema if not (pa.types.is_nested(f.type))]
        self.num_rows = table.num_rows
        self.rows_json = _dumps_rows(table.select(self.scalar))
        rows = table.column(ROW).to_numpy(zero_copy_only=False) if ROW in self.names else np.arange(self.num_rows)
        self.row_numbers = np.asarray(rows, dtype=np.int64)
        self.order = np.argsort(self.row_numbers, kind="stable")  # positions in `row` order
        subsets = table.column(SUBSET).to_pylist()
        ids = [str(v) for v in table.column(SAMPLE_ID).to_pylist()]
        self.key_position: dict[tuple[str, str], int] = {}
        by_id: dict[str, list[int]] = {}
        for position, (subset, sid) in enumerate(zip(subsets, ids, strict=True)):
            self.key_position.setdefault((subset, sid), position)
            by_id.setdefault(sid, []).append(position)
        self.by_sample_id = by_id
        rank = np.empty(self.num_rows, dtype=np.int64)
        rank[self.order] = np.arange(self.num_rows)
        self.rank = rank  # position -> place in `row` order
        subset_arr = np.array(subsets, dtype=object)
        ordered = subset_arr[self.order]
        self.subset_positions = {str(name): self.order[ordered == name] for name in dict.fromkeys(subsets)}
        self._full: OrderedDict[int, bytes] = OrderedDict()
        self._selections: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._sorts: dict[tuple[str, bool], np.ndarray] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ one sample

    def position(self, subset: str, sample_id: str) -> int:
        """The position of a sample. Raises NotFoundError (404) when the run has no such sample."""
        position = self.key_position.get((subset, sample_id))
        if position is None:
            raise NotFoundError(f"run {self.run.id} has no sample {sample_id!r} in subset '{subset}'")
        return position

    def record(self, position: int) -> bytes:
        """The JSON object of one row with every column (vectors included)."""
        with self._lock:
            cached = self._full.get(position)
            if cached is not None:
                self._full.move_to_end(position)
                return cached
        body = orjson.dumps(self.table.slice(position, 1).to_pylist()[0])
        with self._lock:
            self._full[position] = body
            while len(self._full) > _FULL_ROWS:
                self._full.popitem(last=False)
        return body

    # ------------------------------------------------------------------------------ selections

    def cached_selection(self, key: tuple[Any, ...]) -> np.ndarray | None:
        with self._lock:
            found = self._selections.get(key)
            if found is not None:
                self._selections.move_to_end(key)
            return found

    def sort_cached(self, sort: str | None) -> bool:
        return not sort or _sort_key(sort) in self._sorts

    def select(
        self,
        *,
        subset: str | None,
        where: Sequence[str],
        chosen: Iterable[int] | None,
        sort: str | None,
        key: tuple[Any, ...],
    ) -> np.ndarray:
        """The positions that match, in page order (``row``, or ``sort`` then ``row``); cached under ``key``.

        Raises
        ------
        FilterError
            A malformed ``where``, an unknown column or a literal of the wrong type.
        LeapscopeError
            An unknown ``sort`` column.
        """
        found = self.cached_selection(key)
        if found is not None:
            return found
        from leapscope.exceptions import LeapscopeError

        if sort and _sort_key(sort)[0] not in self.names:
            raise LeapscopeError(
                f"sort: unknown column {_sort_key(sort)[0][:80]!r}; fix: give a column name, or '-' and a column name "
                "to sort descending (one '-' at most)"
            )
        filt = parse_filter(list(where), self.schema) if where else None
        candidates = self._candidates(subset, filt)
        mask: np.ndarray | None = None
        if filt:
            if candidates is not None:  # a few rows (sample_id == ...): the rest of the filter on them only
                hit = filt.mask(self.table.select(filt.columns).take(candidates))
                candidates = candidates[hit]
            else:
                mask = filt.mask(self.table.select(filt.columns))
        if chosen is not None:
            wanted = np.isin(self.row_numbers, np.fromiter(chosen, dtype=np.int64))
            mask = wanted if mask is None else mask & wanted
        if candidates is not None:  # from the sample-id map: put them in row order
            candidates = candidates[np.argsort(self.rank[candidates], kind="stable")]
        elif subset:
            candidates = self.subset_positions.get(subset, np.empty(0, dtype=np.int64))  # already in row order
        if candidates is not None:
            ordered = candidates if mask is None else candidates[mask[candidates]]
        else:
            ordered = self.order if mask is None else self.order[mask[self.order]]
        if sort:
            order = self._sort_order(*_sort_key(sort))
            if len(ordered) == self.num_rows:
                ordered = order
            else:
                keep = np.zeros(self.num_rows, dtype=bool)
                keep[ordered] = True
                ordered = order[keep[order]]
        ordered = np.ascontiguousarray(ordered, dtype=np.int64)
        with self._lock:
            self._selections[key] = ordered
            while len(self._selections) > MAX_SELECTIONS:
                self._selections.popitem(last=False)
        return ordered

    def _candidates(self, subset: str | None, filt: Any) -> np.ndarray | None:
        """Positions narrowed by a ``sample_id == "..."`` condition of the filter (None: no such condition)."""
        if not filt:
            return None
        for cond in filt.conditions:
            if cond.column == SAMPLE_ID and cond.op == "==" and isinstance(cond.value, str):
                found = np.array(self.by_sample_id.get(cond.value, []), dtype=np.int64)
                if subset:
                    subsets = self.subset_positions.get(subset, np.empty(0, dtype=np.int64))
                    found = found[np.isin(found, subsets)]
                return found
        return None

    def _sort_order(self, column: str, descending: bool) -> np.ndarray:
        """Every position ordered by ``column`` (DuckDB ``ORDER BY col [DESC] NULLS LAST, row``)."""
        key = (column, descending)
        found = self._sorts.get(key)
        if found is not None:
            return found
        import duckdb
        import pyarrow as pa

        data = pa.table(
            {
                "v": self.table.column(column),
                "r": pa.array(self.row_numbers),
                "p": pa.array(np.arange(self.num_rows, dtype=np.int64)),
            }
        )
        con = duckdb.connect()
        try:
            con.register("t", data)
            direction = "DESC" if descending else "ASC"
            result = con.execute(f"SELECT p FROM t ORDER BY v {direction} NULLS LAST, r").fetchnumpy()  # noqa: S608 - fixed names
        finally:
            con.close()
        order = np.asarray(result["p"], dtype=np.int64)
        self._sorts[key] = order
        return order


def page_body(index: RunIndex, positions: np.ndarray, offset: int, limit: int) -> bytes:
    """``{"data": [rows], "total", "next_offset"}`` of the page ``positions[offset:offset + limit]``."""
    total = len(positions)
    rows = index.rows_json
    page = b",".join([rows[p] for p in positions[offset : offset + limit].tolist()])
    following = b"null" if offset + limit >= total else str(offset + limit).encode()
    return b'{"data":[' + page + b'],"total":' + str(total).encode() + b',"next_offset":' + following + b"}"


class Indexes:
    """The :class:`RunIndex` of each recently read complete run (at most :data:`MAX_RUNS`)."""

    def __init__(self, on_stale: Callable[[str], None] | None = None):
        self._indexes: OrderedDict[str, RunIndex] = OrderedDict()
        self._alias: dict[str, str] = {}  # an id prefix a request used -> the run id
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._insights: dict[str, tuple[tuple[int, int] | None, dict[str, Any]]] = {}
        self._on_stale = on_stale

    def peek(self, run_id: str) -> RunIndex | None:
        """The index of ``run_id`` when built and still current (one ``stat`` call); else None."""
        with self._lock:
            run_id = self._alias.get(run_id, run_id)
            index = self._indexes.get(run_id)
        if index is None:
            return None
        if _stamp(index.run.dir / SAMPLES_FILE) != index.stamp:
            self.forget(run_id)
            return None
        with self._lock:
            if run_id in self._indexes:
                self._indexes.move_to_end(run_id)
        return index

    def get(self, run: Run, alias: str | None = None) -> RunIndex:
        """The index of a run, built on first use (blocking: call from a worker thread).

        Raises StoreError (the run is not complete) and CorruptStorageError (unreadable samples).
        """
        if alias and alias != run.id:
            with self._lock:
                self._alias[alias] = run.id
        found = self.peek(run.id)
        if found is not None:
            return found
        if run.status != "complete":
            run.samples_path  # noqa: B018 - raises the StoreError that says why the run has no samples yet
            raise StoreError(f"run {run.id} is {run.status}; its samples are readable once it completes")
        with self._lock:
            building = self._building.setdefault(run.id, threading.Lock())
        with building:  # one build per run at a time; the others wait for it
            found = self.peek(run.id)
            if found is not None:
                return found
            index = RunIndex(run)
            with self._lock:
                self._indexes[run.id] = index
                while len(self._indexes) > MAX_RUNS:
                    self._indexes.popitem(last=False)
            return index

    def forget(self, run_id: str) -> None:
        """Drop the index of ``run_id`` (its files changed)."""
        with self._lock:
            self._indexes.pop(run_id, None)
            self._insights.pop(run_id, None)
            for alias in [a for a, r in self._alias.items() if r == run_id]:
                del self._alias[alias]
        if self._on_stale is not None:
            self._on_stale(run_id)

    def insights(self, run: Run) -> tuple[tuple[int, int] | None, dict[str, Any]]:
        """``(stamp, parsed insights.json)`` of a run, re-read only when the file changed.

        Raises StoreError when the run has no insights yet, CorruptStorageError when the file is damaged.
        """
        path = run.dir / INSIGHTS_FILE
        stamp = _stamp(path)
        if stamp is None:
            raise StoreError(f"run {run.id} has no insights yet; analyze it first")
        with self._lock:
            cached = self._insights.get(run.id)
        if cached is not None and cached[0] == stamp:
            return cached
        from leapscope.runs.analyze import read_insights_file  # checked: no link out of the run, rows in range

        stored = read_insights_file(run)
        if stored is None:
            raise StoreError(f"run {run.id} has no insights yet; analyze it first")
        entry = (stamp, stored)
        with self._lock:
            self._insights[run.id] = entry
        return entry
