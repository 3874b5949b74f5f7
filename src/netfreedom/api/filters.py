"""The filters every method of the Python API takes, parsed once, with the CLI's meaning.

``since`` is inclusive and ``until`` exclusive, both UTC, given as ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]``,
a ``datetime.date`` or a ``datetime.datetime``; a bare date in ``until`` includes that whole day, as
``netfreedom ingest --until`` does.  ``probe_cc`` is a country code (any case), ``probe_asn`` ``AS1234``,
``"1234"`` or ``1234``, ``test_name`` compares without case or underscores (``webconnectivity``),
``domain`` is matched on the normalised host of the measured URL (``www.`` and case dropped,
``evidence.model.host_sql``), ``category`` is a Citizen Lab code as the evidence model assigns it (the
country's own test list first, then the global ones).  ``category`` and ``test_name`` take one value or
several (any of them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from netfreedom.errors import InputError
from netfreedom.evidence.listing import Selection
from netfreedom.evidence.model import EPOCH, FAR, Window
from netfreedom.ingest.layout import normalise_test, parse_when

When = str | dt.date | dt.datetime | None
Many = str | Sequence[str] | None


def instant(value: When, *, end: bool = False) -> dt.datetime | None:
    """A filter bound as an aware UTC datetime (``end``: a bare date means the end of that day)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        value = value.isoformat()
    if not isinstance(value, str):
        raise InputError(f"not a date or time: {value!r}")
    return parse_when(value.strip(), end=end)


def asn(value: str | int | None) -> str | None:
    """``AS1234`` from ``AS1234``, ``as1234``, ``"1234"`` or ``1234``."""
    if value is None:
        return None
    text = str(value).strip().upper().removeprefix("AS")
    if not text.isdigit():
        raise InputError(f"not an ASN: {value!r} (use AS1234 or 1234)")
    return f"AS{int(text)}"


def many(value: Many) -> tuple[str, ...]:
    """One value or several, as a tuple (blanks dropped)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(v.strip() for v in value if v and v.strip())


@dataclass(frozen=True, slots=True)
class Filters:
    """Parsed filters (see the module docstring)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    probe_cc: str | None = None
    probe_asn: str | None = None
    test_name: tuple[str, ...] = ()
    domain: str | None = None
    category: tuple[str, ...] = ()
    input: str | None = None

    @classmethod
    def of(  # noqa: PLR0917  (the API methods pass their keyword filters on in order)
        cls,
        since: When = None,
        until: When = None,
        probe_cc: str | None = None,
        probe_asn: str | int | None = None,
        test_name: Many = None,
        domain: str | None = None,
        category: Many = None,
        input: str | None = None,
    ) -> Filters:
        out = cls(
            since=instant(since),
            until=instant(until, end=True),
            probe_cc=probe_cc.strip().upper() if probe_cc else None,
            probe_asn=asn(probe_asn),
            test_name=tuple(normalise_test(t) for t in many(test_name)),
            domain=domain.strip() if domain else None,
            category=tuple(c.upper() for c in many(category)),
            input=input,
        )
        if out.since and out.until and out.since >= out.until:
            raise InputError(f"since ({since}) must be before until ({until})")
        return out

    def window(self, period: str = "all") -> Window:
        """The evidence window: whole days from ``since`` up to ``until`` (a partial day counts whole)."""
        from netfreedom.evidence.model import Period

        since = self.since.astimezone(dt.UTC).date() if self.since else EPOCH
        until = FAR
        if self.until is not None:
            moment = self.until.astimezone(dt.UTC)
            until = moment.date() if moment.time() == dt.time(0) else moment.date() + dt.timedelta(days=1)
        try:
            return Window(since, until, Period(period))
        except ValueError as exc:
            known = ", ".join(p.value for p in Period)
            raise InputError(f"unknown period {period!r} (known: {known})") from exc

    def selection(self, *, outcome: str | None = None, confirmed: bool | None = None) -> Selection:
        """The stored rows these filters (and a verdict's ``outcome`` and ``confirmed``) select."""
        return Selection(
            since=self.since,
            until=self.until,
            probe_cc=self.probe_cc,
            probe_asn=self.probe_asn,
            tests=self.test_name,
            domain=self.domain,
            input=self.input,
            categories=self.category,
            outcome=outcome,
            confirmed=confirmed,
        )
