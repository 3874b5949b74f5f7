"""The API's outermost layer: what every response carries, whatever produced it.

A pure ASGI middleware (not a route decorator or an exception handler, which a 500 or a 404 from the
router would bypass): the security headers on every response, errors included; ``HEAD`` answered as
``GET`` without the body, on every route; a 405's ``Allow`` naming ``HEAD`` beside ``GET``; and an
exception that escaped every handler answered as ``{"error": "internal error"}`` with status 500, the
traceback going to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
INTERNAL_ERROR = b'{"error":"internal error"}'

_log = logging.getLogger("netfreedom.web")
_OWN = {name.lower().encode() for name, _ in SECURITY_HEADERS}
_ENCODED = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS]


class SecureResponses:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _OWN]
                if message["status"] == 405:
                    headers = [(k, _with_head(v) if k.lower() == b"allow" else v) for k, v in headers]
                message = {**message, "headers": [*headers, *_ENCODED]}
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, secured)
        except Exception:
            _log.exception("internal error answering %s %s", scope["method"], scope.get("path"))
            if started:
                raise
            length = str(len(INTERNAL_ERROR)).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", length)]
            await secured({"type": "http.response.start", "status": 500, "headers": headers})
            await secured({"type": "http.response.body", "body": INTERNAL_ERROR})


def _with_head(allow: bytes) -> bytes:
    methods = [m.strip() for m in allow.decode("latin-1").split(",") if m.strip()]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return ", ".join(methods).encode("latin-1")
