"""``netfreedom serve``: the read-only API (and the static site) over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from ._store import DbOpt, ProjectOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        *,
        db: DbOpt = None,
        project: ProjectOpt = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
        site: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                help="Static site folder served at / (from `netfreedom report`; default: the project's "
                "site when it was built).",
            ),
        ] = None,
        query_timeout: Annotated[
            float, typer.Option(min=0.1, help="Seconds before a query is interrupted (503).")
        ] = 10.0,
    ) -> None:
        """Serve the read-only API at /api/v1/ (reference at /docs, OpenAPI at /openapi.json) and the site.

        The site is served at / when there is one (--site, or the project's); else / is a short page
        linking the API.  The store is opened read-only, so `stats` and `index show` still work while it
        runs; every list endpoint answers JSON or CSV (format=csv).
        """
        from netfreedom.extras import require

        require("netfreedom serve", "web")
        import uvicorn

        from netfreedom.pipeline.project import load_project, locate_store
        from netfreedom.web import create_app
        from netfreedom.web.server import server_config

        db_path = locate_store(db, project)
        if site is None and project is not None:
            built = load_project(project).output_path
            site = built if (built / "index.html").is_file() else None
        api = create_app(db_path, site=site, query_timeout=query_timeout)
        sock = _listen(host, port)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        where = f"site from {site}" if site is not None else "no site: / links the API"
        typer.echo(
            f"serving http://{shown}:{bound}/  ({where}; API /api/v1/, reference /docs, "
            "OpenAPI /openapi.json)",
            err=True,
        )
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
