"""Request guards of the server: token, Host (DNS rebinding), Origin, content type, body size.

Loopback by default and a token for anything else (:class:`TokenMiddleware`). In front of
everything, :class:`RequestGuard` refuses requests that a web page on another origin could
make a browser send:

- a ``Host`` header that is not one of the names the server is bound to (DNS rebinding:
  a page on ``http://evil.example`` whose name now resolves to 127.0.0.1) -> 421;
- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is another origin
  -> 403, or whose ``Content-Type`` is not ``application/json`` (a "simple" cross-site
  form or ``text/plain`` request, which needs no CORS preflight) -> 415;
- a request body larger than ``max_body`` bytes -> 413.

It also routes percent-encoded path segments exactly: a sample id ``a/b`` sent as
``a%2Fb`` stays one path parameter (see :class:`DecodedRoute`).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, unquote_to_bytes, urlsplit

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_BODY",
    "ESCAPED_SCOPE_KEY",
    "DecodedRoute",
    "RequestGuard",
    "TokenMiddleware",
    "allowed_hosts",
    "frame_ancestors",
    "is_loopback",
    "new_token",
]

DEFAULT_MAX_BODY = 2 * 1024 * 1024  # bytes; the largest legitimate body (a saved test) is a few hundred bytes
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ESCAPED = "leapscope.escaped_path"  # scope key: the path keeps %25 / %2F escapes inside segments
ESCAPED_SCOPE_KEY = _ESCAPED


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(host: str) -> str:
    """``'::1'`` -> ``'[::1]'`` (the form a Host header carries), other names lowercased."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def allowed_hosts(bind: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names (without port) the server answers to.

    ``127.0.0.1``, ``localhost`` and ``[::1]``, the bind address ``bind``, and ``extra``
    (``--allow-host`` values; ``*`` accepts any host). A wildcard bind (``0.0.0.0``,
    ``::``) also accepts this machine's host name.
    """
    names = {*LOOPBACK_NAMES, *(_host_name(h) for h in extra if h.strip())}
    if bind:
        names.add(_host_name(bind))
        if _is_unspecified(bind):
            names.add(_host_name(socket.gethostname()))
    return frozenset(names)


def frame_ancestors(hosts: frozenset[str]) -> str:
    """The ``Content-Security-Policy`` that lets only this app, pages of the server's own host names on any
    port (a Jupyter notebook on localhost showing ``ls.launch``'s IFrame) and VS Code's notebook webviews
    frame the app; any other site framing it could trick clicks on its buttons (clickjacking), which the
    Origin checks cannot see because the framed app's requests come from its own origin."""
    named = sorted(h for h in hosts if h != "*" and not h.startswith("["))  # CSP has no IPv6 literals
    sources = [f"{scheme}://{h}:*" for h in named for scheme in ("http", "https")]
    return "frame-ancestors " + " ".join(["'self'", *sources, "vscode-webview:"])


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str]:
    """``'127.0.0.1:8040'`` -> ('127.0.0.1', '8040'); ``'[::1]:80'`` -> ('[::1]', '80')."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, ""
        rest = value[end + 1 :]
        return value[: end + 1], rest[1:] if rest.startswith(":") else rest  # a bad rest is kept, to be refused
    name, _, port = value.partition(":")
    return name, port


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "status": status}, status_code=status, media_type="application/problem+json"
    )


class TokenMiddleware:
    """Every /api request must carry the token: ``Authorization: Bearer <token>`` or ``?token=``.

    Pure ASGI (no per-request task and body wrapping, unlike Starlette's ``BaseHTTPMiddleware``).
    """

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/api/"):
            header = next(
                (v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"), ""
            )
            if header.lower().startswith("bearer "):
                given = header[7:]
            else:  # decoded as Starlette decodes request.query_params
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                given = next((v for k, v in query if k == "token"), "")
            # bytes: compare_digest refuses non-ASCII str, which would be a 500 instead of a 401
            if not secrets.compare_digest(given.encode("utf-8", "surrogatepass"), self.token):
                await _problem(401, "Unauthorized", "missing or wrong token")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestGuard:
    """Pure ASGI middleware: Host, Origin, content type and body-size checks (see the module doc).

    Parameters
    ----------
    app : ASGI app
    hosts : frozenset of str
        Allowed host names without port (:func:`allowed_hosts`); ``'*'`` allows any.
    max_body : int
        Largest accepted request body in bytes; larger ones get 413 before the app reads them.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str], max_body: int = DEFAULT_MAX_BODY):
        self.app = app
        self.hosts = hosts
        self.max_body = max_body
        self.frame_policy = frame_ancestors(hosts).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._check(scope, headers)
        if refusal is not None:
            if scope["type"] == "http":
                await refusal(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        scope = self._route_path(scope)
        if scope["type"] == "http" and ("content-length" in headers or "transfer-encoding" in headers):
            body = await self._read_body(receive)
            if body is None:
                await _problem(
                    413,
                    "Request body too large",
                    f"the request body is larger than {self.max_body} bytes, the most this server accepts",
                )(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, self._with_frame_policy(send) if scope["type"] == "http" else send)

    def _with_frame_policy(self, send: Send) -> Send:
        """``send`` that adds the Content-Security-Policy ``frame-ancestors`` header to every response."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                message = {**message, "headers": [*headers, (b"content-security-policy", self.frame_policy)]}
            await send(message)

        return sending

    def _check(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        host = headers.get("host", "")
        name, port = _split_host(host)
        if "*" not in self.hosts and (name not in self.hosts or not (port == "" or port.isdigit())):
            allowed = ", ".join(sorted(self.hosts))
            return _problem(
                421,
                "Host not allowed",
                f"Host {host!r} is not a name this server answers to (allowed: {allowed}); a request for another "
                "name can be a DNS-rebinding attack. fix: open the server by one of those names, or start it "
                f"with `leapscope serve --allow-host {name or 'NAME'}` if that name is yours",
            )
        # Browsers say where a request comes from (Fetch Metadata): a page of another site may not even read
        # (a GET can start a projection job or record test results). curl and scripts send no such header.
        site = headers.get("sec-fetch-site", "").strip().lower()
        if site in ("cross-site", "same-site") and scope.get("path", "").startswith("/api/"):
            return _problem(
                403,
                "Cross-site request refused",
                f"a request from another site (Sec-Fetch-Site: {site}) may not use this server's API; "
                "open the leapscope app itself",
            )
        if scope["type"] != "http" or scope.get("method", "GET").upper() not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host, scope.get("scheme", "http")):
            return _problem(
                403,
                "Cross-origin request refused",
                f"{scope['method']} from Origin {origin!r} to host {host!r}: state-changing requests are accepted "
                "only from the app's own origin (or without an Origin header)",
            )
        content_type = headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json":
            return _problem(
                415,
                "Unsupported media type",
                f"{scope['method']} requests need 'Content-Type: application/json'; got {content_type or 'none'!r}. "
                "fix: send a JSON body (`{}` when there is nothing to send) with that header",
            )
        length = headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > self.max_body:
            return _problem(
                413,
                "Request body too large",
                f"the request body is {int(length)} bytes; this server accepts at most {self.max_body}",
            )
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past ``max_body``."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _route_path(scope: Scope) -> Scope:
        """Decode the path once from ``raw_path``; segments that hold an encoded ``/`` stay one segment.

        Servers decode ``%2F`` to ``/`` before routing, so a sample id ``a/b`` would split into two
        path segments. When a decoded segment contains ``/``, every segment keeps ``%`` and ``/``
        escaped (``%25``, ``%2F``) and :class:`DecodedRoute` unescapes the matched parameters.
        """
        raw = scope.get("raw_path")
        if scope["type"] != "http" or not raw or not scope.get("path", "").startswith("/api/"):
            return scope
        segments = [
            unquote_to_bytes(part).decode("utf-8", "replace")
            for part in raw.split(b"?", 1)[0].decode("latin-1").split("/")
        ]
        if any("/" in s for s in segments):
            path = "/".join(quote(s, safe="") if ("/" in s or "%" in s) else s for s in segments)
            return {**scope, "path": path, _ESCAPED: True}
        return {**scope, "path": "/".join(segments)}


def _same_origin(origin: str, host: str, scheme: str) -> bool:
    """``Origin`` (``scheme://host[:port]``) names the request's scheme and the host and port of its ``Host``."""
    if origin.strip().lower() == "null":
        return False
    parts = urlsplit(origin.strip().lower())
    if (
        parts.scheme != scheme
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
    ):
        return False
    default = {"http": "80", "https": "443"}
    o_name, o_port = _split_host(parts.netloc)
    h_name, h_port = _split_host(host)
    return o_name == h_name and (o_port or default[parts.scheme]) == (h_port or default.get(scheme, "80"))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class DecodedRoute(APIRoute):
    """An API route whose path parameters are exact even when a segment held an encoded ``/``.

    With :class:`RequestGuard` in front, a request path that contains ``%2F`` inside a segment is
    routed with its segments still escaped; this route unescapes each matched parameter, so
    ``/samples/training/a%2Fb`` gives ``sample_id == 'a/b'`` and ``a%252Fb`` gives ``'a%2Fb'``.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match != Match.NONE and scope.get(_ESCAPED) and "path_params" in child:
            mine = set(self.param_convertors)
            child["path_params"] = {
                k: unquote(v) if k in mine and isinstance(v, str) else v for k, v in child["path_params"].items()
            }
        return match, child
