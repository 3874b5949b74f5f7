"""The fingerprint and download options shared by ``analyze`` and ``ingest`` (which analyses as it reads):
``--fingerprints-dir``, ``--no-fingerprints``, ``--mirror`` and ``--cache-dir``, declared once here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from netfreedom.analysis import FingerprintDB
    from netfreedom.fetch import Fetcher

__all__ = ["CacheDirOpt", "FingerprintsDirOpt", "MirrorOpt", "NoFingerprintsOpt", "load_fingerprints"]

FingerprintsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--fingerprints-dir",
        envvar="NETFREEDOM_FINGERPRINTS_DIR",
        help="Read the four fingerprint files from this folder (or below it); env "
        "NETFREEDOM_FINGERPRINTS_DIR.",
    ),
]
NoFingerprintsOpt = Annotated[bool, typer.Option("--no-fingerprints", help="Skip blockpage fingerprints.")]
MirrorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        help="Serve remote inputs (archive and fingerprint URLs) from here: BASE_URL_OR_FOLDER, or "
        "URL_PREFIX=TARGET.",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Download cache (env NETFREEDOM_CACHE; default ~/.cache/netfreedom)."),
]


def load_fingerprints(folder: Path | None, fetcher: Fetcher, enabled: bool) -> FingerprintDB | None:
    """The fingerprints the options ask for: none, the files in ``folder``, or their public homes (fetched
    through ``fetcher``, so cached and mirrored).  A failed download names the options that do without it."""
    from netfreedom.analysis.fingerprint_sources import DEFAULT_SOURCES, sources_in_dir
    from netfreedom.analysis.fingerprint_sources import load_fingerprints as load

    from ._hints import FINGERPRINTS, fetch_hint

    if not enabled:
        return None
    sources = sources_in_dir(folder) if folder is not None else DEFAULT_SOURCES
    with fetch_hint(FINGERPRINTS):
        return load(sources, fetcher)
