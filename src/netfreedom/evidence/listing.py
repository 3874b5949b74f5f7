"""Single measurements and verdicts, as stored — the one selection behind ``Store.measurements``,
``Store.verdicts``, ``/api/v1/measurements`` and the country pages' latest blocked measurements — and where
a reader can open each one.

``Selection`` says which rows (every field optional, all must hold); ``select_rows`` and ``count_rows`` read
them from ``measurements`` or ``verdicts``; ``page`` is one page of verdicts, newest first, shown as people
read them (times as ``YYYY-MM-DDTHH:MM:SSZ``, an ``explorer_url`` column).

``explorer_url(uid)`` links an OONI measurement id (``20220101000000.123456_IR_webconnectivity_<16 hex>``) to
OONI Explorer; ids netfreedom made itself (``h`` + a hash, for inputs without an OONI id) get none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from netfreedom.errors import InputError
from netfreedom.evidence.facts import CATEGORIES, ITEMS, has_table, prelude
from netfreedom.evidence.measures._sql import asn_number
from netfreedom.evidence.model import Filters, Kind, Query, Window, host_sql, kind_sql
from netfreedom.ingest.layout import normalise_test

EXPLORER = "https://explorer.ooni.org/m/"
_OONI_UID = re.compile(r"^[0-9]{14}\.[0-9]{6}_[A-Z]{2}_[a-z0-9_]{1,64}_[0-9a-f]{16}$")

# A verdict's columns in the order every listing shows them (the Python API's ``verdicts`` table).
VERDICT_ORDER = (
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
    "blocking",
    "accessible",
    "analysis_version",
    "fingerprints_id",
)
# The columns of a ``page``, before its ``explorer_url``: what a reader of single verdicts is shown.
COLUMNS = VERDICT_ORDER[: VERDICT_ORDER.index("fingerprint") + 1]
TABLES = ("measurements", "verdicts")


def explorer_url(uid: str) -> str | None:
    """The OONI Explorer page of an OONI measurement id; None for any other id."""
    return EXPLORER + uid if _OONI_UID.match(uid) else None


class Conditions:
    """A SQL condition built clause by clause with its parameters (``TRUE`` when there is none)."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[object] = []

    def add(self, clause: str, *values: object) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    @staticmethod
    def marks(values: Sequence[object]) -> str:
        """``?, ?, …``: one placeholder per value (for ``IN (…)``)."""
        return ", ".join("?" for _ in values)

    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored rows to list.  ``since`` is inclusive and ``until`` exclusive (aware datetimes);
    ``probe_cc`` upper case; ``probe_asn`` ``AS1234``; ``tests`` compare without case or underscores;
    ``domain`` is matched on the normalised host of the input (``evidence.model.host_sql``); ``categories``
    as the evidence model assigns them (the statement then needs ``evidence.facts.prelude``); ``kinds``,
    ``categories`` and ``tests`` match any of theirs; ``outcome`` and ``confirmed`` need verdicts."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    probe_cc: str | None = None
    probe_asn: str | None = None
    tests: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ()
    domain: str | None = None
    input: str | None = None
    categories: tuple[str, ...] = ()
    outcome: str | None = None
    confirmed: bool | None = None

    @classmethod
    def of(cls, filters: Filters, window: Window, *, outcome: str | None = None) -> Selection:
        """The verdicts the evidence model's ``filters`` and ``window`` describe."""
        return cls(
            since=dt.datetime.combine(window.since, dt.time(), tzinfo=dt.UTC),
            until=dt.datetime.combine(window.until, dt.time(), tzinfo=dt.UTC),
            probe_cc=filters.country.upper() if filters.country else None,
            probe_asn=f"AS{asn_number(filters.network)}" if filters.network else None,
            tests=tuple(normalise_test(t) for t in filters.tests),
            kinds=filters.kinds,
            domain=filters.domain,
            input=filters.url,
            categories=tuple(c.upper() for c in filters.categories),
            outcome=outcome,
        )

    def where(self, alias: str) -> tuple[str, list[object]]:
        """A SQL condition over a ``measurements`` or ``verdicts`` row named ``alias``, and its parameters."""
        where = Conditions()
        add, marks = where.add, where.marks
        if self.since:
            add(f"{alias}.measurement_start_time >= ?", self.since)
        if self.until:
            add(f"{alias}.measurement_start_time < ?", self.until)
        if self.probe_cc:
            add(f"{alias}.probe_cc = ?", self.probe_cc)
        if self.probe_asn:
            add(f"{alias}.probe_asn = ?", self.probe_asn)
        if self.tests:
            add(f"replace(lower({alias}.test_name), '_', '') IN ({marks(self.tests)})", *self.tests)
        if self.kinds:
            kind = kind_sql(f"{alias}.test_name", f"{alias}.input")
            add(f"{kind} IN ({marks(self.kinds)})", *(k.value for k in self.kinds))
        if self.domain:
            add(f"{host_sql(f'{alias}.input')} = {host_sql('CAST(? AS VARCHAR)')}", self.domain)
        if self.input is not None:
            add(f"{alias}.input = ?", self.input)
        if self.categories:
            add(
                f"EXISTS (SELECT 1 FROM {CATEGORIES} c JOIN {ITEMS} i ON i.item_id = c.item_id "
                f"WHERE i.item = {alias}.input AND c.probe_cc = {alias}.probe_cc "
                f"AND c.category IN ({marks(self.categories)}))",
                *self.categories,
            )
        if self.outcome is not None:
            add(f"{alias}.outcome = ?", self.outcome)
        if self.confirmed is not None:
            add(f"{alias}.confirmed = ?", self.confirmed)
        return where.sql(), where.params


def _statement(query: Query, table: str, selection: Selection) -> tuple[str, str, list[object]]:
    if table not in TABLES:
        raise ValueError(f"not a row table: {table}")
    where, params = selection.where("t")
    head = prelude(query) + " " if selection.categories else ""
    return head, where, params


def select_rows(
    query: Query,
    table: str,
    selection: Selection,
    *,
    limit: int | None = None,
    offset: int = 0,
    newest_first: bool = False,
) -> pa.Table:
    """Every column of the rows of ``table`` (``measurements`` or ``verdicts``) in ``selection``, oldest
    (or newest) first, then by id.  ``query`` runs one SQL statement (``Store.query``, or a read cursor's)."""
    head, where, params = _statement(query, table, selection)
    if limit is not None and limit < 0:
        raise InputError(f"limit must be 0 or more, not {limit}")
    if offset < 0:
        raise InputError(f"offset must be 0 or more, not {offset}")
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    tail += f" OFFSET {int(offset)}" if offset else ""
    order = " DESC" if newest_first else ""
    return query(
        f"{head}SELECT t.* FROM {table} t WHERE {where} "
        f"ORDER BY t.measurement_start_time{order}, t.measurement_uid{tail}",
        params,
    )


def count_rows(query: Query, table: str, selection: Selection) -> int:
    """How many rows ``select_rows`` would give without a limit."""
    head, where, params = _statement(query, table, selection)
    [row] = query(f"{head}SELECT count(*) AS n FROM {table} t WHERE {where}", params).to_pylist()
    return int(row["n"])


def _shown(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def page(query: Query, selection: Selection, *, limit: int = 100, offset: int = 0) -> tuple[pa.Table, int]:
    """One page of the verdicts in ``selection``, newest first: ``COLUMNS`` (times as text) and an
    ``explorer_url`` column, and how many there are in all (none, in text columns, without verdicts)."""
    names = [*COLUMNS, "explorer_url"]
    if not has_table(query, "verdicts"):
        return pa.table({n: pa.array([], pa.string()) for n in names}), 0
    rows = select_rows(query, "verdicts", selection, limit=limit, offset=offset, newest_first=True)
    records: dict[str, list[Any]] = {n: [_shown(v) for v in rows.column(n).to_pylist()] for n in COLUMNS}
    records["explorer_url"] = [explorer_url(str(uid)) for uid in records["measurement_uid"]]
    return pa.table(records), count_rows(query, "verdicts", selection)


def measurements(
    query: Query,
    filters: Filters | None = None,
    window: Window | None = None,
    *,
    outcome: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[pa.Table, int]:
    """``page`` of the verdicts matching the evidence model's ``filters`` in ``window`` (and ``outcome``)."""
    selection = Selection.of(filters or Filters(), window or Window(), outcome=outcome)
    return page(query, selection, limit=limit, offset=offset)
