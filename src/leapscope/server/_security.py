"""Token checks and bind rules: loopback by default, a token for anything else."""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

__all__ = ["TokenMiddleware", "is_loopback", "new_token"]


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


class TokenMiddleware(BaseHTTPMiddleware):
    """Every /api request must carry the token: ``Authorization: Bearer <token>`` or ``?token=``."""

    def __init__(self, app: object, token: str):
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith("/api/"):
            header = request.headers.get("authorization", "")
            given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
            if not secrets.compare_digest(given, self.token):
                return JSONResponse({"title": "Unauthorized", "detail": "missing or wrong token", "status": 401}, status_code=401)
        return await call_next(request)
