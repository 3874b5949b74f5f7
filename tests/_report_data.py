"""Helpers for the report/web tests: a real DuckDB store holding verdict rows the test chooses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb


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
    from netfreedom.store.schema import DDL

    con = duckdb.connect(str(db))
    for ddl in DDL:  # the store's own tables, so the schema cannot drift from the real one
        con.execute(ddl)
    con.execute(
        "CREATE TABLE IF NOT EXISTS testlists "
        "(cc VARCHAR, url VARCHAR, domain VARCHAR, category_code VARCHAR)"
    )
    if rows:
        rows = [{**r, "file": "test.parquet"} for r in rows]
        import pyarrow as pa

        batch = pa.Table.from_pylist(rows)  # noqa: F841  (read by DuckDB's replacement scan)
        con.execute("INSERT INTO verdicts BY NAME SELECT * FROM batch")
    if testlists:
        con.executemany("INSERT INTO testlists VALUES (?, ?, ?, ?)", testlists)
    con.close()


_NAME_FIXES = {
    "Russia": "RU",
    "Turkey": "TR",
    "Iran": "IR",
    "Syria": "SY",
    "Vietnam": "VN",
    "South Korea": "KR",
    "Venezuela": "VE",
    "The Gambia": "GM",
    "Gambia": "GM",
    "Kyrgyzstan": "KG",
    "Bolivia": "BO",
    "Tanzania": "TZ",
    "United States": "US",
    "United Kingdom": "GB",
    "Belarus": "BY",
}


def iso2_of(name: str) -> str:
    import pycountry

    if name in _NAME_FIXES:
        return _NAME_FIXES[name]
    return str(pycountry.countries.lookup(name).alpha_2)


def write_index_tables(db: Path, fotn_csv: Path) -> list[dict[str, Any]]:
    """Index tables (docs/architecture.md contract) for the 2018 edition from FH's published figures, plus a
    2017 edition 2 points worse for the first ten countries so change and history show.
    Returns the 2018 rows."""
    import csv
    import json

    from netfreedom.evidence.tables import methodology_document
    from netfreedom.index.methodology import load_methodology

    rows = list(csv.DictReader(fotn_csv.open(encoding="utf-8")))
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE index_results (year INTEGER, methodology_id VARCHAR, scale VARCHAR, iso2 VARCHAR, "
        "country VARCHAR, total DOUBLE, total_low DOUBLE, total_high DOUBLE, status VARCHAR, rank INTEGER, "
        "rank_low INTEGER, rank_high INTEGER, change DOUBLE)"
    )
    con.execute(
        "CREATE TABLE index_scores (year INTEGER, iso2 VARCHAR, code VARCHAR, level VARCHAR, score DOUBLE, "
        "low DOUBLE, high DOUBLE, max DOUBLE, justification VARCHAR, sources VARCHAR[])"
    )
    con.execute(
        "CREATE TABLE index_flags (year INTEGER, iso2 VARCHAR, code VARCHAR, kind VARCHAR, message VARCHAR)"
    )
    con.execute("CREATE TABLE index_methodology (year INTEGER, methodology_id VARCHAR, document JSON)")
    out = []
    for i, r in enumerate(rows):
        cc = iso2_of(r["country"])
        total = float(r["total"])
        prev = total + 2 if i < 10 else None
        con.execute(
            "INSERT INTO index_results VALUES (2018, 'fotn-legacy', '0-best', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                cc,
                r["country"],
                total,
                total - 1,
                total + 1,
                r["status"],
                int(r["rank_by_total"]),
                int(r["rank_by_total"]),
                int(r["rank_by_total"]) + 1,
                None if prev is None else total - prev,
            ],
        )
        if prev is not None:
            con.execute(
                "INSERT INTO index_results VALUES (2017, 'fotn-legacy', '0-best', ?, ?, ?, NULL, NULL, ?, "
                "NULL, "
                "NULL, NULL, NULL)",
                [cc, r["country"], prev, r["status"]],
            )
        for code, col, mx in (
            ("A", "A_obstacles_access", 25),
            ("B", "B_limits_content", 35),
            ("C", "C_violations_user_rights", 40),
        ):
            con.execute(
                "INSERT INTO index_scores VALUES (2018, ?, ?, 'category', ?, ?, ?, ?, ?, ?)",
                [
                    cc,
                    code,
                    float(r[col]),
                    float(r[col]),
                    float(r[col]),
                    mx,
                    f"Published by Freedom House for {r['country']}.",
                    ["https://freedomhouse.org/"],
                ],
            )
        out.append({"iso2": cc, **r})
    for year in (2017, 2018):
        doc = methodology_document(load_methodology("fotn-legacy"), year)
        con.execute("INSERT INTO index_methodology VALUES (?, 'fotn-legacy', ?)", [year, json.dumps(doc)])
    con.execute(
        "INSERT INTO index_flags VALUES (2018, 'CN', 'B1', 'evidence', 'Confirmed blocking of news sites.')"
    )
    con.close()
    return out


EVIL_URL = 'https://evil.example/"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
EVIL_NETWORK = "<script>window.__pwned=3</script><svg onload=alert(1)>"


def sample_verdicts(n: int = 1500, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic verdicts for a few countries, plus one measurement carrying hostile markup."""
    import random

    rnd = random.Random(seed)
    nets = {
        "CN": ["AS4134", "AS4837", "AS9808"],
        "IR": ["AS44244", "AS197207"],
        "RU": ["AS12389"],
        "DE": ["AS3320"],
    }
    rows = []
    for i in range(n):
        cc = rnd.choice(sorted(nets))
        site = rnd.randint(0, 29)
        bad = site % 3 == 0 and cc != "DE"
        outcome = (
            "blocked" if bad and rnd.random() < 0.85 else rnd.choice(["ok"] * 10 + ["down", "inconclusive"])
        )
        rows.append(
            verdict(
                f"u{i:05d}",
                f"2018-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:00:00",
                f"{cc} {rnd.choice(nets[cc])}",
                f"https://site{site}.example/",
                outcome,
                confirmed=outcome == "blocked" and site % 2 == 0,
                layer=rnd.choice(["dns", "tcp", "http"]) if outcome == "blocked" else None,
            )
        )
    rows.append(
        verdict(
            "evil",
            "2018-05-31 10:00:00",  # the last day of the 2018 edition's coverage: pages and API show it
            "CN AS4134",
            EVIL_URL,
            "blocked",
            layer="http",
            network=EVIL_NETWORK,
        )
    )
    return rows


SAMPLE_LISTS = [
    (
        "global",
        f"https://site{k}.example/",
        f"site{k}.example",
        ["NEWS", "POLR", "HUMR", "LGBT", "COMT", "ANON"][k % 6],
    )
    for k in range(30)
]


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fotn-2018"
HOSTILE_NETWORK = "<script>window.__pwned=3</script><b onmouseover=window.__pwned=4>Evil ISP</b>"
HOSTILE_URL = 'http://archive.org/<script>window.__pwned=1</script>?q="><img src=x onerror=window.__pwned=2>'


def hostile_measurement(measurements: Path) -> bytes:
    """A real blockpage measurement (Indonesia, archive.org) whose URL, network name, body and title carry
    markup that would run script if a page ever treated it as HTML."""
    import orjson

    line = (measurements / "web_connectivity.jsonl").read_bytes().splitlines()[9]
    m = orjson.loads(line)
    assert m["input"] == "http://archive.org"
    m["measurement_uid"] = "20180601000000.000000_ID_webconnectivity_hostile"
    # Inside the 2018 edition's coverage period (June 2017 - May 2018): the country page shows that period.
    m["measurement_start_time"] = m["test_start_time"] = "2018-03-01 12:00:00"
    m["input"] = HOSTILE_URL
    m["probe_network_name"] = HOSTILE_NETWORK
    payload = "<title><script>window.__pwned=5</script></title><img src=x onerror=\"fetch('/pwned')\">"
    for req in m["test_keys"].get("requests", []):
        resp = req.get("response") or {}
        if isinstance(resp.get("body"), str):
            resp["body"] = payload + resp["body"]
    return orjson.dumps(m) + b"\n"


def example_project(tmp: Path, measurements: Path, *, extra: list[Path] = ()) -> Path:  # type: ignore[assignment]
    """The shipped example project, copied to ``tmp`` with its measurement and aggregation sources made
    absolute."""
    text = (EXAMPLE / "netfreedom.toml").read_text(encoding="utf-8")
    rel = 'path = "../../../shared/data/ooni/measurements"'
    assert rel in text
    sources = f"path = {str(measurements)!r}"
    for p in extra:
        sources += f"\n\n[[sources]]\npath = {str(p)!r}"
    project = tmp / "project"
    project.mkdir()
    # The OONI aggregation exports it lists live beside the measurements.
    text = text.replace('"../../../shared/data/ooni/aggregation/', f'"{measurements.parent / "aggregation"}/')
    (project / "netfreedom.toml").write_text(text.replace(rel, sources), encoding="utf-8")
    return project
