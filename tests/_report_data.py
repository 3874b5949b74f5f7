"""Helpers for the report/web tests: a real DuckDB store holding verdict rows the test chooses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

VERDICT_COLUMNS = """
    measurement_uid VARCHAR PRIMARY KEY, analysis_version INTEGER, fingerprints_id VARCHAR,
    measurement_start_time TIMESTAMPTZ, probe_cc VARCHAR, probe_asn VARCHAR, probe_network_name VARCHAR,
    test_name VARCHAR, test_version VARCHAR, report_id VARCHAR, input VARCHAR, domain VARCHAR,
    outcome VARCHAR, layer VARCHAR, reason VARCHAR, confidence DOUBLE, confirmed BOOLEAN,
    fingerprint VARCHAR, blocking VARCHAR, accessible BOOLEAN
"""


def verdict(
    uid: str,
    when: str,
    where: str,
    url: str | None,
    outcome: str,
    *,
    confirmed: bool = False,
    layer: str | None = None,
    test_name: str = "web_connectivity",
    network: str = "",
) -> dict[str, Any]:
    """``where`` is ``"CC ASN"``, e.g. ``"IR AS44244"``."""
    from urllib.parse import urlsplit

    cc, asn = where.split()

    return {
        "measurement_uid": uid,
        "analysis_version": 1,
        "fingerprints_id": "t",
        "measurement_start_time": dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC),
        "probe_cc": cc,
        "probe_asn": asn,
        "probe_network_name": network or f"Net {asn}",
        "test_name": test_name,
        "test_version": "0.4.3",
        "report_id": "r-" + uid,
        "input": url,
        "domain": urlsplit(url).hostname if url else None,
        "outcome": outcome,
        "layer": layer,
        "reason": "ok" if outcome == "ok" else "http.blockpage" if confirmed else "tcp.reset",
        "confidence": 0.9,
        "confirmed": confirmed,
        "fingerprint": "fp" if confirmed else None,
        "blocking": None,
        "accessible": None,
    }


def write_verdicts(db: Path, rows: list[dict[str, Any]], testlists: list[tuple[str, str, str, str]]) -> None:
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE IF NOT EXISTS verdicts ({VERDICT_COLUMNS})")
    con.execute(
        "CREATE TABLE IF NOT EXISTS testlists "
        "(cc VARCHAR, url VARCHAR, domain VARCHAR, category_code VARCHAR)"
    )
    if rows:
        cols = list(rows[0])
        con.executemany(
            f"INSERT INTO verdicts ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [[r[c] for c in cols] for r in rows],
        )
    if testlists:
        con.executemany("INSERT INTO testlists VALUES (?, ?, ?, ?)", testlists)
    con.close()
