"""The one evidence model: every evidence figure of netfreedom is computed here, one way.

The index's indicator figures, the site's country pages and data files, the HTTP API, the CSV downloads,
``netfreedom evidence`` and the Dask engine all call :func:`evidence` (or the helpers built on it in
``evidence.countries`` and ``evidence.indicators``); nothing else counts verdicts.

Vocabulary
==========

* **Kind** — what a test measures.  ``sites``: web tests with a URL input (``web_connectivity`` …; only these
  feed figures about URLs); ``apps``: messaging apps (whatsapp, telegram, signal, facebook_messenger);
  ``circumvention``: tor, psiphon, encrypted DNS (dnscheck), … ; ``middleboxes``: tests that look for
  interfering boxes on the path (``http_invalid_request_line``, ``http_header_field_manipulation``); ``other``
  (performance tests, …) feeds no figure but the plain verdict counts.  :data:`TEST_KINDS` is the one table.
* **Item** — what one figure counts: a URL for ``sites``, the test itself for the other kinds.  An item is
  *tested* in a period when it has at least one conclusive verdict (``ok`` or ``blocked``) there, and
  *blocked* when at least half of those are ``blocked`` or any is confirmed by a blockpage fingerprint
  (:data:`IS_BLOCKED`).  A URL's categories are those of its host in the country's own test list, else in the
  global lists (host normalised: scheme, ``www.``, case, port and path dropped — :func:`host_sql`).
* **Axis** — what a figure is cut by: :class:`Axis` (country, network, domain, url, category, test, method,
  kind).  **Period** — how time is cut inside the window ``[since, until)``: :class:`Period`.  Periods never
  mix: every row carries its ``period`` label, and a window is stated with its dates.

Measures
========

A measure is a stable id (``url_blocking``, ``test_blocking``, ``verdict_counts``, …) bound to a function
that turns a :class:`Request` into an Arrow table.  A new measure is one module that calls :func:`register`
at import time and is imported by ``evidence/measures/__init__.py`` (or by its own package, for a measure
that lives elsewhere)::

    from netfreedom.evidence.model import Measure, Request, Source, register

    def _compute(query: Query, request: Request) -> pa.Table: ...

    register(Measure(id="my_measure", title="…", source=Source.RAW, axes=frozenset({Axis.COUNTRY}),
                     compute=_compute))

Inputs: a :data:`Query` (one read-only SQL statement with positional parameters → Arrow; ``Store.query``,
or an in-memory DuckDB on a Dask worker) and a :class:`Request` (axes, :class:`Window`, :class:`Filters`).
Outputs: an Arrow table with, in order, ``period`` (string label), one column per requested axis (named by
the axis value), the measure's own columns, and ``sources`` (``raw`` when counted from stored verdicts,
``aggregates`` when read from published aggregate counts such as OONI's) — so tables from different sources
can be stacked and told apart.  A measure raises :class:`netfreedom.errors.InputError` for an axis it cannot
cut by.  Measures over raw verdicts read the relations ``evidence_facts`` (one row per country, day, network,
test, item and blocking method with counts), ``evidence_items`` and ``evidence_categories`` through
:func:`netfreedom.evidence.facts.prelude`, which uses the tables materialised after analysis or, when they are
absent, the same SQL inline — one definition either way.

Statistics (blocked-share intervals, the measured score) live in ``evidence.stats``; docs/methodology.md
states every formula.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import pyarrow as pa

from netfreedom.errors import InputError

# How evidence reads the store: one read-only SQL statement with positional parameters in, an Arrow table
# out (``Store.query``; evidence sits beside the store, so it is handed the function, not imported).
Query = Callable[[str, Sequence[object] | None], pa.Table]


class Kind(StrEnum):
    SITES = "sites"
    APPS = "apps"
    CIRCUMVENTION = "circumvention"
    MIDDLEBOXES = "middleboxes"
    OTHER = "other"


# The one classification of tests.  A ``sites`` test counts as a site only with a URL (http/https) input.
TEST_KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        "web_connectivity": Kind.SITES,
        "http_requests": Kind.SITES,
        "browser_web": Kind.SITES,
        "whatsapp": Kind.APPS,
        "telegram": Kind.APPS,
        "signal": Kind.APPS,
        "facebook_messenger": Kind.APPS,
        "tor": Kind.CIRCUMVENTION,
        "torsf": Kind.CIRCUMVENTION,
        "vanilla_tor": Kind.CIRCUMVENTION,
        "psiphon": Kind.CIRCUMVENTION,
        "riseupvpn": Kind.CIRCUMVENTION,
        "openvpn": Kind.CIRCUMVENTION,
        "meek_fronted_requests_test": Kind.CIRCUMVENTION,
        "dnscheck": Kind.CIRCUMVENTION,  # encrypted DNS resolvers (DoH/DoT), a way around DNS blocking
        "http_invalid_request_line": Kind.MIDDLEBOXES,
        "http_header_field_manipulation": Kind.MIDDLEBOXES,
    }
)
# Kinds whose items are tests (not URLs): what ``test_blocking`` counts.
TEST_ITEM_KINDS = (Kind.APPS, Kind.CIRCUMVENTION, Kind.MIDDLEBOXES)


def kind_sql(test_name: str = "test_name", url_input: str = "input") -> str:
    """SQL for the kind of a verdict row, generated from :data:`TEST_KINDS`."""
    whens = []
    for kind in Kind:
        names = sorted(t for t, k in TEST_KINDS.items() if k is kind)
        if not names:
            continue
        listed = ", ".join(f"'{n}'" for n in names)
        cond = f"{test_name} IN ({listed})"
        if kind is Kind.SITES:
            cond += f" AND regexp_matches(lower(coalesce({url_input}, '')), '^https?://')"
        whens.append(f"WHEN {cond} THEN '{kind.value}'")
    return f"(CASE {' '.join(whens)} ELSE '{Kind.OTHER.value}' END)"


def host_sql(url: str) -> str:
    """SQL normalising a URL (or bare host) to the host test-list categories are keyed by: lower case, no
    scheme, no ``www.``, no user info, port, path, query or trailing dot.  ``https://WWW.Feminist.org/x`` and
    ``feminist.org`` both give ``feminist.org``."""
    return (
        "rtrim(regexp_replace(regexp_extract(lower(trim(coalesce("
        + url
        + ", ''))), '^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/?#]*@)?([^/?#:]*)', 1), '^www\\.', ''), '.')"
    )


UNCATEGORISED = "UNCAT"
MAJORITY = 0.5  # a tested item is blocked when at least this share of its conclusive verdicts is blocked
# The one definition of a blocked item, over its conclusive (c), blocked (b) and confirmed (f) verdicts.
IS_BLOCKED = f"(c > 0 AND (f > 0 OR (b > 0 AND b >= {MAJORITY} * c)))"
IS_TESTED = "(c > 0)"


class Axis(StrEnum):
    COUNTRY = "country"  # probe_cc
    NETWORK = "network"  # probe ASN, 'AS1234'
    DOMAIN = "domain"  # normalised host of a URL
    URL = "url"
    CATEGORY = "category"  # Citizen Lab category code of a URL; a URL counts under each of its categories
    TEST = "test"  # test_name
    METHOD = "method"  # how blocked verdicts were blocked: dns / tcp / tls / http / blockpage (confirmed)
    KIND = "kind"


class Period(StrEnum):
    ALL = "all"  # one period: the whole window
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    WEEK = "week"
    DAY = "day"

    @property
    def monthly(self) -> bool:
        """True when a period never cuts inside a month (monthly roll-ups answer it exactly)."""
        return self in (Period.ALL, Period.YEAR, Period.QUARTER, Period.MONTH)


def period_sql(period: Period, day: str = "day") -> str:
    """SQL labelling the period a day falls in: ``2018``, ``2018-Q2``, ``2018-05``, ``2018-W19``,
    ``2018-05-07``; ``all`` for the whole window."""
    return {
        Period.ALL: "'all'",
        Period.YEAR: f"strftime({day}, '%Y')",
        Period.QUARTER: f"strftime({day}, '%Y') || '-Q' || CAST(quarter({day}) AS VARCHAR)",
        Period.MONTH: f"strftime({day}, '%Y-%m')",
        Period.WEEK: f"strftime({day}, '%G-W%V')",
        Period.DAY: f"strftime({day}, '%Y-%m-%d')",
    }[period]


EPOCH = dt.date(1, 1, 1)  # before any measurement: an open start
FAR = dt.date(9999, 1, 1)


@dataclass(frozen=True, slots=True)
class Window:
    """The days ``[since, until)`` (UTC) and how they are cut into periods."""

    since: dt.date = EPOCH
    until: dt.date = FAR
    period: Period = Period.ALL

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise InputError(f"empty window: {self.since} is not before {self.until}")

    @property
    def month_aligned(self) -> bool:
        return self.since.day == 1 and self.until.day == 1

    @property
    def label(self) -> str:
        """``YYYY-MM-DD/YYYY-MM-DD`` (``until`` exclusive), or ``all`` for an unbounded window."""
        if self.since == EPOCH and self.until == FAR:
            return "all"
        return f"{self.since.isoformat()}/{self.until.isoformat()}"

    @classmethod
    def parse(cls, label: str, period: Period = Period.ALL) -> Window:
        if label == "all":
            return cls(period=period)
        since, _, until = label.partition("/")
        return cls(dt.date.fromisoformat(since), dt.date.fromisoformat(until), period)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which evidence to count; every field optional.  ``categories`` and ``tests`` match any of theirs."""

    country: str | None = None
    network: str | None = None  # 'AS1234' or '1234'
    domain: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    axes: tuple[Axis, ...] = (Axis.COUNTRY,)
    window: Window = field(default_factory=Window)
    filters: Filters = field(default_factory=Filters)
    level: float = 0.9  # central probability of the intervals
    examples: int = 5  # example measurement ids kept per figure


class Source(StrEnum):
    RAW = "raw"  # counted from the store's verdicts
    AGGREGATES = "aggregates"  # read from published aggregate counts (e.g. OONI's aggregation API)
    EVENTS = "events"  # the store's curated and detected events (shutdowns, blocking)


@dataclass(frozen=True, slots=True)
class Measure:
    id: str
    title: str
    source: Source
    axes: frozenset[Axis]
    compute: Callable[[Query, Request], pa.Table]
    description: str = ""


_REGISTRY: dict[str, Measure] = {}


def register(measure: Measure) -> Measure:
    """Make ``measure`` available under its id.  Registering the same id twice is an error (a typo in one
    module must not silently replace another's measure); re-registering the identical object is allowed so
    a module may be imported more than once."""
    known = _REGISTRY.get(measure.id)
    if known is not None and known is not measure:
        raise ValueError(f"evidence measure {measure.id!r} is already registered")
    _REGISTRY[measure.id] = measure
    return measure


def measures() -> Mapping[str, Measure]:
    """Every registered measure by id."""
    _load_builtin()
    return MappingProxyType(dict(sorted(_REGISTRY.items())))


def get(measure_id: str) -> Measure:
    found = measures().get(measure_id)
    if found is None:
        raise InputError(f"unknown evidence measure {measure_id!r} (known: {', '.join(measures())})")
    return found


def _load_builtin() -> None:
    import netfreedom.evidence.measures  # noqa: F401  (registers the built-in measures)


def evidence(
    query: Query,
    measure: str,
    *,
    axes: Sequence[Axis | str] = (Axis.COUNTRY,),
    window: Window | None = None,
    filters: Filters | None = None,
    level: float = 0.9,
    examples: int = 5,
) -> pa.Table:
    """The figures of ``measure`` cut by ``axes`` over ``window`` for the evidence matching ``filters``:
    an Arrow table (columns: see the module docstring and the measure)."""
    m = get(measure)
    wanted = tuple(Axis(a) for a in axes)
    if len(set(wanted)) != len(wanted):
        raise InputError(f"an axis is repeated: {', '.join(a.value for a in wanted)}")
    unknown = [a.value for a in wanted if a not in m.axes]
    if unknown:
        can = ", ".join(sorted(a.value for a in m.axes))
        raise InputError(f"{m.id} cannot be cut by {', '.join(unknown)} (it can by {can})")
    if not 0 < level < 1:
        raise InputError(f"interval level must be between 0 and 1, not {level}")
    request = Request(wanted, window or Window(), filters or Filters(), level, examples)
    return m.compute(query, request)
