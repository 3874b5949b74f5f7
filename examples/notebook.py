"""A worked example of the Python API, cell by cell as in a notebook (docs/python.md walks through it).

Build the example store first, then run this script on it::

    netfreedom build examples/fotn-2018 --mirror ../shared/data
    python examples/notebook.py examples/fotn-2018/build/netfreedom.duckdb --country IT --out charts/

It needs pandas (``pip install pandas``; the dev install has it) and writes a Vega-Lite chart of the blocked
share of URLs per month (open the ``.vl.json`` in https://vega.github.io/editor or any Vega-Lite viewer —
no plotting library is needed), then prints the index of 2018 joined with the measurement evidence.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import netfreedom


def blocked_share_chart(monthly: Any, country: str) -> dict[str, Any]:
    """A Vega-Lite spec: the blocked share per month with its interval (``monthly`` is a DataFrame of
    ``evidence(axis="country", period="month")``)."""

    def number(value: float) -> float | None:
        return None if math.isnan(value) else float(value)  # NaN (nothing tested) is not JSON

    values = [
        {
            "month": row.period,
            "blocked_share": number(row.blocked_share),
            "low": number(row.blocked_low),
            "high": number(row.blocked_high),
            "tested": int(row.tested),
        }
        for row in monthly.itertuples()
    ]
    x = {"field": "month", "type": "temporal", "timeUnit": "yearmonth", "title": "month"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"Blocked share of tested URLs per month, {country}",
        "data": {"values": values},
        "layer": [
            {
                "mark": "rule",
                "encoding": {"x": x, "y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"}},
            },
            {
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "blocked_share",
                        "type": "quantitative",
                        "title": "blocked share",
                        "scale": {"domain": [0, 1]},
                    },
                    "tooltip": [{"field": "month"}, {"field": "tested"}, {"field": "blocked_share"}],
                },
            },
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="the store (.duckdb) built from examples/fotn-2018")
    parser.add_argument("--country", default="IT", help="country for the monthly chart (default IT)")
    parser.add_argument("--year", type=int, default=2018, help="index edition to join (default 2018)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the chart")
    args = parser.parse_args(argv)

    # In [1]: open the store (read-only); every method returns a pyarrow.Table
    with netfreedom.open(args.store) as store:
        verdicts = store.verdicts()
        print(f"{verdicts.num_rows} verdicts in {store.path}")

        # In [2]: what was measured in one country
        measured = store.measurements(probe_cc=args.country).to_pandas()
        print(f"{len(measured)} measurements from {args.country}:")
        print(measured.groupby("test_name").size().to_string())

        # In [3]: blocked share per month for that country (the evidence model's url_blocking measure)
        monthly = store.evidence(axis="country", period="month", probe_cc=args.country).to_pandas()
        print(monthly[["period", "tested", "blocked", "blocked_share", "blocked_low", "blocked_high"]])
        args.out.mkdir(parents=True, exist_ok=True)
        chart = args.out / f"blocked-share-{args.country}.vl.json"
        chart.write_text(json.dumps(blocked_share_chart(monthly, args.country), indent=2) + "\n")
        print(f"chart: {chart}")

        # In [4]: join the index with the evidence in pandas
        index = store.index(args.year).to_pandas()
        evidence = store.evidence(axis="country", since="2000-01-01", until="2030-01-01").to_pandas()

    joined = index.merge(evidence, left_on="iso2", right_on="country", suffixes=("", "_evidence"))
    columns = ["iso2", "country", "total", "status", "rank", "tested", "blocked", "blocked_share"]
    print(f"{len(index)} countries in the {args.year} index, {len(joined)} with measurement evidence:")
    print(joined[columns].sort_values("rank").to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
