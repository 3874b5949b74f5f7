"""A country's measurement evidence as the country page shows it, read from the aggregation cube."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from netfreedom.report.aggregate import FACTS, NETWORKS, URLS, Axis, Filters, aggregate


@dataclass(frozen=True)
class CategoryRow:
    category: str
    urls_tested: int
    urls_blocked: int
    urls_confirmed: int
    measurements: int
    blocked: int
    networks: int

    @property
    def share(self) -> float:
        return self.urls_blocked / self.urls_tested if self.urls_tested else 0.0


@dataclass(frozen=True)
class MethodRow:
    method: str
    measurements: int
    urls: int


@dataclass(frozen=True)
class DomainRow:
    domain: str
    measurements: int
    blocked: int
    confirmed: int
    networks: int
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class NetworkRow:
    asn: str
    name: str
    measurements: int
    blocked: int
    confirmed: int
    urls_blocked: int

    @property
    def share(self) -> float:
        return self.blocked / self.measurements if self.measurements else 0.0


@dataclass(frozen=True)
class MonthRow:
    month: str
    measurements: int
    ok: int
    blocked: int
    confirmed: int
    down: int
    networks: int


@dataclass(frozen=True)
class Anomaly:
    when: str
    url: str
    asn: str
    network: str
    test_name: str
    outcome: str
    layer: str
    reason: str
    confirmed: bool
    fingerprint: str


@dataclass(frozen=True)
class Evidence:
    measurements: int
    blocked: int
    confirmed: int
    networks: int
    first_day: str | None
    last_day: str | None
    categories: tuple[CategoryRow, ...]
    methods: tuple[MethodRow, ...]
    domains: tuple[DomainRow, ...]
    asns: tuple[NetworkRow, ...]
    months: tuple[MonthRow, ...]
    anomalies: tuple[Anomaly, ...]


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def country_evidence(con: Any, cc: str, *, top: int = 25, anomalies: int = 30) -> Evidence:
    """Everything the country page shows about ``cc``'s measurements.  ``con`` may be read-only."""
    cc = cc.upper()
    totals = aggregate(con, Filters(probe_cc=cc)).records()[0]
    span = con.execute(f"SELECT min(day), max(day) FROM {FACTS} WHERE probe_cc = ?", [cc]).fetchone()
    cats = con.execute(
        f"""SELECT coalesce(category, 'uncategorised'), count(DISTINCT url_id),
            count(DISTINCT url_id) FILTER (blocked > 0), count(DISTINCT url_id) FILTER (confirmed > 0),
            sum(n), sum(blocked), count(DISTINCT asn)
        FROM {FACTS} WHERE probe_cc = ? AND url_id IN (SELECT url_id FROM {URLS} WHERE input <> '')
        GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1""",
        [cc],
    ).fetchall()
    methods = con.execute(
        f"""SELECT method, sum(n), count(DISTINCT url_id) FROM {FACTS}
        WHERE probe_cc = ? AND method IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1""",
        [cc],
    ).fetchall()
    domains = con.execute(
        f"""SELECT u.domain, sum(f.n), sum(f.blocked), sum(f.confirmed), count(DISTINCT f.asn),
            min(f.day) FILTER (f.blocked > 0), max(f.day) FILTER (f.blocked > 0)
        FROM {FACTS} f JOIN {URLS} u USING (url_id) WHERE f.probe_cc = ? AND u.domain <> ''
        GROUP BY 1 HAVING sum(f.blocked) > 0 ORDER BY 3 DESC, 4 DESC, 1 LIMIT ?""",
        [cc, top],
    ).fetchall()
    asns = con.execute(
        f"""SELECT f.asn, coalesce(any_value(w.name), ''), sum(f.n), sum(f.blocked), sum(f.confirmed),
            count(DISTINCT f.url_id) FILTER (f.blocked > 0)
        FROM {FACTS} f LEFT JOIN {NETWORKS} w USING (asn) WHERE f.probe_cc = ?
        GROUP BY 1 ORDER BY 3 DESC, 1""",
        [cc],
    ).fetchall()
    months = aggregate(con, Filters(probe_cc=cc), Axis.MONTH).rows
    recent = con.execute(
        """SELECT measurement_start_time, coalesce(input, ''), coalesce(probe_asn, ''),
            coalesce(probe_network_name, ''), test_name, outcome, coalesce(layer, ''), coalesce(reason, ''),
            coalesce(confirmed, false), coalesce(fingerprint, '')
        FROM verdicts WHERE probe_cc = ? AND outcome = 'blocked'
        ORDER BY measurement_start_time DESC, measurement_uid LIMIT ?""",
        [cc, anomalies],
    ).fetchall()
    return Evidence(
        measurements=int(totals["measurements"]),
        blocked=int(totals["blocked"]),
        confirmed=int(totals["confirmed"]),
        networks=int(totals["networks"]),
        first_day=_iso(span[0]) if span and span[0] else None,
        last_day=_iso(span[1]) if span and span[1] else None,
        categories=tuple(CategoryRow(str(c[0]), *(int(x) for x in c[1:])) for c in cats),
        methods=tuple(MethodRow(str(m[0]), int(m[1]), int(m[2])) for m in methods),
        domains=tuple(
            DomainRow(str(d[0]), int(d[1]), int(d[2]), int(d[3]), int(d[4]), _iso(d[5]), _iso(d[6]))
            for d in domains
        ),
        asns=tuple(
            NetworkRow(f"AS{a[0]}", str(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5])) for a in asns
        ),
        months=tuple(
            MonthRow(str(m[0])[:7], int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[7]))
            for m in months
        ),
        anomalies=tuple(
            Anomaly(
                when=r[0].strftime("%Y-%m-%d %H:%M") if isinstance(r[0], dt.datetime) else str(r[0]),
                url=str(r[1]),
                asn=str(r[2]),
                network=str(r[3]),
                test_name=str(r[4]),
                outcome=str(r[5]),
                layer=str(r[6]),
                reason=str(r[7]),
                confirmed=bool(r[8]),
                fingerprint=str(r[9]),
            )
            for r in recent
        ),
    )


def countries_with_evidence(con: Any) -> list[str]:
    """Probe countries that get a page: ISO 3166 alpha-2 shaped codes only (``ZZ`` = unknown).  probe_cc
    comes from measurements, which anyone can write; it names a file, so ``../x`` must never pass."""
    return [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT probe_cc FROM {FACTS} "
            "WHERE regexp_full_match(probe_cc, '[A-Z]{2}') ORDER BY 1"
        ).fetchall()
    ]
