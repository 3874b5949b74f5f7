"""One row per country and window: the summary ``netfreedom evidence countries``, ``/api/v1/countries`` and
the site's country pages and ranking show — computed from the registered measures, nothing else.

Columns (:data:`COLUMNS`): ``iso2, country, period`` (the window, ``since/until`` with ``until`` exclusive,
or ``all``), ``measurements`` and ``networks`` (every verdict of the country in the window), the site
figures ``tested_urls, blocked_urls, confirmed_urls, blocked_share, blocked_low, blocked_high``
(``url_blocking``), the figures of tests without URLs ``apps_tested, apps_blocked, circumvention_tested,
circumvention_blocked, middleboxes_tested, middleboxes_blocked`` (``test_blocking``), the measured
interference score ``score, score_low, score_high`` (``evidence.stats.score``; null unless
``score_status`` is ``scored`` — it is ``not_enough_evidence`` when too little was tested, see
``stats.MIN_SCORE_WEIGHT`` and ``stats.MAX_SCORE_WIDTH``, and ``no_measurements`` when nothing was
measured), ``score_weight`` (the share of the score's weights carried by the kinds tested, 0–1),
``examples`` (measurement ids behind the blocked URLs), and ``sources``: where the figures come from —
``raw`` (stored verdicts), ``aggregates`` (OONI's published aggregation counts: a kind without raw tested
items takes its anomaly rate from them, ``measures.aggregate_rates``), or ``raw+aggregates``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from netfreedom.evidence import stats
from netfreedom.evidence.measures.aggregate_rates import country_rates
from netfreedom.evidence.model import Axis, Filters, Kind, Period, Query, Window, evidence
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
    ("score_status", pa.string()),
    ("score_weight", pa.float64()),
    ("examples", pa.list_(pa.string())),
    ("sources", pa.string()),
]
SCHEMA = pa.schema(COLUMNS)
_TEST_KINDS = (Kind.APPS, Kind.CIRCUMVENTION, Kind.MIDDLEBOXES)
# How much each kind weighs in the measured score: blocked sites are the bulk of what censorship is; a
# middlebox on the path is interference but not always blocking.
SCORE_WEIGHTS: dict[Kind, float] = {
    Kind.SITES: 0.5,
    Kind.APPS: 0.2,
    Kind.CIRCUMVENTION: 0.2,
    Kind.MIDDLEBOXES: 0.1,
}


def score_rule() -> str:
    """What a measured score needs, in words (the site and the docs say it the same way)."""
    weights = ", ".join(f"{k.value} {w * 100:g} %" for k, w in SCORE_WEIGHTS.items())
    return (
        f"tested kinds that carry at least {stats.MIN_SCORE_WEIGHT * 100:g} % of its weight ({weights}) "
        f"and an interval at most {stats.MAX_SCORE_WIDTH:g} points wide"
    )


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
    aggregates = country_rates(query, window, countries=wanted, level=level)
    ccs = wanted or sorted(set(counts) | set(aggregates))
    rows = []
    for cc in ccs:
        c = counts.get(cc)
        s = sites.get(cc)
        kinds = {k: tests.get((cc, k.value)) for k in _TEST_KINDS}
        site = _share(s)
        shares = {Kind.SITES: site, **{k: _share(kinds[k]) for k in _TEST_KINDS}}
        # Where raw verdicts tested nothing of a kind, OONI's aggregates (if any) stand in for it.
        agg = aggregates.get(cc)
        borrowed = [k for k, v in shares.items() if v.value is None and agg is not None and k in agg.kinds]
        for k in borrowed:
            shares[k] = agg.kinds[k] if agg is not None else shares[k]
        raw_n = c["measurements"] if c else 0
        sc = stats.score(
            [shares[k] for k in (Kind.SITES, *_TEST_KINDS)],
            [SCORE_WEIGHTS[k] for k in (Kind.SITES, *_TEST_KINDS)],
        )
        if not raw_n and not borrowed:  # no measurement in the window: no score, not a perfect one
            sc = stats.Score(None, None, None, 0, 0.0, stats.NO_MEASUREMENTS)
        source = (
            "raw+aggregates" if raw_n and borrowed else "aggregates" if borrowed else "raw" if raw_n else ""
        )
        row: dict[str, Any] = {
            "iso2": cc,
            "country": "Unknown country" if cc == "ZZ" else name_of(cc),
            "period": window.label,
            "measurements": raw_n + (agg.measurements if agg is not None and borrowed else 0),
            "networks": max(c["networks"] if c else 0, agg.networks if agg is not None and borrowed else 0),
            "tested_urls": s["tested"] if s else 0,
            "blocked_urls": s["blocked"] if s else 0,
            "confirmed_urls": s["confirmed"] if s else 0,
            "blocked_share": site.value,
            "blocked_low": site.low,
            "blocked_high": site.high,
            "score": sc.value,
            "score_low": sc.low,
            "score_high": sc.high,
            "score_status": sc.status,
            "score_weight": sc.weight,
            "examples": list(s["examples"]) if s else [],
            "sources": source,
        }
        for k in _TEST_KINDS:
            kr = kinds[k]
            row[f"{k.value}_tested"] = kr["tested"] if kr else 0
            row[f"{k.value}_blocked"] = kr["blocked"] if kr else 0
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SCHEMA)


@dataclass(frozen=True)
class CountryEvidence:
    """Everything a country page and ``/api/v1/countries/{cc}`` show about one country's measurements in one
    window — each section one call of a registered measure (rows as plain dicts of its columns)."""

    iso2: str
    period: str  # the window's label: ``since/until`` (until exclusive) or ``all``
    since: str | None  # first day, ISO
    last_day: str | None  # last day, inclusive, ISO
    summary: dict[str, Any]  # the ``country_summaries`` row
    categories: list[dict[str, Any]]  # url_blocking × category
    methods: list[dict[str, Any]]  # url_blocking × method
    domains: list[dict[str, Any]]  # url_blocking × domain, blocked ones first
    networks: list[dict[str, Any]]  # url_blocking × network
    tests: list[dict[str, Any]]  # test_blocking × kind × test: apps, circumvention, middleboxes
    months: list[dict[str, Any]]  # verdict_counts by month
    years: list[dict[str, Any]]  # url_blocking by calendar year, all time: the other periods
    blocked: list[dict[str, Any]]  # latest blocked measurements (evidence.listing)


def country_evidence(
    query: Query, cc: str, window: Window | None = None, *, top: int = 25, latest: int = 30
) -> CountryEvidence:
    """The evidence sections of ``cc`` over ``window`` (default: all time)."""
    return countries_evidence(query, [cc], window, top=top, latest=latest)[cc.upper()]


def countries_evidence(
    query: Query, countries: Sequence[str], window: Window | None = None, *, top: int = 25, latest: int = 30
) -> dict[str, CountryEvidence]:
    """:func:`country_evidence` for each of ``countries`` — one query per section for all of them."""
    from netfreedom.evidence.listing import measurements

    ccs = [c.upper() for c in countries]
    window = window or Window()
    flt = Filters(country=ccs[0]) if len(ccs) == 1 else Filters()

    def rows(measure: str, *axes: Axis, w: Window = window) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {cc: [] for cc in ccs}
        for r in _records(evidence(query, measure, axes=(Axis.COUNTRY, *axes), window=w, filters=flt)):
            if r["country"] in out:
                out[r["country"]].append(r)
        return out

    summaries = {r["iso2"]: r for r in country_summaries(query, window, countries=ccs).to_pylist()}
    categories = rows("url_blocking", Axis.CATEGORY)
    methods = rows("url_blocking", Axis.METHOD)
    domains = rows("url_blocking", Axis.DOMAIN)
    networks = rows("url_blocking", Axis.NETWORK)
    tests = rows("test_blocking", Axis.KIND, Axis.TEST)
    months = rows("verdict_counts", w=Window(window.since, window.until, Period.MONTH))
    years = rows("url_blocking", w=Window(period=Period.YEAR))
    bounded = window.label != "all"
    out = {}
    for cc in ccs:
        listing, _ = measurements(query, Filters(country=cc), window, outcome="blocked", limit=latest)
        out[cc] = CountryEvidence(
            iso2=cc,
            period=window.label,
            since=window.since.isoformat() if bounded else None,
            last_day=(window.until - dt.timedelta(days=1)).isoformat() if bounded else None,
            summary=summaries[cc],
            categories=sorted(categories[cc], key=lambda r: (-r["blocked"], -r["tested"], r["category"])),
            methods=methods[cc],
            domains=sorted(domains[cc], key=lambda r: (-r["blocked"], -r["tested"], r["domain"]))[:top],
            networks=sorted(networks[cc], key=lambda r: (-r["measurements"], r["network"])),
            tests=tests[cc],
            months=months[cc],
            years=years[cc],
            blocked=listing.to_pylist(),
        )
    return out
