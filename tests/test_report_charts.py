"""The site's small charts: the monthly timeline's time axis and its words."""

from __future__ import annotations

import re

from netfreedom.report.charts import MonthRow, plural, timeline


def _bars(svg: str) -> list[float]:
    return sorted({float(x) for x in re.findall(r'<rect class="[a-z]+" x="([\d.]+)"', svg)})


def test_timeline_has_a_true_time_axis() -> None:
    months = [
        MonthRow("2020-03", 1, 0, 1, 1, 0, 1),
        MonthRow("2020-04", 2, 2, 0, 0, 0, 1),
        MonthRow("2022-08", 2, 0, 1, 1, 1, 1),
    ]
    svg = str(timeline(months, width=720))
    first, second, third = _bars(svg)
    step = second - first  # one month
    assert step > 0
    # August 2022 is 29 months after March 2020: the gap shows as 28 empty slots.
    assert abs((third - first) - 29 * step) < 0.2
    assert ">2021<" in svg and ">2022<" in svg and ">Mar 2020<" in svg
    # Singular and plural in the tooltips.
    assert "Mar 2020: 1 measurement, 1 blocked (1 confirmed), 0 ok, 0 down, 1 network</title>" in svg
    assert "Apr 2020: 2 measurements," in svg


def test_short_timelines_label_months() -> None:
    svg = str(timeline([MonthRow("2018-11", 3, 3, 0, 0, 0, 2), MonthRow("2019-02", 1, 1, 0, 0, 0, 1)]))
    labels = re.findall(r'text-anchor="middle">([^<]+)<', svg)
    assert labels == ["Nov 2018", "Dec", "Jan 2019", "Feb"]


def test_plural() -> None:
    assert [plural(n, "network") for n in (0, 1, 2, 1000)] == [
        "0 networks",
        "1 network",
        "2 networks",
        "1,000 networks",
    ]


def test_month_span_is_the_timelines_axis() -> None:
    from netfreedom.report.charts import month_span

    rows = [MonthRow("2021-11", 1, 1, 0, 0, 0, 1), MonthRow("2022-02", 1, 1, 0, 0, 0, 1)]
    assert month_span(rows) == ["2021-11", "2021-12", "2022-01", "2022-02"]
    assert month_span([]) == []
