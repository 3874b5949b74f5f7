"""One row per country and window: the summary ``netfreedom evidence countries``, ``/api/v1/countries`` and
the site's country pages and ranking show — computed from the registered measures, nothing else.

Columns (:data:`COLUMNS`): ``iso2, country, period`` (the window, ``since/until`` with ``until`` exclusive,
or ``all``), ``measurements`` and ``networks`` (every verdict of the country in the window), the site
figures ``tested_urls, blocked_urls, confirmed_urls, blocked_share, blocked_low, blocked_high``
(``url_blocking``), the figures of tests without URLs ``apps_tested, apps_blocked, circumvention_tested,
circumvention_blocked, middleboxes_tested, middleboxes_blocked`` (``test_blocking``), the measured
interference score ``score, score_low, score_high`` (``evidence.stats.score``; null without any tested item)
and ``examples`` (measurement ids behind the blocked URLs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from netfreedom.evidence import stats
from netfreedom.evidence.model import Axis, Filters, Kind, Query, Window, evidence
from netfreedom.index.countries import name_of

COLUMNS: list[tuple[str, pa.DataType]] = [
    ("iso2", pa.string()),
    ("country", pa.string()),
    ("period", pa.string()),
    ("measurements", pa.int64()),
    ("networks", pa.int64()),
    ("tested_urls", pa.int64()),
    ("blocked_urls", pa.int64()),
    ("confirmed_urls", pa.int64()),
    ("blocked_share", pa.float64()),
    ("blocked_low", pa.float64()),
    ("blocked_high", pa.float64()),
    ("apps_tested", pa.int64()),
    ("apps_blocked", pa.int64()),
    ("circumvention_tested", pa.int64()),
    ("circumvention_blocked", pa.int64()),
    ("middleboxes_tested", pa.int64()),
    ("middleboxes_blocked", pa.int64()),
    ("score", pa.float64()),
    ("score_low", pa.float64()),
    ("score_high", pa.float64()),
    ("examples", pa.list_(pa.string())),
]
SCHEMA = pa.schema(COLUMNS)
_TEST_KINDS = (Kind.APPS, Kind.CIRCUMVENTION, Kind.MIDDLEBOXES)


def _records(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()  # type: ignore[no-any-return]


def _share(row: dict[str, Any] | None) -> stats.Share:
    if row is None or not row["tested"]:
        return stats.share(0, 0)
    return stats.Share(row["blocked_share"], row["blocked_low"], row["blocked_high"], row["effective_n"], 1.0)


def country_summaries(
    query: Query,
    window: Window | None = None,
    *,
    countries: Sequence[str] = (),
    level: float = 0.9,
    examples: int = 5,
) -> pa.Table:
    """One row per country with verdicts in ``window`` (or per ``countries``, each present or not)."""
    window = window or Window()
    wanted = [c.upper() for c in countries]
    flt = Filters(country=wanted[0]) if len(wanted) == 1 else Filters()
    counts = {
        r["country"]: r for r in _records(evidence(query, "verdict_counts", window=window, filters=flt))
    }
    sites = {
        r["country"]: r
        for r in _records(
            evidence(query, "url_blocking", window=window, filters=flt, level=level, examples=examples)
        )
    }
    tests: dict[tuple[str, str], dict[str, Any]] = {
        (r["country"], r["kind"]): r
        for r in _records(
            evidence(
                query,
                "test_blocking",
                axes=(Axis.COUNTRY, Axis.KIND),
                window=window,
                filters=flt,
                level=level,
                examples=examples,
            )
        )
    }
    ccs = wanted or sorted(counts)
    rows = []
    for cc in ccs:
        c = counts.get(cc)
        s = sites.get(cc)
        kinds = {k: tests.get((cc, k.value)) for k in _TEST_KINDS}
        site = _share(s)
        sc = stats.score([site, *(_share(kinds[k]) for k in _TEST_KINDS)])
        row: dict[str, Any] = {
            "iso2": cc,
            "country": "Unknown country" if cc == "ZZ" else name_of(cc),
            "period": window.label,
            "measurements": c["measurements"] if c else 0,
            "networks": c["networks"] if c else 0,
            "tested_urls": s["tested"] if s else 0,
            "blocked_urls": s["blocked"] if s else 0,
            "confirmed_urls": s["confirmed"] if s else 0,
            "blocked_share": site.value,
            "blocked_low": site.low,
            "blocked_high": site.high,
            "score": sc.value,
            "score_low": sc.low,
            "score_high": sc.high,
            "examples": list(s["examples"]) if s else [],
        }
        for k in _TEST_KINDS:
            kr = kinds[k]
            row[f"{k.value}_tested"] = kr["tested"] if kr else 0
            row[f"{k.value}_blocked"] = kr["blocked"] if kr else 0
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SCHEMA)
