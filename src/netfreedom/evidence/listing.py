"""Single verdicts behind the figures, newest first and paged — and where a reader can open each one.

``explorer_url(uid)`` links an OONI measurement id (``20220101000000.123456_IR_webconnectivity_<16 hex>``) to
OONI Explorer; ids netfreedom made itself (``h`` + a hash, for inputs without an OONI id) get none.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyarrow as pa

from netfreedom.evidence.facts import CATEGORIES, ITEMS, fetch, has_table, prelude
from netfreedom.evidence.measures._sql import asn_number
from netfreedom.evidence.model import Filters, Query, Window, host_sql, kind_sql

EXPLORER = "https://explorer.ooni.org/m/"
_OONI_UID = re.compile(r"^[0-9]{14}\.[0-9]{6}_[A-Z]{2}_[a-z0-9_]{1,64}_[0-9a-f]{16}$")

COLUMNS = (
    "measurement_uid",
    "measurement_start_time",
    "probe_cc",
    "probe_asn",
    "probe_network_name",
    "test_name",
    "input",
    "domain",
    "outcome",
    "layer",
    "reason",
    "confidence",
    "confirmed",
    "fingerprint",
)


def explorer_url(uid: str) -> str | None:
    """The OONI Explorer page of an OONI measurement id; None for any other id."""
    return EXPLORER + uid if _OONI_UID.match(uid) else None


def _where(filters: Filters, window: Window, outcome: str | None) -> tuple[str, list[object]]:
    clauses = [
        "timezone('UTC', v.measurement_start_time) >= ?",
        "timezone('UTC', v.measurement_start_time) < ?",
    ]
    params: list[object] = [
        dt.datetime.combine(window.since, dt.time()),
        dt.datetime.combine(window.until, dt.time()),
    ]
    if filters.country:
        clauses.append("v.probe_cc = ?")
        params.append(filters.country.upper())
    if filters.network:
        clauses.append("v.probe_asn = ?")
        params.append(f"AS{asn_number(filters.network)}")
    if filters.domain:
        clauses.append(f"{host_sql('v.input')} = {host_sql('?')}")
        params.append(filters.domain)
    if filters.url:
        clauses.append("v.input = ?")
        params.append(filters.url)
    if filters.tests:
        clauses.append(f"v.test_name IN ({', '.join('?' for _ in filters.tests)})")
        params.extend(filters.tests)
    if filters.kinds:
        clauses.append(f"{kind_sql('v.test_name', 'v.input')} IN ({', '.join('?' for _ in filters.kinds)})")
        params.extend(k.value for k in filters.kinds)
    if filters.categories:
        marks = ", ".join("?" for _ in filters.categories)
        clauses.append(
            f"EXISTS (SELECT 1 FROM {ITEMS} i JOIN {CATEGORIES} c ON c.item_id = i.item_id "
            f"WHERE i.item = v.input AND c.probe_cc = v.probe_cc AND c.category IN ({marks}))"
        )
        params.extend(c.upper() for c in filters.categories)
    if outcome:
        clauses.append("v.outcome = ?")
        params.append(outcome)
    return " AND ".join(clauses), params


def measurements(
    query: Query,
    filters: Filters | None = None,
    window: Window | None = None,
    *,
    outcome: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[pa.Table, int]:
    """One page of verdicts matching ``filters`` in ``window`` (newest first) with an ``explorer_url``
    column, and how many match in all."""
    names = [*COLUMNS, "explorer_url"]
    if not has_table(query, "verdicts"):
        return pa.table({n: pa.array([], pa.string()) for n in names}), 0
    flt, win = filters or Filters(), window or Window()
    condition, params = _where(flt, win, outcome)
    head = prelude(query) if flt.categories else ""
    [(total,)] = fetch(query, f"{head} SELECT count(*) FROM verdicts v WHERE {condition}", params)
    cols = ", ".join(f"v.{c}" for c in COLUMNS).replace(
        "v.measurement_start_time",
        "strftime(timezone('UTC', v.measurement_start_time), '%Y-%m-%dT%H:%M:%SZ') AS measurement_start_time",
    )
    rows = fetch(
        query,
        f"{head} SELECT {cols} FROM verdicts v WHERE {condition} "
        "ORDER BY v.measurement_start_time DESC, v.measurement_uid LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    records: dict[str, list[Any]] = {n: [] for n in names}
    for r in rows:
        for n, v in zip(COLUMNS, r, strict=True):
            records[n].append(v)
        records["explorer_url"].append(explorer_url(str(r[0])))
    return pa.table(records), int(total)
