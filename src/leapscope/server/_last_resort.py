"""The last-resort error answer: an exception no handler knew becomes a JSON 500, on a connection that stays open.

Starlette gives an ``Exception`` handler to its outermost ``ServerErrorMiddleware``, which sends
that handler's answer and then *re-raises* the exception: uvicorn logs ``Exception in ASGI
application`` with the whole traceback and closes the keep-alive connection, so the client's next
request on it fails (``ConnectionResetError``). :class:`LastResort` sits just inside it and
answers instead (a Problem JSON 500 naming the error's class and message), logs one line, and
lets nothing reach ``ServerErrorMiddleware`` unless the answer had already started (then nothing
else can be sent). Set ``LEAPSCOPE_DEBUG=1`` to log the traceback too.
"""

from __future__ import annotations

import logging
import os

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leapscope.sdk._runtime import redact

__all__ = ["LastResort", "internal_error_detail"]

logger = logging.getLogger("leapscope.server")


def internal_error_detail(exc: BaseException) -> str:
    """The ``detail`` of an unexpected error's 500 answer: its class and first line, and what to do."""
    first = (str(exc).strip().splitlines() or [""])[0][:500]
    return redact(
        f"{type(exc).__name__}: {first or '(no message)'}; this is a bug in leapscope, not in your request or files "
        "as far as leapscope knows; the server keeps running; fix: report it with the request, and restart the "
        "server with LEAPSCOPE_DEBUG=1 to log its traceback"
    )


class LastResort:
    """Pure ASGI middleware: an unexpected exception becomes a Problem JSON 500 (module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:  # the answer is on its way: nothing else can be sent on this request
                raise
            debug = os.environ.get("LEAPSCOPE_DEBUG") == "1"
            logger.error(
                "%s %s answered 500: %s%s",
                scope.get("method"),
                scope.get("path"),
                redact(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"),
                "" if debug else " (set LEAPSCOPE_DEBUG=1 for the traceback)",
                exc_info=exc if debug else None,
            )
            body = orjson.dumps({"title": "Internal error", "detail": internal_error_detail(exc), "status": 500})
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
