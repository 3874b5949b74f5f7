"""``netfreedom serve``: the read-only API (and the static site) over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

DB_HELP = "Store file (env NETFREEDOM_DB; default ./netfreedom.duckdb)."


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        *,
        db: Annotated[Path | None, typer.Option("--db", help=DB_HELP)] = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
        site: Annotated[
            Path | None, typer.Option(help="Static site folder served at / (from `netfreedom report`).")
        ] = None,
        query_timeout: Annotated[
            float, typer.Option(min=0.1, help="Seconds before a query is interrupted (503).")
        ] = 10.0,
    ) -> None:
        """Serve the read-only API at /api/v1/ (OpenAPI at /openapi.json) and the site at /.

        The store is opened read-only; every list endpoint answers JSON or CSV (format=csv).
        """
        from netfreedom.extras import require

        require("netfreedom serve", "web")
        import uvicorn

        from netfreedom.store import default_db_path
        from netfreedom.web import create_app
        from netfreedom.web.server import server_config

        api = create_app(db or default_db_path(), site=site, query_timeout=query_timeout)
        sock = _listen(host, port)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"serving http://{shown}:{bound}/  (API: /api/v1/, OpenAPI: /openapi.json)", err=True)
        server = uvicorn.Server(server_config(api, log_level="warning"))
        server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """Bind before announcing: a taken port or an unknown host is a clear error, and --port 0 shows the port
    the system chose."""
    from netfreedom.errors import InputError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock
