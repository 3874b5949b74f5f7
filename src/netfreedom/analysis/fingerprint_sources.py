"""Where fingerprints come from: their public homes (fetched with cache and mirrors) or local files.

The four sources are OONI's two blocking-fingerprints CSVs and Censored Planet's two signature files.
OONI's HTTP CSV already imports most Censored Planet signatures (names ``cp.…``); a Censored Planet
signature whose ``cp.`` name OONI already has is skipped, so each signature is matched once, where OONI
located it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from netfreedom.analysis.fingerprints import FingerprintDB, parse_cp_signatures, parse_ooni_csv
from netfreedom.errors import ConfigError
from netfreedom.fetch import Fetcher

__all__ = [
    "CP_HOME",
    "DEFAULT_SOURCES",
    "OONI_HOME",
    "FingerprintSources",
    "fingerprints_from_bytes",
    "load_fingerprints",
    "sources_in_dir",
]

OONI_HOME = "https://raw.githubusercontent.com/ooni/blocking-fingerprints/main/"
CP_HOME = (
    "https://raw.githubusercontent.com/censoredplanet/censoredplanet-analysis/master/pipeline/metadata/data/"
)
_FILES = ("fingerprints_dns.csv", "fingerprints_http.csv")
_CP_FILES = ("blockpage_signatures.json", "false_positive_signatures.json")


@dataclass(frozen=True)
class FingerprintSources:
    """Each field is a URL (fetched through a :class:`~netfreedom.fetch.Fetcher`) or a local path."""

    dns_csv: str = OONI_HOME + _FILES[0]
    http_csv: str = OONI_HOME + _FILES[1]
    cp_blockpages: str = CP_HOME + _CP_FILES[0]
    cp_false_positives: str = CP_HOME + _CP_FILES[1]

    def all(self) -> tuple[str, str, str, str]:
        return (self.dns_csv, self.http_csv, self.cp_blockpages, self.cp_false_positives)


DEFAULT_SOURCES = FingerprintSources()


def sources_in_dir(folder: Path) -> FingerprintSources:
    """The four files found by name in ``folder`` or below it (e.g. a copy of the shared data folder)."""
    found: list[str] = []
    for name in (*_FILES, *_CP_FILES):
        direct = folder / name
        path = direct if direct.is_file() else next(iter(sorted(folder.rglob(name))), None)
        if path is None:
            raise ConfigError(f"no {name} in {folder} or below it", file=str(folder))
        found.append(str(path))
    return FingerprintSources(*found)


def fingerprints_from_bytes(
    dns_csv: bytes, http_csv: bytes, cp_blockpages: bytes = b"", cp_false_positives: bytes = b""
) -> FingerprintDB:
    """Parse and compile the four sources (Censored Planet ones optional)."""
    dns, p1 = parse_ooni_csv(dns_csv, "fingerprints_dns.csv")
    http, p2 = parse_ooni_csv(http_csv, "fingerprints_http.csv")
    blockpages, p3 = parse_cp_signatures(cp_blockpages, false_positive=False, origin=_CP_FILES[0])
    false_pos, p4 = parse_cp_signatures(cp_false_positives, false_positive=True, origin=_CP_FILES[1])
    known = {fp.name for fp in http}
    extra = [fp for fp in (*blockpages, *false_pos) if fp.name not in known]
    return FingerprintDB((*dns, *http, *extra), load_problems=(*p1, *p2, *p3, *p4))


def _read(source: str, fetcher: Fetcher) -> bytes:
    if source.startswith(("http://", "https://")):
        return fetcher.fetch(source).read_bytes()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read fingerprints: {exc.strerror}", file=source) from exc


def load_fingerprints(
    sources: FingerprintSources = DEFAULT_SOURCES, fetcher: Fetcher | None = None
) -> FingerprintDB:
    """Read (URLs through the fetcher's cache and mirrors) and compile the fingerprints."""
    own = fetcher is None
    fetcher = fetcher or Fetcher()
    try:
        return fingerprints_from_bytes(*(_read(s, fetcher) for s in sources.all()))
    finally:
        if own:
            fetcher.close()
