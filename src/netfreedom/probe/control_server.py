"""The control server's HTTP edge, answering as OONI's ``oohelperd`` does, and bounding what requests cost.

Every path is served as ``/`` (Go's ``ServeMux`` pattern "/"): ``GET`` answers ``{"message":"Hello
OONItarian!"}``, ``POST`` measures, any other method is a 400.  Bounds: the request body
(``max_request_bytes``, 16 MiB as OONI's → 413), per-step timeouts (in ``ControlConfig``), and
concurrency: beyond ``max_concurrency`` measurements in flight the server answers 503 at once instead of
queueing work a probe would time out on anyway — except that OONI's own probes (a ``User-Agent``
starting ``ooniprobe-``) are refused only beyond ``max(max_concurrency, 50)``, OONI's threshold for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from netfreedom.errors import InputError
from netfreedom.probe.control import ControlConfig, measure, parse_request

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

HELLO = {"message": "Hello OONItarian!"}
OONIPROBE_CONCURRENCY = 50


def create_app(config: ControlConfig) -> Starlette:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount

    in_flight = 0

    def json(status: int, doc: object) -> Response:
        return Response(msgspec.json.encode(doc), status, media_type="application/json")

    def error(status: int, message: str) -> Response:
        return json(status, {"error": message})

    async def handle(request: Request) -> Response:
        if request.method == "GET":
            return json(200, HELLO)
        if request.method != "POST":
            return error(400, f"method {request.method[:20]} not allowed: GET or POST")
        return await control(request)

    async def control(request: Request) -> Response:
        nonlocal in_flight
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > config.max_request_bytes):
            return error(413, f"request larger than {config.max_request_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_request_bytes:
                return error(413, f"request larger than {config.max_request_bytes} bytes")
        try:
            req = parse_request(bytes(body), config)
        except InputError as exc:
            return error(400, str(exc))
        limit = config.max_concurrency
        if request.headers.get("user-agent", "").startswith("ooniprobe-"):
            limit = max(limit, OONIPROBE_CONCURRENCY)
        if in_flight >= limit:
            return error(503, "busy: too many measurements in flight")
        in_flight += 1
        try:
            result = await measure(req, config)
        finally:
            in_flight -= 1
        return json(200, result)

    async def every_path(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handle(Request(scope, receive))
        await response(scope, receive, send)

    # A mount of a plain ASGI callable sees every path and every method (even unknown ones).
    return Starlette(routes=[Mount("/", app=every_path)])
