"""A fast lane for the two most requested reads: a page of samples and one sample's record.

:class:`FastReads` is a pure ASGI middleware inside the request guards (Host, Origin, token):
when a ``GET /api/v1/runs/{run}/samples`` or ``GET /api/v1/runs/{run}/samples/{subset}/{sample_id}``
can be answered from a built run index (:mod:`leapscope.server._index`) it answers at once,
without FastAPI's routing and per-parameter dependency solving (most of a request's server time
once the data is in memory). Anything else — an index not built yet, an insight or cluster
filter, a query that does not validate, an unknown sample, any error — goes on to the routes in
``routers/samples.py``, which give the same answers (and every error as Problem JSON).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from leapscope.server._index import page_body
from leapscope.server._schemas import SamplesQuery
from leapscope.server._security import ESCAPED_SCOPE_KEY

if TYPE_CHECKING:
    from leapscope.server._deps import State

__all__ = ["FastReads"]

_PREFIX = "/api/v1/runs/"
_LIST_FIELDS = frozenset(n for n, f in SamplesQuery.model_fields.items() if str(f.annotation).startswith("list"))
_HEADERS = [(b"content-type", b"application/json")]


class FastReads:
    """Pure ASGI middleware: answers samples pages and sample records from memory when it can (module doc)."""

    def __init__(self, app: ASGIApp, state: State, methods: bytes):
        self.app = app
        self.state = state
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path", "").startswith(_PREFIX):
            try:
                body, run_id = self._answer(scope)
            except Exception:  # noqa: BLE001 - any failure: the route answers it, with the proper error
                body, run_id = None, None
            if body is not None:
                if run_id is not None:  # a sample record: its heatmap request comes next, load the model now
                    self.state.explain.prewarm(self.state.path, run_id)
                headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> tuple[bytes | None, str | None]:
        """(body, run id of a sample record) or (None, None) when the routes must answer."""
        if scope.get(ESCAPED_SCOPE_KEY):
            return None, None  # a segment held an encoded '/': the routes unescape it
        parts = scope["path"][len(_PREFIX) :].split("/")
        if len(parts) == 2 and parts[1] == "samples":
            return self._page(parts[0], scope.get("query_string", b"")), None
        if len(parts) == 4 and parts[1] == "samples" and not scope.get("query_string"):
            record = self._record(parts[0], parts[2], parts[3])
            return record, (self.state.indexes.peek(parts[0]).run.id if record is not None else None)  # type: ignore[union-attr]
        return None, None

    def _page(self, run_id: str, query_string: bytes) -> bytes | None:
        index = self.state.indexes.peek(run_id)
        if index is None:
            return None
        raw: dict[str, Any] = {}
        # decoded as Starlette decodes request.query_params
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if name not in SamplesQuery.model_fields:
                continue
            if name in _LIST_FIELDS:
                raw.setdefault(name, []).append(value)
            else:
                raw[name] = value
        q = SamplesQuery.model_validate(raw)
        if q.insight is not None or q.cluster is not None:
            return None
        chosen = None
        if q.rows:
            chosen = [
                int(r)
                for r in q.rows.split(",")
                if r.strip().isascii() and r.strip().isdecimal() and len(r.strip()) <= 18
            ]
        key = (q.subset, tuple(q.where), q.insight, q.cluster, q.rows, q.sort, None)
        positions = index.cached_selection(key)
        if positions is None:
            if not index.sort_cached(q.sort):
                return None  # a sort order to compute: the route does it in a worker thread
            positions = index.select(subset=q.subset, where=q.where, chosen=chosen, sort=q.sort, key=key)
        return page_body(index, positions, q.offset, q.limit)

    def _record(self, run_id: str, subset: str, sample_id: str) -> bytes | None:
        index = self.state.indexes.peek(run_id)
        if index is None:
            return None
        position = index.key_position.get((subset, sample_id))
        visuals = self.state.cached_visualizers(index.run)
        if position is None or visuals is None:
            return None
        return (
            b'{"data":{"row":'
            + index.record(position)
            + b',"visualizers":'
            + orjson.dumps(visuals)
            + b',"methods":'
            + self.methods
            + b"}}"
        )
