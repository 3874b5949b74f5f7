"""``test_blocking``: of the app, circumvention and middlebox tests run, how many found blocking.

The item is the test itself (``whatsapp``, ``tor``, ``http_invalid_request_line`` …): tested in a period when
it has a conclusive verdict there, blocked by the same majority rule as URLs.  Filter by ``kinds`` to get the
apps, circumvention tools or middleboxes alone.  Columns: see ``measures._items``.
"""

from __future__ import annotations

import pyarrow as pa

from netfreedom.evidence.measures._items import item_figures
from netfreedom.evidence.model import TEST_ITEM_KINDS, Axis, Measure, Query, Request, Source, register


def compute(query: Query, request: Request) -> pa.Table:
    return item_figures(query, request, TEST_ITEM_KINDS)


MEASURE = register(
    Measure(
        id="test_blocking",
        title="Blocked apps, circumvention tools and middleboxes",
        source=Source.RAW,
        axes=frozenset({Axis.COUNTRY, Axis.NETWORK, Axis.TEST, Axis.METHOD, Axis.KIND}),
        compute=compute,
        description="Tests without a URL (apps, circumvention, middleboxes) found blocked, per figure.",
    )
)
