"""CSV as the site's downloads and the API write it.

Measured URLs and network names come from untrusted measurements, and CSV files get opened in spreadsheets:
a cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) would be read as a formula.
Such text cells get a leading apostrophe (OWASP's advice); numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = "; ".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([cell(v) for v in row])
    return buf.getvalue()
