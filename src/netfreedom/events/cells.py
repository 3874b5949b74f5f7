"""Cells of event lists: header names → column roles, and dates in every form the lists use.

Lists differ from edition to edition (``end_date `` with a trailing space, ``Duration`` vs ``duration``,
``country `` ...), so columns are found by name, never by position: a header is normalised (case, spaces,
punctuation) and looked up in ``SYNONYMS``.  A user's ``--map ROLE=HEADER`` adds to that table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Roles a column can play, with the (normalised) header names that mean it, in order of preference.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "country": ("country", "country_name", "nation", "location_country"),
    "country_code": ("country_code", "iso2", "iso", "iso_code", "alpha_2", "cc", "probe_cc", "iso_3166"),
    "start": ("start_date", "start", "date_start", "start_day", "began", "from", "date"),
    "end": ("end_date", "end", "date_end", "end_day", "ended", "to"),
    "area": ("area_name", "area", "areas", "region", "regions", "location", "locations", "affected_area"),
    "scope": ("geo_scope", "scope", "geographic_scope", "affected_regions", "extent_geo"),
    "kind": ("shutdown_type_group", "shutdown_type", "shutdown_type_new", "type", "kind", "event_type"),
    "extent": ("shutdown_extent", "full_or_service_based", "extent"),
    "networks": ("affected_network", "affected_networks", "networks", "network", "services_affected"),
    "operators": ("telcos_involved", "isps", "isp", "operators", "telcos"),
    "services": (
        "affected_services",
        "services",
        "service_details",
        "other_service_details_specify",
        "other_affected",
        "platforms",
    ),
    "cause": ("actual_cause", "cause", "reason"),
    "links": ("info_source_link", "news_link", "link", "links", "source_link", "source_url", "url"),
    "an_link": ("an_link",),
    "description": ("event", "description", "notes", "details", "summary"),
    "status": ("shutdown_status", "status"),
}
# Columns ``<service>_affected`` holding yes/no (STOP): the service names they stand for.
SERVICE_FLAGS: dict[str, str] = {
    "facebook_affected": "Facebook",
    "twitter_affected": "Twitter",
    "whatsapp_affected": "WhatsApp",
    "instagram_affected": "Instagram",
    "telegram_affected": "Telegram",
    "sms_affected": "SMS",
    "phonecall_affected": "phone calls",
    "sms_and_phone_call_affected": "SMS and phone calls",
}
ROLES = frozenset(SYNONYMS)
# Roles whose several columns are all read (joined), not just the preferred one.
MULTI_ROLES = frozenset({"services", "links", "operators", "networks"})


def normalise_header(cell: Any) -> str:
    """``"End_Date "`` → ``end_date``; ``"other_service_details (specify) "`` →
    ``other_service_details_specify``."""
    text = str(cell if cell is not None else "").strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``--map ROLE=HEADER`` options → {role: normalised header}; unknown roles are an error."""
    from netfreedom.errors import InputError

    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            role, sep, header = part.partition("=")
            role = role.strip().lower()
            if not sep or not header.strip():
                raise InputError(f"--map wants ROLE=HEADER, got {part!r}")
            if role not in ROLES:
                raise InputError(f"--map: unknown role {role!r} (roles: {', '.join(sorted(ROLES))})")
            out[role] = normalise_header(header)
    return out


class Columns:
    """Where each role is in one header row: ``first[role]`` the preferred column, ``all[role]`` every
    column that means it (in order of preference), ``flags`` the service yes/no columns."""

    def __init__(self, header: Sequence[Any], mapping: Mapping[str, str] | None = None) -> None:
        names = [normalise_header(c) for c in header]
        self.names = names
        self.all: dict[str, list[int]] = {}
        for role, synonyms in SYNONYMS.items():
            wanted = ((mapping or {}).get(role), *synonyms) if mapping and role in mapping else synonyms
            found = [i for syn in wanted if syn for i, n in enumerate(names) if n == syn]
            if found:
                self.all[role] = list(dict.fromkeys(found))
        self.first = {role: cols[0] for role, cols in self.all.items()}
        self.flags = {i: SERVICE_FLAGS[n] for i, n in enumerate(names) if n in SERVICE_FLAGS}

    def usable(self) -> bool:
        """A header row: it names a country (or a country code) and a start date."""
        return ("country" in self.first or "country_code" in self.first) and "start" in self.first

    def missing(self) -> list[str]:
        need = []
        if "country" not in self.first and "country_code" not in self.first:
            need.append("country")
        if "start" not in self.first:
            need.append("start_date")
        return need


def find_header(rows: Sequence[Sequence[Any]], mapping: Mapping[str, str] | None = None) -> int | None:
    """Index of the first of ``rows`` that is a usable header row (see ``Columns.usable``), or None."""
    for i, row in enumerate(rows):
        if Columns(row, mapping).usable():
            return i
    return None


# -- dates ---------------------------------------------------------------------------------------------

_EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 date system (with its fictitious 1900-02-29)
_SERIAL_RANGE = (1, 2_958_465)  # 1900-01-01 .. 9999-12-31
_ONGOING = frozenset({"ongoing", "on going", "on-going", "continuing", "still ongoing", "present"})
_UNKNOWN = frozenset(
    {"", "unknown", "unkown", "n/a", "na", "none", "-", "--", "?", "tbd", "not known", "null", "nan"}
)
_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for m in names
}
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")  # a time after it is ignored
_NUMERIC = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})\b")
_DAY_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})\b")
_MONTH_DAY = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_SERIAL_TEXT = re.compile(r"^\d{4,7}(?:\.\d+)?$")


class DateCell:
    """A parsed date cell: ``value`` (None when empty or unknown), ``ongoing`` when the cell said so,
    ``problem`` when there was text that is not a date."""

    __slots__ = ("ongoing", "problem", "value")

    def __init__(self, value: dt.date | None, *, ongoing: bool = False, problem: str | None = None) -> None:
        self.value = value
        self.ongoing = ongoing
        self.problem = problem


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def excel_serial(n: float) -> dt.date | None:
    if not (_SERIAL_RANGE[0] <= n <= _SERIAL_RANGE[1]):
        return None
    return _EXCEL_EPOCH + dt.timedelta(days=int(n))


def parse_date(cell: Any) -> DateCell:
    """A date from a spreadsheet or CSV cell: a date/datetime, an Excel serial number (1900 system), or text
    — ISO ``YYYY-MM-DD`` (a time after it is ignored), ``D Month YYYY``, ``Month D, YYYY``, or numeric
    ``M/D/YYYY`` (US order, as Access Now writes it; ``D/M/YYYY`` when the first number cannot be a month,
    ``D.M.YYYY`` with dots).  Text after a leading date is ignored (``4/1/2018 upon CAF visit``)."""
    if cell is None:
        return DateCell(None)
    if isinstance(cell, dt.datetime):
        return DateCell(cell.date())
    if isinstance(cell, dt.date):
        return DateCell(cell)
    if isinstance(cell, bool):
        return DateCell(None, problem=f"not a date: {cell!r}")
    if isinstance(cell, (int, float)):
        serial = excel_serial(float(cell))
        return DateCell(serial) if serial else DateCell(None, problem=f"not a date: {cell!r}")
    text = " ".join(str(cell).split())
    low = text.lower().strip(" .")
    if low in _UNKNOWN:
        return DateCell(None)
    if low in _ONGOING or low.startswith("ongoing"):
        return DateCell(None, ongoing=True)
    value: dt.date | None = None
    if _SERIAL_TEXT.match(low):
        value = excel_serial(float(low))
    elif m := _ISO.match(low):
        value = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    elif m := _NUMERIC.match(low):
        a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        value = _safe_date(y, b, a) if sep == "." or a > 12 else _safe_date(y, a, b)
    elif m := _DAY_MONTH.match(low):
        month = _MONTHS.get(m.group(2))
        value = _safe_date(int(m.group(3)), month, int(m.group(1))) if month else None
    elif m := _MONTH_DAY.match(low):
        month = _MONTHS.get(m.group(1))
        value = _safe_date(int(m.group(3)), month, int(m.group(2))) if month else None
    if value is None:
        return DateCell(None, problem=f"not a date: {text[:80]!r}")
    return DateCell(value)
