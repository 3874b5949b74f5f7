"""The ``--db`` option of the commands that open a store, and ``--project`` of those that read one (stats,
index show, report, serve): the store is ``--db FILE``, else the one ``--project DIR``'s netfreedom.toml
names, else ``$NETFREEDOM_DB`` or ``./netfreedom.duckdb`` (``netfreedom.pipeline.project.locate_store``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        metavar="FILE",
        help="Store file (env NETFREEDOM_DB; default ./netfreedom.duckdb).  DuckDB's memory limit: env "
        "NETFREEDOM_DUCKDB_MEMORY (default: 256MB while ingesting or analysing, DuckDB's own otherwise).",
    ),
]
ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        metavar="DIR",
        help="A project folder: use the store its netfreedom.toml names (where `netfreedom build DIR` "
        "put it).",
    ),
]
