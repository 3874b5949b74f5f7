"""``netfreedom control serve``: the web connectivity control (test helper) server."""

from __future__ import annotations

from typing import Annotated

import typer

control_app = typer.Typer(help="The web connectivity control (test helper) server.")


@control_app.command("serve")
def serve(
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8080,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Also dial loopback/private addresses (tests, lab).")
    ] = False,
    resolver: Annotated[
        str | None, typer.Option("--resolver", help="DNS resolver IP[:PORT] (default: system).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per TCP/TLS step.")] = 10.0,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency",
            min=1,
            help="Measurements in flight; 503 beyond (OONI's probes, User-Agent ooniprobe-*: at least 50).",
        ),
    ] = 25,
) -> None:
    """Serve the control protocol: POST a control request, get the control measurement back."""
    from netfreedom.extras import require

    require("netfreedom control serve", "probe", "web")
    from netfreedom.cli.probe import parse_resolver
    from netfreedom.probe.control import ControlConfig
    from netfreedom.probe.control_server import create_app
    from netfreedom.probe.serving import serve as serve_app

    config = ControlConfig(
        resolver=parse_resolver(resolver),
        allow_private=allow_private,
        tcp_timeout=timeout,
        http_timeout=max(timeout, 15.0),
        max_concurrency=max_concurrency,
    )
    serve_app(create_app(config), host, port)


def register(app: typer.Typer) -> None:
    app.add_typer(control_app, name="control")
