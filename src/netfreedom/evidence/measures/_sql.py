"""SQL shared by the measures over raw verdicts: how an axis, a filter and a window read the facts."""

from __future__ import annotations

from collections.abc import Sequence

from netfreedom.errors import InputError
from netfreedom.evidence.facts import CATEGORIES, FACTS, ITEMS, MONTHLY
from netfreedom.evidence.model import Axis, Kind, Request, host_sql, period_sql

# Over the facts (f), their items (i) and, for the category axis or filter, their categories (c).
AXIS_SQL: dict[Axis, str] = {
    Axis.COUNTRY: "f.probe_cc",
    Axis.NETWORK: "'AS' || CAST(f.asn AS VARCHAR)",
    Axis.DOMAIN: "CASE WHEN i.is_url THEN i.host END",  # a test without a URL has no domain or URL
    Axis.URL: "CASE WHEN i.is_url THEN i.item END",
    Axis.CATEGORY: "c.category",
    Axis.TEST: "f.test_name",
    Axis.KIND: "f.kind",
    Axis.METHOD: "f.method",
}


def asn_number(asn: str) -> int:
    """``AS1234`` (or ``1234``) → 1234; an InputError for anything else."""
    text = asn.strip().upper().removeprefix("AS")
    if not text.isdigit() or int(text) > 2**31 - 1:
        raise InputError(f"not an ASN: {asn!r}")
    return int(text)


def source_table(request: Request) -> str:
    """The monthly roll-up when no period or window edge cuts a month, else the daily facts."""
    w = request.window
    return MONTHLY if w.period.monthly and w.month_aligned else FACTS


def where(request: Request, kinds: Sequence[Kind]) -> tuple[str, list[object]]:
    """The WHERE clause over f/i (window, kinds, filters) and its parameters."""
    w, flt = request.window, request.filters
    clauses = ["f.day >= ?", "f.day < ?"]
    params: list[object] = [w.since, w.until]
    if kinds:
        clauses.append(f"f.kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(k.value for k in kinds)
    if flt.kinds:
        clauses.append(f"f.kind IN ({', '.join('?' for _ in flt.kinds)})")
        params.extend(Kind(k).value for k in flt.kinds)
    if flt.country:
        clauses.append("f.probe_cc = ?")
        params.append(flt.country.upper())
    if flt.network:
        clauses.append("f.asn = ?")
        params.append(asn_number(flt.network))
    if flt.domain:
        clauses.append(f"i.host = {host_sql('?')}")
        params.append(flt.domain)
    if flt.url:
        clauses.append("i.item = ?")
        params.append(flt.url)
    if flt.tests:
        clauses.append(f"f.test_name IN ({', '.join('?' for _ in flt.tests)})")
        params.extend(flt.tests)
    if flt.categories:
        marks = ", ".join("?" for _ in flt.categories)
        clauses.append(
            f"EXISTS (SELECT 1 FROM {CATEGORIES} fc WHERE fc.probe_cc = f.probe_cc "
            f"AND fc.item_id = f.item_id AND fc.category IN ({marks}))"
        )
        params.extend(c.upper() for c in flt.categories)
    return " AND ".join(clauses), params


def joins(axes: Sequence[Axis]) -> str:
    """The joins the facts need for ``axes``: items always, categories for the category axis."""
    out = f"JOIN {ITEMS} i ON i.item_id = f.item_id"
    if Axis.CATEGORY in axes:
        out += f" LEFT JOIN {CATEGORIES} c ON c.probe_cc = f.probe_cc AND c.item_id = f.item_id"
    return out


def key_columns(request: Request, axes: Sequence[Axis]) -> tuple[list[str], list[str]]:
    """(SQL expressions AS names, names) of the grouping keys: ``period`` then each axis."""
    exprs = [f"{period_sql(request.window.period, 'f.day')} AS period"]
    names = ["period"]
    for a in axes:
        exprs.append(f"{AXIS_SQL[a]} AS {a.value}")
        names.append(a.value)
    return exprs, names
