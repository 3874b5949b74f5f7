"""``url_blocking``: of the URLs tested by web tests, how many were blocked (and confirmed): site figures.

Only ``sites`` verdicts (web tests with a URL input) count: nothing without a URL is counted as a URL.
Columns: see ``measures._items``; with the ``network`` axis also ``network_name``.
"""

from __future__ import annotations

import pyarrow as pa

from netfreedom.evidence.measures._items import item_figures
from netfreedom.evidence.model import Axis, Kind, Measure, Query, Request, Source, register


def compute(query: Query, request: Request) -> pa.Table:
    return item_figures(query, request, (Kind.SITES,))


MEASURE = register(
    Measure(
        id="url_blocking",
        title="Blocked URLs (web tests)",
        source=Source.RAW,
        axes=frozenset(Axis),
        compute=compute,
        description="Tested URLs, blocked by the majority rule or a confirmed blockpage, per figure.",
    )
)
