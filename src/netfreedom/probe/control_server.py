"""The control server's HTTP edge: a FastAPI app that bounds what one request and all requests may cost.

Bounds: the request body (``max_request_bytes`` → 413), the number of endpoints (→ 400), per-step
timeouts (in ``ControlConfig``), and concurrency: beyond ``max_concurrency`` measurements in flight the
server answers 503 at once instead of queueing work a probe would time out on anyway.
"""

from typing import TYPE_CHECKING

import msgspec

from netfreedom.errors import InputError
from netfreedom.probe.control import ControlConfig, measure, parse_request

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(config: ControlConfig) -> "FastAPI":
    # No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run time.
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse, Response

    app = FastAPI(title="netfreedom control", docs_url=None, redoc_url=None, openapi_url=None)
    in_flight = 0

    def error(status: int, message: str) -> Response:
        return Response(msgspec.json.encode({"error": message}), status, media_type="application/json")

    @app.get("/")
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("netfreedom web connectivity control: POST a control request here\n")

    @app.post("/")
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
        if in_flight >= config.max_concurrency:
            return error(503, "busy: too many measurements in flight")
        in_flight += 1
        try:
            result = await measure(req, config)
        finally:
            in_flight -= 1
        return Response(msgspec.json.encode(result), media_type="application/json")

    return app
