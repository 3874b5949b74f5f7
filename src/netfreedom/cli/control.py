"""``netfreedom control serve``: the web connectivity control (test helper) server."""

from __future__ import annotations

from pathlib import Path
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
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate chain (as OONI's helpers)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The PEM private key of --tls-cert.")
    ] = None,
    asn_db: Annotated[
        Path | None,
        typer.Option("--asn-db", help="iptoasn TSV file (ip2asn-combined.tsv[.gz]) for ip_info asn; else 0."),
    ] = None,
) -> None:
    """Serve the control protocol: POST a control request, get the control measurement back."""
    from netfreedom.extras import require

    require("netfreedom control serve", "probe", "web")
    from netfreedom.cli.probe import parse_resolver
    from netfreedom.errors import InputError
    from netfreedom.probe import asndb
    from netfreedom.probe.control import ControlConfig
    from netfreedom.probe.control_server import create_app
    from netfreedom.probe.serving import serve as serve_app

    from ._console import make_console

    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert and --tls-key go together")
    for given in (tls_cert, tls_key):
        if given is not None and not given.is_file():
            raise InputError("TLS file does not exist", file=str(given))
    console = make_console(stderr=True)
    database = None
    if asn_db is None:
        console.print("No ASN database configured (--asn-db): every ip_info asn is 0, as OONI's for unknown.")
    else:
        database = asndb.load(asn_db)
        skipped = f"; {len(database.bad_lines)} lines skipped" if database.bad_lines else ""
        console.print(f"ASN database {asn_db}: {database.size} ranges{skipped}.")
    config = ControlConfig(
        resolver=parse_resolver(resolver),
        allow_private=allow_private,
        tcp_timeout=timeout,
        http_timeout=max(timeout, 15.0),
        max_concurrency=max_concurrency,
        asn_db=database,
    )
    tls = (str(tls_cert), str(tls_key)) if tls_cert is not None and tls_key is not None else None
    serve_app(create_app(config), host, port, tls=tls)


def register(app: typer.Typer) -> None:
    app.add_typer(control_app, name="control")
