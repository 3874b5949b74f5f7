"""``netfreedom lab``: run the censorship lab on loopback for a demonstration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def lab(
    *,
    net: Annotated[
        str, typer.Option("--net", help="First three octets of the lab's loopback addresses.")
    ] = "127.0.0",
    folder: Annotated[
        Path, typer.Option("--dir", help="Where to write the lab's test list and routes.")
    ] = Path("netfreedom-lab"),
) -> None:
    """Start DNS servers, web servers, censor middleboxes and a control on loopback; Ctrl-C stops."""
    import shutil
    import threading

    from netfreedom.extras import require

    require("netfreedom lab", "probe", "web")

    from rich.markup import escape
    from rich.table import Table

    from netfreedom.errors import InputError
    from netfreedom.probe.lab import Lab

    from ._console import command, make_console

    parts = net.split(".")
    if len(parts) != 3 or parts[0] != "127" or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise InputError(f"--net must be three octets inside 127/8, like 127.0.0 (got {net!r})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create folder: {exc.strerror}", file=str(folder)) from exc
    console = make_console()
    with Lab(net) as running:
        table = Table(title="netfreedom censorship lab")
        table.add_column("case")
        table.add_column("URL")
        table.add_column("expected verdict")
        for case in running.cases:
            table.add_row(case.name, case.url, case.expected)
        console.print(table)
        test_list = running.write_test_list(folder / "lab.csv")
        routes = running.write_routes(folder / "routes.json")
        ca = ""
        if running.ca_file:
            ca = str(folder / "lab-ca.pem")
            shutil.copyfile(running.ca_file, ca)
        console.print(f"control: {running.control_url}   censored resolver: {running.probe_resolver}")
        probe = command(
            "probe", "run", "--test-list", test_list, "--control", running.control_url,
            "--resolver", running.probe_resolver, "--lab-routes", routes, "--output", "lab.jsonl",
            "--timeout", "2", *(["--ca-file", ca] if ca else []), "--yes",
        )  # fmt: skip
        console.print("try, in another shell (--yes accepts the probe's risk notice; omit it to read it):")
        console.print(f"  {escape(probe)}")
        console.print(f"then: {escape(command('analyze', 'lab.jsonl', '-o', '-', '--no-fingerprints'))}")
        console.print("running; Ctrl-C to stop")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping")


def register(app: typer.Typer) -> None:
    app.command("lab")(lab)
